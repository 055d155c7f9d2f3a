"""Responses requests for models other than OpenAI's: translated onto the chat adapters and back.

``to_chat`` turns the conversation (earlier turns, ``instructions``, input items) and the parameters into the
gateway's internal chat request, so every chat adapter serves it with its own parameter rules (``params``);
the answer comes back as Responses output items (``items.to_output``) or, streamed, as the semantic events
(``events.EventEncoder``), through ``TranslatedAdapter``. An ``input_file`` with inline data becomes the chat
request's ``file`` part, which each adapter writes as its provider's own document input. What a translated
provider cannot take at all (built-in tools, OpenAI file ids, files by URL, OpenAI-only features) is a 400
naming the field; the routing codec uses the same translation to leave such providers out when another one
can serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.apis.chat.schema import ChatRequest
from gateway.apis.messages.answers import TranslatedDecoder
from gateway.apis.messages.translate import chat_request
from gateway.apis.responses.events import EventEncoder
from gateway.apis.responses.items import to_output
from gateway.apis.responses.schema import (
    Item,
    ResponsesCall,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)
from gateway.core.errors import BadRequest
from gateway.providers import Adapter, Target
from gateway.providers.transport import UpstreamRequest

# Fields only OpenAI's Responses API has: a translated provider is not a candidate when one is set.
OPENAI_ONLY = ("background", "conversation", "prompt", "context_management", "moderation", "max_tool_calls")
# Why a file id reaches OpenAI only.
FILE_ID_DETAIL = (
    "a file id names a file in OpenAI's Files store, which no other provider can read; "
    "send the file inline as file_data (an image as a data: URL)"
)
# Responses hints with no chat field: dropped off OpenAI and named in x-gateway-ignored-params.
RESPONSES_HINTS = ("include", "truncation", "prompt_cache_retention", "prompt_cache_options", "stream_options")


def _unsupported(model: str, param: str, detail: str) -> BadRequest:
    return BadRequest(
        f"{param} is not supported for {model} through /v1/responses ({detail}); OpenAI models take it",
        param=param,
        code="unsupported_parameter",
    )


def to_chat(call: ResponsesCall) -> ChatRequest:
    """The chat request a translated provider is asked (built once per call: routing, credit holds and every
    attempt read it)."""
    chat = call.memo.get("chat")
    if chat is None:
        chat = call.memo["chat"] = _chat_request(call)
    assert isinstance(chat, ChatRequest)
    return chat


def _chat_request(call: ResponsesCall) -> ChatRequest:
    request = call.request
    model = request.model
    for name in OPENAI_ONLY:
        if getattr(request, name) is not None:
            raise _unsupported(model, name, "an OpenAI Responses feature")
    if request.top_logprobs:
        raise _unsupported(model, "top_logprobs", "no token log probabilities")
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    for index, item in enumerate(call.conversation()):
        _append(messages, item, index, model)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.max_output_tokens is not None:
        body["max_completion_tokens"] = request.max_output_tokens
    for name in ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier", "metadata"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    for name in ("prompt_cache_key", "service_tier"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    _tools(request.tools, request.tool_choice, body, model)
    if request.text is not None:
        if request.text.verbosity is not None:
            body["verbosity"] = request.text.verbosity
        form = request.text.format
        if isinstance(form, TextFormatJsonSchema):
            spec: dict[str, Any] = {"name": form.name, "schema": form.schema_}
            if form.strict is not None:
                spec["strict"] = form.strict
            if form.description is not None:
                spec["description"] = form.description
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        elif isinstance(form, TextFormatJsonObject):
            body["response_format"] = {"type": "json_object"}
    if request.reasoning is not None and request.reasoning.effort is not None:
        body["reasoning_effort"] = request.reasoning.effort
    return chat_request(body, model)


def ignored_hints(call: ResponsesCall) -> tuple[str, ...]:
    """The Responses-only hints this request sets that a translated provider drops (fields the gateway does not
    know included)."""
    request = call.request
    names = [name for name in RESPONSES_HINTS if getattr(request, name) is not None]
    names += call.unknown_fields()
    if request.truncation == "disabled":
        names.remove("truncation")  # the default: nothing is dropped
    if request.reasoning is not None and (request.reasoning.summary or request.reasoning.generate_summary):
        names.append("reasoning.summary")
    return tuple(names)


def _append(messages: list[dict[str, Any]], item: Item, index: int, model: str) -> None:
    where = f"input.{index}"
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, where, model))
    elif kind == "function_call":
        call = {
            "id": _text_field(item, "call_id", where),
            "type": "function",
            "function": {"name": _text_field(item, "name", where), "arguments": item.get("arguments") or "{}"},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else _parts_text(output, f"{where}.output", model)
        messages.append({"role": "tool", "tool_call_id": _text_field(item, "call_id", where), "content": text})
    elif kind == "reasoning":
        return  # an earlier turn's reasoning is context for the model that produced it only
    else:
        raise _unsupported(model, where, f"{kind} items")


def _text_field(item: Item, name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{where}.{name}: a non-empty string is required", param=f"{where}.{name}")
    return value


def _message(item: Item, where: str, model: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise BadRequest(f"{where}.role: must be user, assistant, system or developer", param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content: a string or a list of parts is required", param=f"{where}.content")
    if role != "user":
        return {"role": role, "content": _parts_text(content, f"{where}.content", model)}
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "input_text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail") in ("auto", "low", "high"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            parts.append(_file_part(part, f"{where}.content.{j}", model))
        elif kind == "input_image" and part.get("file_id") is not None:
            raise _unsupported(model, f"{where}.content.{j}.file_id", FILE_ID_DETAIL)
        else:
            raise _unsupported(model, f"{where}.content.{j}", f"{kind} parts")
    return {"role": "user", "content": parts}


def _file_part(part: dict[str, Any], where: str, model: str) -> dict[str, Any]:
    """An ``input_file`` as the chat request's ``file`` part: inline data only (each adapter writes it as its
    provider's document input)."""
    if isinstance(part.get("file_data"), str):
        given = {"file_data": part["file_data"]}
        if part.get("filename") is not None:
            given["filename"] = part["filename"]
        return {"type": "file", "file": given}
    if part.get("file_id") is not None:
        raise _unsupported(model, f"{where}.file_id", FILE_ID_DETAIL)
    if part.get("file_url") is not None:
        raise _unsupported(model, f"{where}.file_url", "a file by URL: the gateway fetches nothing; send file_data")
    raise BadRequest(f"{where}: file_data, file_id or file_url is required", param=where)


def _parts_text(content: Any, where: str, model: str) -> str:
    """The text of output or input text parts (earlier assistant turns, tool outputs, instructions)."""
    if content is None:
        return ""
    if not isinstance(content, list):
        raise BadRequest(f"{where}: a string or a list of parts is required", param=where)
    pieces: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif kind == "refusal":
            continue
        else:
            raise _unsupported(model, f"{where}.{j}", f"{kind} parts")
    return "".join(pieces)


def _tools(tools: list[Item] | None, choice: Any, body: dict[str, Any], model: str) -> None:
    if tools:
        translated = []
        for index, tool in enumerate(tools):
            if tool.get("type") == "function":
                translated.append(_function(tool))
            elif tool.get("type") == "namespace" and isinstance(tool.get("tools"), list):
                # A namespace groups function tools (Codex's sub-agent tools): each is offered as a function, and a
                # call of one says its namespace again (``namespaces``).
                for j, inner in enumerate(tool["tools"]):
                    if not isinstance(inner, dict) or inner.get("type") != "function":
                        kind = inner.get("type") if isinstance(inner, dict) else None
                        raise _unsupported(model, f"tools.{index}.tools.{j}", f"built-in tool {kind}")
                    translated.append(_function(inner))
            else:
                raise _unsupported(model, f"tools.{index}", f"built-in tool {tool.get('type')}")
        body["tools"] = translated
    if choice is None:
        return
    if isinstance(choice, str):
        if tools:
            body["tool_choice"] = choice
        return
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        return
    raise _unsupported(model, "tool_choice", f"{choice.get('type')} choices")


def _function(tool: Item) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.get("name")}
    for name in ("description", "parameters", "strict"):
        if tool.get(name) is not None:
            function[name] = tool[name]
    return {"type": "function", "function": function}


def namespaces(call: ResponsesCall) -> dict[str, str]:
    """Function name -> the namespace tool that holds it, for the calls a translated model makes."""
    found: dict[str, str] = {}
    for tool in call.request.tools or []:
        if tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
            for inner in tool.get("tools") or []:
                if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                    found[inner["name"]] = tool["name"]
    return found


@dataclass(frozen=True)
class TranslatedAdapter:
    """The routing loop's Adapter surface for a Responses request to a non-OpenAI target, over a chat adapter.
    A non-streamed answer is ``{"output", "status", "incomplete_details", "usage"}`` (usage flat)."""

    chat: Adapter

    def build_request(self, call: ResponsesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        return self.chat.build_request(to_chat(call), target, stream=stream, timeout=timeout)

    def parse_response(self, call: ResponsesCall, target: Target, body: bytes) -> dict[str, Any]:
        return to_output(self.chat.parse_response(to_chat(call), target, body), namespaces(call))

    def stream_decoder(self, call: ResponsesCall, target: Target) -> TranslatedDecoder:
        return TranslatedDecoder(self.chat.stream_decoder(to_chat(call), target), EventEncoder(namespaces(call)))

    def error_message(self, status: int, body: bytes) -> str:
        return self.chat.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return self.chat.classify(status, body)
