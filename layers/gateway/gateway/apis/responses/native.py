"""OpenAI models: the client's Responses body goes to OpenAI's own ``POST {base}/responses``.

Only the gateway's fields are taken out (routing, fallback models, ``previous_response_id``: the gateway sends
the stored conversation itself, whichever provider served the earlier turns) and the offer's model id put in;
everything else (reasoning items, ``encrypted_content``, ``include``, built-in tools) goes as the client wrote it.
Answers are checked and their usage noted; the events of a stream pass through as OpenAI sent them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.apis.responses.schema import GATEWAY_FIELDS, ResponsesCall
from gateway.providers import common, endpoints
from gateway.providers.base import AttemptFailed, Target, UnreadableResponse
from gateway.providers.openai_compat import OpenAICompatAdapter
from gateway.providers.transport import UpstreamRequest
from gateway.providers.wire.sse import SseEvent, SseParser
from gateway.security.credentials import ApiKeyCredentials

TERMINAL_EVENTS = ("response.completed", "response.incomplete")
_ERRORS = OpenAICompatAdapter("openai")


def is_native(target_slug: str) -> bool:
    """Whether a provider serves the Responses API itself (OpenAI's models on OpenAI)."""
    return target_slug == "openai"


def upstream_body(call: ResponsesCall, model_id: str, *, stream: bool) -> dict[str, Any]:
    body = {k: v for k, v in call.body.items() if k not in GATEWAY_FIELDS and k != "stream"}
    body["model"] = model_id
    if call.history:
        body["input"] = call.conversation()
    if stream:
        body["stream"] = True
    return body


def tokens(usage: Any) -> dict[str, int]:
    """Responses usage as the routing core counts it (``input_tokens`` includes the cached ones)."""
    details = common.as_dict(common.as_dict(usage).get("input_tokens_details"))
    output_details = common.as_dict(common.as_dict(usage).get("output_tokens_details"))
    return common.usage_dict(
        common.int_field(usage, "input_tokens"),
        common.int_field(usage, "output_tokens"),
        cached_tokens=common.int_field(details, "cached_tokens"),
        reasoning_tokens=common.int_field(output_details, "reasoning_tokens"),
    )


def answer_of(response: dict[str, Any]) -> dict[str, Any]:
    """The answer shape both Responses adapters give the routing core (usage flat), with OpenAI's response."""
    return {
        "upstream": response,
        "output": response.get("output") or [],
        "status": response.get("status") or "completed",
        "incomplete_details": response.get("incomplete_details"),
        "usage": tokens(response.get("usage")),
    }


@dataclass
class NativeDecoder:
    """OpenAI's Responses SSE -> its semantic events, checked; the final event's usage noted."""

    provider: str
    usage: dict[str, int] | None = None
    _sse: SseParser = field(default_factory=SseParser)
    _finished: bool = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [out for event in self._sse.feed(data) for out in self._event(event)]

    def close(self) -> list[dict[str, Any]]:
        events = [out for event in self._sse.close() for out in self._event(event)]
        if not self._finished:
            raise UnreadableResponse(f"{self.provider} stream ended before response.completed")
        return events

    def _event(self, event: SseEvent) -> list[dict[str, Any]]:
        if not event.data.strip() or event.data.strip() == "[DONE]":
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            raise UnreadableResponse(f"{self.provider} stream event is not JSON") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise UnreadableResponse(f"{self.provider} stream event has no type")
        kind = payload["type"]
        if kind == "error":
            code = payload.get("code")
            status = 429 if code == "rate_limit_exceeded" else 502
            raise AttemptFailed(f"{self.provider} reported an error mid-stream", status_code=status)
        if kind == "response.failed":
            raise AttemptFailed(f"{self.provider} reported the response failed", status_code=502)
        if kind in TERMINAL_EVENTS:
            self._finished = True
            self.usage = tokens(common.as_dict(payload.get("response")).get("usage"))
        return [payload]


@dataclass(frozen=True)
class NativeAdapter:
    """The routing loop's Adapter surface for a Responses request to OpenAI."""

    def build_request(self, call: ResponsesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        if not isinstance(target.credentials, ApiKeyCredentials):
            raise AttemptFailed(f"{target.provider} needs an API key credential")
        endpoints.model_segment(target.offer.model_id, allow_slash=True)
        url = f"{endpoints.base_url(target.provider)}/responses"
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "authorization": f"Bearer {target.credentials.api_key.get_secret_value()}",
        }
        body = upstream_body(call, target.offer.model_id, stream=stream)
        return UpstreamRequest("POST", url, headers, json.dumps(body, separators=(",", ":")).encode())

    def parse_response(self, call: ResponsesCall, target: Target, body: bytes) -> dict[str, Any]:
        data = common.load_json_object(body, target.provider)
        if data.get("object") != "response" or not isinstance(data.get("output"), list):
            raise UnreadableResponse(f"{target.provider} answer is not a response object")
        if data.get("status") == "failed":
            raise UnreadableResponse(f"{target.provider} reported the response failed")
        return answer_of(data)

    def stream_decoder(self, call: ResponsesCall, target: Target) -> NativeDecoder:
        return NativeDecoder(target.provider)

    def error_message(self, status: int, body: bytes) -> str:
        return _ERRORS.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return _ERRORS.classify(status, body)
