"""The body of a streamed Messages answer: the committed attempt's Anthropic events -> SSE, as they arrive.

Claude targets' events pass through as the host sent them (only ``message_start``'s model is the one the client
named); translated targets' events come from ``answers.EventEncoder``. While the upstream is silent
the client gets Anthropic's own keep-alive, a ``ping`` event. Billing and the request record run in ``close()``
(``chat_stream.SettledStream``), after the last byte, exactly as for chat. A break after the commit ends the
stream with one ``error`` event in Anthropic's shape (the SDKs raise it) and no ``message_stop``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from gateway.apis.chat.stream import Ended, SettledStream, describe_failure, estimate_tokens
from gateway.apis.messages.schema import MessagesCall
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
    def __init__(
        self,
        *,
        live: relay.LiveStream,
        call: MessagesCall,
        provider: str,
        model: str,
        on_end: Callable[[Ended], None],
    ) -> None:
        self._live = live
        self._call = call
        self._provider = provider
        self._model = model  # how the request named the model that served
        self._on_end = on_end
        self._generated = 0
        self._chunks = 0
        self._ended = None
        self._settled = False
        self._events = self._sse()

    def _sse(self) -> Generator[bytes, None, None]:
        try:
            for event in self._live.deltas():
                if event is relay.KEEPALIVE:
                    yield PING
                    continue
                yield self._event(event)
        except Exception as exc:  # the upstream broke after the commit: no fallback any more
            self._ended = Ended(self._usage(), describe_failure(exc, self._live), self._chunks)
            message = f"upstream stream from {self._provider} broke: {self._ended.failure}"
            yield sse({"type": "error", "error": {"type": "api_error", "message": message}})
            return
        finally:
            self._live.close()
        self._ended = Ended(self._usage(), None, self._chunks)

    def _event(self, event: dict[str, Any]) -> bytes:
        if event.get("type") == "message_start":
            event = {**event, "message": {**(event.get("message") or {}), "model": self._model}}
        self._generated += _generated_chars(event)
        self._chunks += 1
        return sse(event)

    def _usage(self) -> dict[str, int]:
        """The upstream's usage, else an estimate: a stream cut short is still billed for what it produced."""
        reported = self._live.usage
        if reported is not None:
            return reported
        prompt = estimate_tokens(len(json.dumps(self._call.body)))
        completion = estimate_tokens(self._generated)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
