"""The body of a streamed chat answer: the committed attempt's chunk deltas -> ``chat.completion.chunk`` SSE
events, one event per delta, as they arrive.

``ChatStream`` is what ``StreamedResponse.body`` iterates. It never holds more than the event being encoded.
Billing and the request record run in ``close()``, which the server calls after the last byte has gone out
or when the client went away, so no AWS call sits between the upstream's first byte and the client's last,
and a client that disconnects still pays for (and sees in its logs) what was generated until then.

After the commit a break cannot fall back any more: the client gets one ``data: {"error": ...}`` event in the
OpenAI error shape and no ``[DONE]``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from gateway.apis.chat.schema import ChatRequest
from gateway.apis.settled_stream import Ended, SettledStream
from gateway.routing import relay

DONE = b"data: [DONE]\n\n"
KEEPALIVE_COMMENT = b": keep-alive\n\n"
CLIENT_GONE = "client disconnected before the end of the stream"
CLIENT_STALLED = "client did not read the stream before the request deadline"
CHARS_PER_TOKEN = 4  # the estimate used only when an upstream stream ended before reporting its usage


_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder: ``json.dumps`` with options builds one a call


def _data(payload: Any) -> bytes:
    return b"data: " + _JSON.encode(payload).encode() + b"\n\n"


def _delta_chars(delta: dict[str, Any]) -> int:
    """Characters of generated text in one delta (content, reasoning, tool names and arguments)."""
    total = 0
    for key, value in delta.items():
        if isinstance(value, str) and key != "role":
            total += len(value)
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    total += sum(len(v) for v in function.values() if isinstance(v, str))
    return total


def _with_role(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first chunk's choices, each delta saying it is the assistant's (as OpenAI's first chunk does)."""
    return [{**choice, "delta": {"role": "assistant", **(choice.get("delta") or {})}} for choice in choices]


class ChatStream(SettledStream):
    """The chat completion's stream body: ``chat.completion.chunk`` events, then ``[DONE]``."""

    keepalive = KEEPALIVE_COMMENT

    def __init__(
        self,
        *,
        live: relay.LiveStream,
        request: ChatRequest,
        request_id: str,
        provider: str,
        public_usage: Callable[[dict[str, int]], dict[str, Any]],
        on_end: Callable[[Ended], None],
        model: str | None = None,  # the model that served, as the request named it (default: ``model``)
    ) -> None:
        self._request = request
        self._public_usage = public_usage  # usage as the last chunk shows it, with is_byok and cost
        self._base = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model or request.model,
            "provider": provider,
        }
        # Every chunk opens with the same fields: encoded once, the bytes of ``{**base`` up to its ``choices``.
        self._opening = b"data: " + _JSON.encode(self._base)[:-1].encode() + b',"choices":'
        super().__init__(live, on_end)

    def encode(self, event: dict[str, Any]) -> bytes:
        first = self._chunks == 0
        choices = _with_role(event.get("choices") or []) if first else event.get("choices")
        if len(event) == 1 and "choices" in event and choices is not None:  # the choices alone, after the opening
            return self._opening + _JSON.encode(choices).encode() + b"}\n\n"
        chunk = {**self._base, **event}
        if first:
            chunk["choices"] = choices
        return _data(chunk)

    def generated_chars(self, event: dict[str, Any]) -> int:
        return sum(_delta_chars(choice.get("delta") or {}) for choice in event.get("choices") or [])

    def error_event(self, failure: str) -> bytes:
        message = f"upstream stream from {self._base['provider']} broke: {failure}"
        return _data(
            {"error": {"message": message, "type": "upstream_error", "code": "stream_interrupted", "param": None}}
        )

    def epilogue(self, usage: dict[str, int]) -> Iterable[bytes]:
        options = self._request.stream_options
        if options is not None and options.include_usage:
            yield _data({**self._base, "choices": [], "usage": self._public_usage(usage)})
        yield DONE

    def prompt_chars(self) -> int:
        return sum(len(json.dumps(m.model_dump(exclude_none=True))) for m in self._request.messages)
