"""The body of a streamed Responses answer: the committed attempt's semantic events -> SSE, as they arrive.

OpenAI's events pass through as OpenAI sent them; a translated target's come from ``translate.EventEncoder``.
Either way this body numbers them (``sequence_number`` from 0, the gateway's own), puts the gateway's
response object (its ``resp_`` id, the model as the request named it, the provider, usage with ``is_byok`` and
``cost``) into every event that carries one, and keeps the conversation when the response is stored: once
the upstream's last event is in, one write, before the final event goes out (so a client that continues at
once finds it). While the upstream is silent the client gets ``: keep-alive`` comments. A break after the
commit ends the stream with one ``response.failed`` event whose response carries the error. Billing and the
request record run in ``close()`` (``apis.settled_stream.SettledStream``), after the last byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gateway.apis.chat.stream import KEEPALIVE_COMMENT
from gateway.apis.responses.schema import ResponsesCall
from gateway.apis.settled_stream import Ended, SettledStream
from gateway.routing import relay

FINAL_EVENTS = ("response.completed", "response.incomplete")
Finalize = Callable[[dict[str, Any], dict[str, int]], dict[str, Any]]


def sse(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def commits(event: dict[str, Any]) -> bool:
    """Whether a Responses event commits the stream: generated text, arguments or reasoning, a tool call
    begun (built-in tools included), or the end of the response."""
    kind = event.get("type", "")
    if kind.endswith(".delta") or kind in FINAL_EVENTS:
        return True
    if kind == "response.output_item.added":
        return (event.get("item") or {}).get("type") not in ("message", "reasoning")
    return False


class ResponsesStream(SettledStream):
    """A Responses stream body: the semantic events, each with its ``sequence_number``; ``response.failed``
    after a break; the final event's response priced (and stored when asked) by ``finalize``."""

    keepalive = KEEPALIVE_COMMENT

    def __init__(
        self,
        *,
        live: relay.LiveStream,
        call: ResponsesCall,
        shell: dict[str, Any],
        finalize: Finalize,
        on_end: Callable[[Ended], None],
    ) -> None:
        self._call = call
        self._shell = shell  # the gateway's response object before any output (id, model, provider...)
        self._finalize = finalize  # the final response: usage priced, stored when asked; given the upstream's
        self._sequence = 0
        super().__init__(live, on_end)

    def encode(self, event: dict[str, Any]) -> bytes:
        upstream = event.get("response")
        if isinstance(upstream, dict):
            if event.get("type") in FINAL_EVENTS:
                response = self._finalize(upstream, self._usage())
            else:
                response = {**upstream, **self._shell, "status": upstream.get("status", "in_progress")}
                response["output"] = upstream.get("output") or []
            event = {**event, "response": response}
        return self._numbered(event)

    def generated_chars(self, event: dict[str, Any]) -> int:
        delta = event.get("delta")
        return len(delta) if isinstance(delta, str) else 0

    def error_event(self, failure: str) -> bytes:
        message = f"upstream stream from {self._shell['provider']} broke: {failure}"
        failed = {**self._shell, "status": "failed", "error": {"code": "stream_interrupted", "message": message}}
        return self._numbered({"type": "response.failed", "response": failed})

    def prompt_chars(self) -> int:
        return len(json.dumps(self._call.conversation()))

    def _numbered(self, event: dict[str, Any]) -> bytes:
        event = {**event, "sequence_number": self._sequence}
        self._sequence += 1
        return sse(event)
