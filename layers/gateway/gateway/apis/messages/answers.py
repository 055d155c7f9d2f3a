"""Answers of translated models back in Anthropic's shapes: a chat completion as a ``message``, chunk deltas as
Anthropic's stream events (``EventEncoder``), and the adapter the routing core uses for such a target."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.apis.messages.schema import (
    MessagesCall,
)
from gateway.apis.messages.translate import to_chat
from gateway.providers import Adapter, StreamDecoder, Target, common
from gateway.providers.transport import UpstreamRequest

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


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


@dataclass(frozen=True)
class ChunkDelta:
    """One piece of a chat chunk, in the order an encoder meets it: ``reasoning`` or ``text`` (``text``), a
    ``tool_call`` delta (``call``), or the ``finish`` reason (``text``)."""

    kind: Literal["reasoning", "text", "tool_call", "finish"]
    text: str = ""
    call: dict[str, Any] = field(default_factory=dict)


def chunk_deltas(chunk: dict[str, Any]) -> Iterator[ChunkDelta]:
    """A chat chunk's non-empty deltas, choice by choice (the upstream's shapes are never trusted)."""
    for choice in chunk.get("choices") or []:
        delta = common.as_dict(common.as_dict(choice).get("delta"))
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            yield ChunkDelta("reasoning", reasoning)
        text = delta.get("content")
        if isinstance(text, str) and text:
            yield ChunkDelta("text", text)
        for call in delta.get("tool_calls") or []:
            yield ChunkDelta("tool_call", call=common.as_dict(call))
        reason = common.as_dict(choice).get("finish_reason")
        if isinstance(reason, str):
            yield ChunkDelta("finish", reason)


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
        for delta in chunk_deltas(chunk):
            if delta.kind == "reasoning":
                if self._open != "thinking":
                    events += self._open_block({"type": "thinking", "thinking": "", "signature": ""}, "thinking")
                events.append(_delta(self._index, {"type": "thinking_delta", "thinking": delta.text}))
            elif delta.kind == "text":
                if self._open != "text":
                    events += self._open_block({"type": "text", "text": ""}, "text")
                events.append(_delta(self._index, {"type": "text_delta", "text": delta.text}))
            elif delta.kind == "tool_call":
                events += self._tool_delta(delta.call)
            else:
                self._stop_reason = STOP_REASONS.get(delta.text, "end_turn")
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
    """Chat deltas -> another API's stream events (Anthropic's here, Responses' in ``apis.responses.events``)."""

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
