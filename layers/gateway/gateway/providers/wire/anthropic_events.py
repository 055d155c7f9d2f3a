"""Anthropic's stream events, however they arrive: one decoder for Anthropic, Vertex and Bedrock.

Anthropic and Vertex (``:streamRawPredict``) send ``text/event-stream``; Bedrock's InvokeModelWithResponseStream
sends AWS event-stream frames whose ``chunk`` events carry one base64-encoded Anthropic event each (the anthropic
SDK's Bedrock client decodes them the same way). Either way the result is the same sequence of event dicts,
checked, with the usage noted, and an ``error`` event failing the attempt with the status the fallback loop reads
on every path: ``rate_limit_error`` 429, ``overloaded_error`` 529 (a 5xx: it counts against the provider's health),
anything else 502. The chat adapter turns these events into chunk deltas; the Messages front door relays them.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gateway.providers import common
from gateway.providers.base import AttemptFailed, UnreadableResponse
from gateway.providers.wire import sse
from gateway.providers.wire.eventstream import EventStreamFrames
from gateway.providers.wire.sse import SseParser

EVENT_TYPES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
    }
)
# Anthropic's own error types: the only labels repeated in an error text (it reaches the client after a commit).
ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
    }
)
ERROR_STATUS = {"rate_limit_error": 429, "overloaded_error": 529, "timeout_error": 504}
BEDROCK_EXTRA_KEY = "amazon-bedrock-invocationMetrics"


def tokens(usage: Any) -> dict[str, int]:
    """Anthropic usage as the routing core counts it: every input token is a prompt token, the ones read from
    and written to the cache named apart (they are priced apart)."""
    read = common.int_field(usage, "cache_read_input_tokens")
    written = common.int_field(usage, "cache_creation_input_tokens")
    prompt = common.int_field(usage, "input_tokens") + read + written
    return common.usage_dict(
        prompt, common.int_field(usage, "output_tokens"), cached_tokens=read, cache_write_tokens=written
    )


class AnthropicEvents:
    """Bytes of one upstream stream -> Anthropic event dicts. ``usage`` is the flat usage so far (``tokens``),
    ``anthropic_usage`` Anthropic's own fields; ``close`` fails a stream that ended before ``message_stop``."""

    def __init__(self, provider: str, *, bedrock: bool = False) -> None:
        self.provider = provider
        self.usage: dict[str, int] | None = None
        self.anthropic_usage: dict[str, Any] = {}
        self.stopped = False
        self._frames = EventStreamFrames(provider) if bedrock else None
        self._sse = None if bedrock else SseParser()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self._frames is not None:
            return [out for headers, payload in self._frames.feed(data) for out in self._chunk(headers, payload)]
        assert self._sse is not None
        return [out for event in self._sse.feed(data) for out in self._text(event.data)]

    def close(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._frames is not None:
            self._frames.close()
        else:
            assert self._sse is not None
            events = [out for event in self._sse.close() for out in self._text(event.data)]
        if not self.stopped:
            raise UnreadableResponse(f"{self.provider} stream ended before message_stop")
        return events

    def _text(self, data: str) -> list[dict[str, Any]]:
        payload = sse.json_object(data, self.provider)
        return [] if payload is None else self._event(payload)

    def _chunk(self, headers: dict[str, Any], payload: bytes) -> list[dict[str, Any]]:
        if headers.get(":event-type") != "chunk":
            return []
        try:
            part = json.loads(payload)
            event = json.loads(base64.b64decode(common.as_dict(part).get("bytes") or "", validate=True))
        except (ValueError, binascii.Error):
            raise UnreadableResponse(f"{self.provider} stream chunk is not a base64 Anthropic event") from None
        return self._event(event)

    def _event(self, payload: Any) -> list[dict[str, Any]]:
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise UnreadableResponse(f"{self.provider} stream event is not an Anthropic event")
        kind = payload["type"]
        if kind == "error":
            error_type = common.as_dict(payload.get("error")).get("type")
            label = error_type if error_type in ERROR_TYPES else "error"
            raise AttemptFailed(
                f"{self.provider} reported {label} mid-stream", status_code=ERROR_STATUS.get(label, 502)
            )
        if kind not in EVENT_TYPES:
            return []  # an event type newer than this gateway: skipped, as the SDKs skip unknown events
        payload = {k: v for k, v in payload.items() if k != BEDROCK_EXTRA_KEY}
        if kind == "message_start":
            self.anthropic_usage = dict(common.as_dict(common.as_dict(payload.get("message")).get("usage")))
        elif kind == "message_delta":
            self.anthropic_usage.update(common.as_dict(payload.get("usage")))
        elif kind == "message_stop":
            self.stopped = True
        if kind in ("message_start", "message_delta"):
            self.usage = tokens(self.anthropic_usage)
        return [payload]
