"""Responses requests for models other than OpenAI's: translated onto the chat adapters and back.

``to_chat`` turns the conversation (earlier turns, ``instructions``, input items) and the parameters into the
gateway's internal chat request, so every chat adapter serves it with its own parameter rules (``params``);
``to_output`` turns the chat completion into Responses output items, and ``EventEncoder`` turns chat deltas
into the semantic stream events as they arrive. What a translated provider cannot take at all (built-in tools,
files, OpenAI-only features) is a 400 naming the field; the routing codec uses the same translation to leave
such providers out when another one can serve.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gateway.apis.chat.schema import ChatRequest
from gateway.apis.messages.answers import TranslatedDecoder
from gateway.apis.responses.schema import (
    Item,
    ResponsesCall,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)
from gateway.core.errors import BadRequest
from gateway.providers import Adapter, Target, common
from gateway.providers.transport import UpstreamRequest

# Fields only OpenAI's Responses API has: a translated provider is not a candidate when one is set.
OPENAI_ONLY = ("background", "conversation", "prompt", "context_management", "moderation", "max_tool_calls")
# Responses hints with no chat field: dropped off OpenAI and named in x-gateway-ignored-params.
RESPONSES_HINTS = ("include", "truncation", "prompt_cache_retention", "prompt_cache_options", "stream_options")


def _unsupported(model: str, param: str, detail: str) -> BadRequest:
    return BadRequest(
        f"{param} is not supported for {model} through /v1/responses ({detail}); OpenAI models take it",
        param=param,
        code="unsupported_parameter",
    )


def item_id(prefix: str) -> str:
    return prefix + secrets.token_hex(24)


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
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"cannot translate the request for {model}: {where}: {first['msg']}") from None


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
        elif kind == "input_image":
            raise _unsupported(model, f"{where}.content.{j}", "images by file_id")
        else:
            raise _unsupported(model, f"{where}.content.{j}", f"{kind} parts")
    return {"role": "user", "content": parts}


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


# --- answers -----------------------------------------------------------------------------------------------


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


def _text_or(value: Any, default: str) -> str:
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
        call_id = _text_or(call.get("id"), item_id("call_"))
        arguments = _text_or(function.get("arguments"), "{}")
        name = _text_or(function.get("name"), "")
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


@dataclass
class _Open:
    """One output item being streamed."""

    kind: str  # "reasoning", "message" or "function_call"
    index: int
    item: dict[str, Any]
    text: str = ""


@dataclass
class EventEncoder:
    """Chat deltas -> Responses semantic events, one output item at a time, as they arrive. The events carry no
    ``sequence_number`` and their ``response`` objects only what the chat answer knows: the stream body numbers
    them and completes the response object (id, model, usage)."""

    spaces: dict[str, str] = field(default_factory=dict)  # function name -> its namespace (``namespaces``)
    _started: bool = False
    _items: list[_Open] = field(default_factory=list)
    _open: _Open | None = None
    _tools: dict[int, _Open] = field(default_factory=dict)  # chat tool-call index -> its item
    _finish: Any = None

    def chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._start()
        for choice in chunk.get("choices") or []:
            delta = common.as_dict(common.as_dict(choice).get("delta"))
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                events += self._text("reasoning", reasoning)
            text = delta.get("content")
            if isinstance(text, str) and text:
                events += self._text("message", text)
            for call in delta.get("tool_calls") or []:
                events += self._tool_delta(common.as_dict(call))
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self._finish = reason
        return events

    def finish(self, usage: dict[str, int] | None) -> list[dict[str, Any]]:
        events = self._start() + self._close()
        status, details = status_of(self._finish)
        response = {
            "status": status,
            "incomplete_details": details,
            "output": [item.item for item in self._items],
            "usage": usage,
        }
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*events, {"type": kind, "response": response}]

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        shell: dict[str, Any] = {"status": "in_progress", "output": [], "usage": None}
        return [{"type": "response.created", "response": shell}, {"type": "response.in_progress", "response": shell}]

    def _text(self, kind: str, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        current = self._open
        if current is None or current.kind != kind:
            events += self._close()
            current = self._begin(kind, reasoning_item(item_id("rs_"), "") if kind == "reasoning" else None)
            events += self._added(current)
        current.text += text
        ids = {"item_id": current.item["id"], "output_index": current.index}
        if kind == "reasoning":
            events.append({"type": "response.reasoning_summary_text.delta", **ids, "summary_index": 0, "delta": text})
        else:
            events.append(
                {"type": "response.output_text.delta", **ids, "content_index": 0, "delta": text, "logprobs": []}
            )
        return events

    def _begin(self, kind: str, item: dict[str, Any] | None) -> _Open:
        if item is None:
            item = message_item(item_id("msg_"), "", "in_progress")
        opened = _Open(kind, len(self._items), item)
        self._items.append(opened)
        self._open = opened
        return opened

    def _added(self, opened: _Open) -> list[dict[str, Any]]:
        events = [{"type": "response.output_item.added", "output_index": opened.index, "item": dict(opened.item)}]
        ids = {"item_id": opened.item["id"], "output_index": opened.index}
        if opened.kind == "reasoning":
            part = {"type": "summary_text", "text": ""}
            events.append({"type": "response.reasoning_summary_part.added", **ids, "summary_index": 0, "part": part})
        elif opened.kind == "message":
            events.append(
                {"type": "response.content_part.added", **ids, "content_index": 0, "part": output_text_part("")}
            )
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = common.int_field(call, "index")
        function = common.as_dict(call.get("function"))
        opened = self._tools.get(position)
        if opened is None:
            events += self._close()
            call_id = _text_or(call.get("id"), item_id("call_"))
            name = _text_or(function.get("name"), "")
            item = function_call_item(item_id("fc_"), call_id, name, "", "in_progress", self.spaces.get(name))
            opened = self._begin("function_call", item)
            self._tools[position] = opened
            events += self._added(opened)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            opened.text += arguments
            events.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": opened.item["id"],
                    "output_index": opened.index,
                    "delta": arguments,
                }
            )
        return events

    def _close(self) -> list[dict[str, Any]]:
        """End the open item: its done events, and its final form kept for ``response.completed``."""
        current = self._open
        if current is None:
            return []
        self._open = None
        ids = {"item_id": current.item["id"], "output_index": current.index}
        events: list[dict[str, Any]] = []
        if current.kind == "reasoning":
            current.item = reasoning_item(current.item["id"], current.text)
            part = {"type": "summary_text", "text": current.text}
            events.append(
                {"type": "response.reasoning_summary_text.done", **ids, "summary_index": 0, "text": current.text}
            )
            events.append({"type": "response.reasoning_summary_part.done", **ids, "summary_index": 0, "part": part})
        elif current.kind == "message":
            current.item = message_item(current.item["id"], current.text)
            done = {"type": "response.output_text.done", **ids, "content_index": 0, "text": current.text}
            events.append({**done, "logprobs": []})
            part_done = {"type": "response.content_part.done", **ids, "content_index": 0}
            events.append({**part_done, "part": output_text_part(current.text)})
        else:
            item = current.item
            arguments = current.text or "{}"
            current.item = {**item, "status": "completed", "arguments": arguments}
            events.append(
                {"type": "response.function_call_arguments.done", **ids, "name": item["name"], "arguments": arguments}
            )
        events.append({"type": "response.output_item.done", "output_index": current.index, "item": current.item})
        return events


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
