"""The body of a streamed Messages answer: the committed attempt's Anthropic events -> SSE, as they arrive.

Claude targets' events pass through as the host sent them (only ``message_start``'s model is the one the client
named); translated targets' events come from ``answers.EventEncoder``. While the upstream is silent
the client gets Anthropic's own keep-alive, a ``ping`` event. Billing and the request record run in ``close()``
(``apis.settled_stream.SettledStream``), after the last byte, exactly as for chat. A break after the commit ends the
stream with one ``error`` event in Anthropic's shape (the SDKs raise it) and no ``message_stop``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gateway.apis.messages.schema import MessagesCall
from gateway.apis.settled_stream import Ended, SettledStream
from gateway.routing import relay

PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def sse(event: dict[str, Any]) -> bytes:
    """One Anthropic stream event: its type names the SSE event, its JSON is the data."""
    name = event.get("type", "message")
    return f"event: {name}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def commits(event: dict[str, Any]) -> bool:
    """Whether an Anthropic event commits the stream: content, a tool call, thinking, or the end of the message."""
    kind = event.get("type")
    if kind in ("content_block_delta", "message_stop"):
        return True
    if kind == "content_block_start":
        return (event.get("content_block") or {}).get("type") not in ("text", "thinking")
    return kind == "message_delta" and bool((event.get("delta") or {}).get("stop_reason"))


def _generated_chars(event: dict[str, Any]) -> int:
    delta = event.get("delta") if event.get("type") == "content_block_delta" else None
    if not isinstance(delta, dict):
        return 0
    return sum(len(delta.get(k) or "") for k in ("text", "partial_json", "thinking") if isinstance(delta.get(k), str))


class MessagesStream(SettledStream):
    """A Messages stream body: Anthropic's events as they arrive, ``ping`` while the upstream is silent."""

    keepalive = PING

    def __init__(
        self,
        *,
        live: relay.LiveStream,
        call: MessagesCall,
        provider: str,
        model: str,
        on_end: Callable[[Ended], None],
    ) -> None:
        self._call = call
        self._provider = provider
        self._model = model  # how the request named the model that served
        super().__init__(live, on_end)

    def encode(self, event: dict[str, Any]) -> bytes:
        if event.get("type") == "message_start":
            event = {**event, "message": {**(event.get("message") or {}), "model": self._model}}
        return sse(event)

    def generated_chars(self, event: dict[str, Any]) -> int:
        return _generated_chars(event)

    def error_event(self, failure: str) -> bytes:
        message = f"upstream stream from {self._provider} broke: {failure}"
        return sse({"type": "error", "error": {"type": "api_error", "message": message}})

    def prompt_chars(self) -> int:
        return len(json.dumps(self._call.body))
