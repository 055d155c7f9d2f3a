"""Responses output items as a translated model's answer gives them: a chat completion's message, reasoning and
tool calls as ``output`` items (``to_output``), the response's ``status`` for a chat ``finish_reason``, and the
item shapes the stream events (``events``) build as they go."""

from __future__ import annotations

import secrets
from typing import Any

from gateway.providers import common


def item_id(prefix: str) -> str:
    return prefix + secrets.token_hex(24)


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(item_ident: str, text: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"id": item_ident, "type": "reasoning", "summary": summary}


def message_item(item_ident: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [output_text_part(text)] if status == "completed" else []
    return {"id": item_ident, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(
    item_ident: str, call_id: str, name: str, arguments: str, status: str, namespace: str | None = None
) -> dict[str, Any]:
    item = {
        "id": item_ident,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def text_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def status_of(finish_reason: Any) -> tuple[str, dict[str, str] | None]:
    """The response's ``status`` and ``incomplete_details`` for a chat ``finish_reason``."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def to_output(completion: dict[str, Any], spaces: dict[str, str] | None = None) -> dict[str, Any]:
    """``output``, ``status``, ``incomplete_details`` and flat ``usage`` of a chat completion."""
    choice = common.as_dict((completion.get("choices") or [{}])[0])
    message = common.as_dict(choice.get("message"))
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(item_id("rs_"), reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        output.append(message_item(item_id("msg_"), content))
    for call in message.get("tool_calls") or []:
        function = common.as_dict(common.as_dict(call).get("function"))
        call_id = text_or(call.get("id"), item_id("call_"))
        arguments = text_or(function.get("arguments"), "{}")
        name = text_or(function.get("name"), "")
        namespace = (spaces or {}).get(name)
        output.append(function_call_item(item_id("fc_"), call_id, name, arguments, "completed", namespace))
    status, details = status_of(choice.get("finish_reason"))
    usage = completion.get("usage")
    return {
        "output": output,
        "status": status,
        "incomplete_details": details,
        "usage": usage if isinstance(usage, dict) else None,
    }
