"""Messages requests for models that do not speak Anthropic: translated onto the chat adapters and back.

``to_chat`` turns a Messages request into the gateway's internal chat request (so every chat adapter, with its
parameter rules, serves it); ``to_message`` turns the chat completion back into an Anthropic ``message``, and
``EventEncoder`` turns chat deltas into Anthropic's event stream as they arrive. What has no faithful
equivalent off Claude (documents, server tools, ``top_k``, Anthropic-only features) is a 400 naming the field,
never dropped; ``cache_control`` is a caching hint and is simply not needed where there is no prompt cache.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from gateway.errors import BadRequest
from gateway.messages_schema import (
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
from gateway.providers import Adapter, StreamDecoder, Target, common
from gateway.schemas import ChatRequest
from gateway.transport import UpstreamRequest

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
MAX_CHAT_STOP = 4
# Thinking budgets mapped onto reasoning effort where the chat request has it.
EFFORT_BUDGETS = ((4096, "low"), (16_384, "medium"))


def _unsupported(model: str, param: str, detail: str = "") -> BadRequest:
    suffix = f" ({detail})" if detail else ""
    return BadRequest(f"{param} is not supported for {model}, which is not a Claude model{suffix}", param=param)


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def to_chat(call: MessagesCall) -> ChatRequest:
    request = call.request
    assert isinstance(request, MessagesRequest)
    model = request.model
    anthropic_only = ("top_k", "container", "mcp_servers", "context_management", "output_config", "diagnostics")
    for name in (*anthropic_only, "inference_geo", "speed"):
        if getattr(request, name) is not None:
            raise _unsupported(model, name)
    messages: list[dict[str, Any]] = []
    if request.system:
        system = request.system if isinstance(request.system, str) else "".join(b.text for b in request.system)
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(request.messages):
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
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"cannot translate the request for {model}: {where}: {first['msg']}") from None


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
    if request.tools:
        tools = []
        for index, tool in enumerate(request.tools):
            if not tool.is_client_tool:
                raise _unsupported(request.model, f"tools.{index}", f"server tool {tool.type}")
            function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
            if tool.description:
                function["description"] = tool.description
            tools.append({"type": "function", "function": function})
        body["tools"] = tools
    choice = request.tool_choice
    if isinstance(choice, ToolChoiceNone):
        if request.tools:
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


def to_message(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic ``message`` from a chat completion (the chat adapters' answer shape)."""
    choice = common.as_dict((completion.get("choices") or [{}])[0])
    message = common.as_dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        # A non-Claude model's reasoning, shown as thinking; it carries no signature (nothing to verify).
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = common.as_dict(common.as_dict(call).get("function"))
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "toolu_" + secrets.token_hex(12),
                "name": function.get("name", ""),
                "input": _arguments(function.get("arguments")),
            }
        )
    reason = choice.get("finish_reason")
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(reason, "end_turn") if isinstance(reason, str) else "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def _arguments(arguments: Any) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except ValueError:
        value = {"_raw": arguments}
    return value if isinstance(value, dict) else {"_value": value}


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Chat usage in Anthropic's terms: cached prompt tokens are reported apart from ``input_tokens``."""
    prompt = common.int_field(usage, "prompt_tokens")
    cached = common.int_field(common.as_dict(common.as_dict(usage).get("prompt_tokens_details")), "cached_tokens")
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": common.int_field(usage, "completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


@dataclass
class EventEncoder:
    """Chat deltas -> Anthropic stream events, one block at a time, as they arrive."""

    model: str
    _id: str = field(default_factory=message_id)
    _index: int = -1
    _open: str | None = None  # "thinking", "text" or "tool"
    _tools: dict[int, int] = field(default_factory=dict)  # chat tool-call index -> content block index
    _stop_reason: str = "end_turn"
    _started: bool = False

    def chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._start()
        for choice in chunk.get("choices") or []:
            delta = common.as_dict(common.as_dict(choice).get("delta"))
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                if self._open != "thinking":
                    events += self._open_block({"type": "thinking", "thinking": "", "signature": ""}, "thinking")
                events.append(_delta(self._index, {"type": "thinking_delta", "thinking": reasoning}))
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open != "text":
                    events += self._open_block({"type": "text", "text": ""}, "text")
                events.append(_delta(self._index, {"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or []:
                events += self._tool_delta(common.as_dict(call))
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self._stop_reason = STOP_REASONS.get(reason, "end_turn")
        return events

    def finish(self, usage: dict[str, int] | None) -> list[dict[str, Any]]:
        events = self._start() + self._close_block()
        final = anthropic_usage(usage)
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                "usage": final,
            }
        )
        events.append({"type": "message_stop"})
        return events

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": anthropic_usage(None),
        }
        return [{"type": "message_start", "message": message}]

    def _tool_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = common.int_field(call, "index")
        function = common.as_dict(call.get("function"))
        if position not in self._tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or "toolu_" + secrets.token_hex(12),
                "name": function.get("name") or "",
                "input": {},
            }
            events += self._open_block(block, "tool")
            self._tools[position] = self._index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(_delta(self._tools[position], {"type": "input_json_delta", "partial_json": arguments}))
        return events

    def _open_block(self, block: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        events = self._close_block()
        self._index += 1
        self._open = kind
        return [*events, {"type": "content_block_start", "index": self._index, "content_block": block}]

    def _close_block(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        self._open = None
        return [{"type": "content_block_stop", "index": self._index}]


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


class ChunkEncoder(Protocol):
    """Chat deltas -> another API's stream events (Anthropic's here, Responses' in ``apis.responses.translate``)."""

    def chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]: ...

    def finish(self, usage: dict[str, int] | None) -> list[dict[str, Any]]: ...


@dataclass
class TranslatedDecoder:
    """A chat adapter's stream decoder, its deltas re-encoded as another API's events as they arrive."""

    chat: StreamDecoder
    encoder: ChunkEncoder

    @property
    def usage(self) -> dict[str, int] | None:
        return self.chat.usage

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [event for chunk in self.chat.feed(data) for event in self.encoder.chunk(chunk)]

    def close(self) -> list[dict[str, Any]]:
        events = [event for chunk in self.chat.close() for event in self.encoder.chunk(chunk)]
        return events + self.encoder.finish(self.chat.usage)


@dataclass(frozen=True)
class TranslatedAdapter:
    """The routing loop's Adapter surface for a Messages request to a non-Claude target, over a chat adapter."""

    chat: Adapter

    def build_request(self, call: MessagesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        return self.chat.build_request(to_chat(call), target, stream=stream, timeout=timeout)

    def parse_response(self, call: MessagesCall, target: Target, body: bytes) -> dict[str, Any]:
        return to_message(self.chat.parse_response(to_chat(call), target, body), call.model)

    def stream_decoder(self, call: MessagesCall, target: Target) -> TranslatedDecoder:
        return TranslatedDecoder(self.chat.stream_decoder(to_chat(call), target), EventEncoder(call.model))

    def error_message(self, status: int, body: bytes) -> str:
        return self.chat.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return self.chat.classify(status, body)
