"""The Anthropic Messages API (``POST /v1/messages``, ``/v1/messages/count_tokens``) on the chat routing core.

Routing, BYOK-first order, fallback, deadline, credits and the request record are ``gateway.chat.serve``; this
module is the Messages side of it: the ``Codec`` that sends Claude targets the client's Anthropic body as is
(``gateway.providers.claude``) and translates for other models (``gateway.messages_translate``), the answer and
event-stream shapes, the ``x-gateway-*`` headers and Anthropic's error shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import httpx

from gateway import chat, credits, messages_stream, params, store, transport
from gateway.catalog import Offer
from gateway.errors import BadRequest, BrokenKey, GatewayError
from gateway.logs import redact
from gateway.messages_schema import MessagesCall, MessagesRequest
from gateway.messages_translate import TranslatedAdapter, to_chat
from gateway.providers import AttemptFailed, Target, UnreadableResponse, adapter_for, claude
from gateway.routing import TERMINAL_STATUSES
from gateway.settings import get_settings

# Anthropic's error type for each status the gateway answers with; the SDKs pick their exception class by status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class MessagesCodec:
    """Claude targets take the Anthropic body as is; every other target is reached through its chat adapter."""

    api: Literal["chat", "messages", "responses"] = "messages"

    def adapter(self, target: Target) -> Any:
        if claude.is_claude(target):
            return claude.ClaudeAdapter(target.provider)
        return TranslatedAdapter(adapter_for(target))

    def honouring(self, call: MessagesCall, offers: list[Offer]) -> list[Offer]:
        """Claude hosts take the Anthropic body as it is; other models' offers as the chat rules decide for the
        translated request (which is a 400 naming the field when something cannot be translated at all)."""
        if not isinstance(call.request, MessagesRequest) or all(claude.is_claude_offer(o) for o in offers):
            return offers  # counting tokens asks only Claude hosts; Claude hosts honour the whole body
        kept = set(params.honouring(to_chat(call), [o for o in offers if not claude.is_claude_offer(o)]))
        return [o for o in offers if o in kept or claude.is_claude_offer(o)]

    def max_cost(self, offer: Offer, call: MessagesCall) -> Decimal:
        return offer.cost(prompt_token_bound(call), output_token_bound(offer, call))

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        return claude.tokens(answer.get("usage"))

    def commits(self, event: dict[str, Any]) -> bool:
        return messages_stream.commits(event)


MESSAGES = MessagesCodec()


def prompt_token_bound(call: MessagesCall) -> int:
    """An upper bound of the prompt's tokens, as ``credits.prompt_token_bound`` reckons a chat prompt: the body's
    UTF-8 size (base64 media counted apart, at an image's largest tiling each), plus framing and tools."""
    body = json.loads(json.dumps(call.body))
    media = _blank_media(body)
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    tools = credits.TOOLS_PROMPT_TOKENS if call.request.tools else 0
    return size + credits.BASE_PROMPT_TOKENS + tools + media * credits.IMAGE_PROMPT_TOKENS


def _blank_media(node: Any) -> int:
    """Empty every base64 ``source.data`` in place (images, PDFs); how many there were."""
    count = 0
    if isinstance(node, dict):
        source = node.get("source")
        if isinstance(source, dict) and source.get("type") == "base64" and "data" in source:
            source["data"] = ""
            count += 1
        count += sum(_blank_media(value) for value in node.values())
    elif isinstance(node, list):
        count += sum(_blank_media(value) for value in node)
    return count


def output_token_bound(offer: Offer, call: MessagesCall) -> int:
    ceiling = offer.max_output_tokens or credits.DEFAULT_OUTPUT_TOKENS
    asked = call.output_limit()
    return ceiling if asked is None else min(asked, ceiling)


def error_body(error: GatewayError) -> dict[str, Any]:
    """Anthropic's error shape: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = ERROR_TYPES.get(error.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


@dataclass
class MessagesResult:
    body: str | Iterator[bytes]  # JSON text, or SSE bytes produced while they are sent (``close()`` it)
    content_type: str  # application/json or text/event-stream
    headers: dict[str, str]


def _usd(cost: Decimal) -> str:
    text = f"{cost:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def create(snapshot: store.AccountSnapshot, call: MessagesCall, request_id: str) -> MessagesResult:
    """The answer, routed by the chat core; ``x-gateway-*`` headers as for chat, plus ``x-gateway-cost``."""
    served = chat.serve(snapshot, call, request_id, MESSAGES)
    headers = chat.route_headers(served.planned, served.attempts)
    result = served.result
    if result.live is not None and served.settle is not None:
        # A shared stream's cost is known only after its last byte (its log record has it); BYOK costs nothing.
        if served.is_byok:
            headers["x-gateway-cost"] = "0"
        stream = messages_stream.MessagesStream(
            live=result.live, call=call, provider=served.planned.provider, model=served.served_as, on_end=served.settle
        )
        return MessagesResult(stream, "text/event-stream", {**headers, "cache-control": "no-cache"})
    headers["x-gateway-cost"] = _usd(served.cost)
    message = {**(result.completion or {}), "model": served.served_as}
    return MessagesResult(json.dumps(message, separators=(",", ":")), "application/json", headers)


def count_tokens(snapshot: store.AccountSnapshot, call: MessagesCall) -> dict[str, int]:
    """``{"input_tokens"}`` from the first provider of the plan that can count for the model (Anthropic's and
    Vertex's count_tokens, Bedrock's CountTokens), BYOK first. Counting is free upstream: nothing is charged."""
    deadline = time.monotonic() + get_settings().key_test_timeout_ms / 1000
    failures: list[str] = []
    counters = 0
    for planned in chat.planned_attempts(snapshot, call, MESSAGES):
        try:
            target = chat.target_for(planned)
        except BrokenKey:
            failures.append(f"{planned.provider} {planned.credential} broken key")
            continue
        if not claude.is_claude(target):
            continue
        counters += 1
        outcome = _count_once(call, target, deadline)
        if isinstance(outcome, int):
            return {"input_tokens": outcome}
        failures.append(f"{planned.provider} {planned.credential} {outcome}")
    if not counters:
        raise BadRequest(
            f"token counting is not available for {call.model}: none of its providers offers a token-counting "
            "endpoint (Anthropic, Amazon Bedrock and Google Vertex AI count for Claude models)",
            code="count_tokens_unsupported",
            param="model",
        )
    raise GatewayError(f"no provider could count tokens: {'; '.join(failures)}", status=502)


def _count_once(call: MessagesCall, target: Target, deadline: float) -> int | str:
    """The token count, or why this provider could not give it (terminal upstream rejections raise)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return "timeout"
    try:
        upstream = claude.build_count_request(call, target, timeout=remaining)
        response = transport.send(upstream, deadline - time.monotonic())
    except AttemptFailed as exc:
        return exc.message
    except httpx.TimeoutException:
        return "timeout"
    except httpx.TransportError:
        return "connection_error"
    if response.status_code in TERMINAL_STATUSES:
        adapter = claude.ClaudeAdapter(target.provider)
        detail = redact(adapter.error_message(response.status_code, response.content))
        raise GatewayError(
            f"{target.provider} rejected the request: {detail}", status=response.status_code, code="upstream_rejected"
        )
    if not 200 <= response.status_code < 300:
        return str(response.status_code)
    try:
        return claude.parse_count(target, response.content)
    except UnreadableResponse:
        return "unreadable response"
