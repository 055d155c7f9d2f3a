"""Messages requests for models that do not speak Anthropic: translated onto the chat adapters and back.

``to_chat`` turns a Messages request into the gateway's internal chat request (so every chat adapter, with its
parameter rules, serves it); ``to_message`` turns the chat completion back into an Anthropic ``message``, and
``EventEncoder`` turns chat deltas into Anthropic's event stream as they arrive. Settings only Claude has
(``top_k``, ``context_management``, ``container``, ``mcp_servers``, ``output_config``, server tools, any field
newer than this gateway) are dropped and named by ``ignored_fields`` (the ``x-gateway-ignored-params`` header), as
Claude Code sends some of them with every request; ``system``-role turns join the system prompt. Content the model
would have to read and cannot (documents, server tool results, file sources) is a 400 naming it, never dropped;
``cache_control`` is a caching hint and is simply not needed where there is no prompt cache.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from gateway.apis.chat.schema import ChatRequest
from gateway.apis.messages.schema import (
    GATEWAY_FIELDS,
    ImageBlock,
    MessagesCall,
    MessagesRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingAdaptive,
    ThinkingBlock,
    ThinkingEnabled,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
)
from gateway.core.errors import BadRequest

MAX_CHAT_STOP = 4
# Thinking budgets mapped onto reasoning effort where the chat request has it.
EFFORT_BUDGETS = ((4096, "low"), (16_384, "medium"))


def _unsupported(model: str, param: str, detail: str = "") -> BadRequest:
    suffix = f" ({detail})" if detail else ""
    return BadRequest(f"{param} is not supported for {model}, which is not a Claude model{suffix}", param=param)


def ignored_fields(call: MessagesCall) -> tuple[str, ...]:
    """What a translated target drops from this request: fields only Claude takes, and server tools."""
    request = call.request
    extra = request.model_extra or {}
    names = [name for name in extra if name not in GATEWAY_FIELDS and name != "output_config"]
    output_config = extra.get("output_config")
    if isinstance(output_config, dict):  # its ``format`` is translated (structured output); the rest is Claude's
        names += [f"output_config.{key}" for key in output_config if not (key == "format" and _output_format(extra))]
    elif output_config is not None:
        names.append("output_config")
    if isinstance(request, MessagesRequest) and request.top_k is not None:
        names.append("top_k")
    names += [f"tools.{index}" for index, tool in enumerate(request.tools or []) if not tool.is_client_tool]
    return tuple(names)


def to_chat(call: MessagesCall) -> ChatRequest:
    request = call.request
    assert isinstance(request, MessagesRequest)
    model = request.model
    messages: list[dict[str, Any]] = []
    system = [_system_text(request.system)] if request.system else []
    system += [_system_text(m.content) for m in request.messages if m.role == "system"]
    if any(system):
        messages.append({"role": "system", "content": "\n\n".join(text for text in system if text)})
    for index, message in enumerate(request.messages):
        if message.role != "system":
            messages.extend(_messages(index, message.role, message.content, model))
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": request.max_tokens}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stop_sequences:
        if len(request.stop_sequences) > MAX_CHAT_STOP:
            raise _unsupported(model, "stop_sequences", f"at most {MAX_CHAT_STOP}")
        body["stop"] = list(request.stop_sequences)
    if request.metadata and request.metadata.user_id:
        body["user"] = request.metadata.user_id
    _tools(request, body)
    _thinking(request, body)
    schema = _output_format(request.model_extra or {})
    if schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": True},
        }
    return chat_request(body, model)


def chat_request(body: dict[str, Any], model: str) -> ChatRequest:
    """The internal chat request of a translated body; a part the chat request cannot hold is a 400 naming it
    (shared with ``apis.responses.translate``)."""
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"cannot translate the request for {model}: {where}: {first['msg']}") from None


def _output_format(extra: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema of Claude's structured output (``output_config.format``), which every chat model takes as
    ``response_format`` json_schema."""
    output_config = extra.get("output_config")
    found = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(found, dict) and found.get("type") == "json_schema" and isinstance(found.get("schema"), dict):
        return dict(found["schema"])
    return None


def _system_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.text for block in content if isinstance(block, TextBlock))


def _messages(index: int, role: str, content: Any, model: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    where = f"messages.{index}.content"
    if role == "assistant":
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for j, block in enumerate(content):
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ToolUseBlock):
                arguments = json.dumps(block.input, separators=(",", ":"))
                calls.append(
                    {"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}}
                )
            elif isinstance(block, ThinkingBlock | RedactedThinkingBlock):
                continue  # earlier turns' thinking is context for Claude only; Anthropic strips it too
            else:
                raise _unsupported(model, f"{where}.{j}", f"{block.type} blocks")
        assistant: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
        if calls:
            assistant["tool_calls"] = calls
        return [assistant]
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, f"{where}.{j}", model)}})
        elif isinstance(block, ToolResultBlock):
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": block.tool_use_id,
                    "content": _result_text(block, f"{where}.{j}", model),
                }
            )
        else:
            raise _unsupported(model, f"{where}.{j}", f"{block.type} blocks")
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _image_url(block: ImageBlock, where: str, model: str) -> str:
    source = block.source
    if source.type == "base64":
        return f"data:{source.media_type};base64,{source.data}"
    if source.type == "url":
        return source.url
    raise _unsupported(model, f"{where}.source", "file sources")


def _result_text(block: ToolResultBlock, where: str, model: str) -> str:
    content = block.content
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        pieces = []
        for k, part in enumerate(content):
            if not isinstance(part, TextBlock):
                raise _unsupported(model, f"{where}.content.{k}", f"{part.type} in tool results")
            pieces.append(part.text)
        text = "".join(pieces)
    return f"Error: {text}" if block.is_error else text


def _tools(request: MessagesRequest, body: dict[str, Any]) -> None:
    tools = []
    for tool in request.tools or []:
        if tool.is_client_tool:  # server tools are Claude's own: dropped (see ``ignored_fields``)
            function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
            if tool.description:
                function["description"] = tool.description
            tools.append({"type": "function", "function": function})
    if not tools:
        return
    body["tools"] = tools
    choice = request.tool_choice
    if isinstance(choice, ToolChoiceNone):
        body["tool_choice"] = "none"
        return
    if isinstance(choice, ToolChoiceAuto):
        body["tool_choice"] = "auto"
    elif isinstance(choice, ToolChoiceAny):
        body["tool_choice"] = "required"
    elif isinstance(choice, ToolChoiceTool):
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    if choice is not None and choice.disable_parallel_tool_use:
        body["parallel_tool_calls"] = False


def _thinking(request: MessagesRequest, body: dict[str, Any]) -> None:
    thinking = request.thinking
    if not isinstance(thinking, ThinkingEnabled | ThinkingAdaptive):
        return
    if "reasoning_effort" not in ChatRequest.model_fields:
        raise _unsupported(request.model, "thinking")
    if isinstance(thinking, ThinkingEnabled):
        body["reasoning_effort"] = next((e for limit, e in EFFORT_BUDGETS if thinking.budget_tokens <= limit), "high")
