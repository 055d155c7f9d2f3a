"""The Anthropic Messages API (``POST /v1/messages``, ``/v1/messages/count_tokens``) on the chat routing core.

Routing, BYOK-first order, fallback, deadline, credits and the request record are ``gateway.routing.engine.serve``; this
module is the Messages side of it: the ``Codec`` that sends Claude targets the client's Anthropic body as is
(``gateway.providers.claude``) and translates for other models (``gateway.apis.messages.translate``), the answer and
event-stream shapes, the ``x-gateway-*`` headers and Anthropic's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.apis.messages import stream as messages_stream
from gateway.apis.messages.answers import TranslatedAdapter
from gateway.apis.messages.schema import MessagesCall, MessagesRequest
from gateway.apis.messages.translate import ignored_fields, to_chat
from gateway.billing import credits, usage
from gateway.core.catalog import Endpoint, Offer
from gateway.core.errors import BadRequest, GatewayError
from gateway.data import accounts
from gateway.providers import Target, adapter_for, claude
from gateway.providers.wire import anthropic_events
from gateway.routing import capabilities
from gateway.routing import engine as chat

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

    api: Endpoint = "messages"
    measured = True

    def adapter(self, target: Target) -> Any:
        if claude.is_claude(target):
            return claude.ClaudeAdapter(target.provider)
        return TranslatedAdapter(adapter_for(target))

    def honouring(self, call: MessagesCall, offers: list[Offer]) -> list[Offer]:
        """Claude hosts take the Anthropic body as it is; other models' offers as the chat rules decide for the
        translated request (which is a 400 naming the field when something cannot be translated at all)."""
        if not isinstance(call.request, MessagesRequest) or all(claude.is_claude_offer(o) for o in offers):
            return offers  # counting tokens asks only Claude hosts; Claude hosts honour the whole body
        kept = set(capabilities.honouring(to_chat(call), [o for o in offers if not claude.is_claude_offer(o)]))
        return [o for o in offers if o in kept or claude.is_claude_offer(o)]

    def max_cost(self, offer: Offer, call: MessagesCall) -> Decimal:
        prompt, output = prompt_token_bound(call), output_token_bound(offer, call)
        if long_context(call) and prompt > LONG_CONTEXT_THRESHOLD:
            return offer.cost(prompt, 0) * LONG_CONTEXT_PROMPT + offer.cost(0, output) * LONG_CONTEXT_COMPLETION
        return offer.cost(prompt, output)

    def prompt_cost(self, offer: Offer, call: MessagesCall) -> Decimal:
        """What an attempt cut after its body was sent is billed: its prompt's bound, at the rates it was held at."""
        prompt = prompt_token_bound(call)
        if long_context(call) and prompt > LONG_CONTEXT_THRESHOLD:
            return offer.cost(prompt, 0) * LONG_CONTEXT_PROMPT
        return offer.cost(prompt, 0)

    def cost(self, offer: Offer, call: MessagesCall, reported: dict[str, int] | None) -> Decimal:
        """List price; with the 1M-context beta, a prompt past 200k tokens puts the whole request at the
        long-context rates (Anthropic's, Bedrock's and Vertex's pricing for the 1M context window)."""
        prompt, completion = usage.tokens(reported)
        if not (long_context(call) and prompt > LONG_CONTEXT_THRESHOLD):
            return usage.cost(offer, reported)
        flat = reported or {}
        input_cost = offer.cost(
            prompt,
            0,
            cached_tokens=int(flat.get("cached_tokens") or 0),
            cache_write_tokens=int(flat.get("cache_write_tokens") or 0),
        )
        return input_cost * LONG_CONTEXT_PROMPT + offer.cost(0, completion) * LONG_CONTEXT_COMPLETION

    def shared_refusal(self, call: MessagesCall) -> BadRequest | None:
        return shared_refusal(call)

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        return anthropic_events.tokens(answer.get("usage"))

    def commits(self, event: dict[str, Any]) -> bool:
        return messages_stream.commits(event)


MESSAGES = MessagesCodec()


class CountTokensCodec(MessagesCodec):
    """``count_tokens`` as requests of the routing core: only Claude targets, asked for their count. Counting is
    free upstream: no usage, no hold, nothing to bill, and nothing forwarded that shared capacity must refuse."""

    measured = False  # a count generates nothing: its speed says nothing of the model's

    def adapter(self, target: Target) -> Any:
        return claude.CountTokensAdapter(target.provider)

    def honouring(self, call: MessagesCall, offers: list[Offer]) -> list[Offer]:
        counting = [offer for offer in offers if claude.is_claude_offer(offer)]
        if offers and not counting:
            raise BadRequest(
                f"token counting is not available for {call.model}: none of its providers offers a token-counting "
                "endpoint (Anthropic, Amazon Bedrock and Google Vertex AI count for Claude models)",
                code="count_tokens_unsupported",
                param="model",
            )
        return counting

    def max_cost(self, offer: Offer, call: MessagesCall) -> Decimal:
        return Decimal(0)

    def prompt_cost(self, offer: Offer, call: MessagesCall) -> Decimal:
        return Decimal(0)

    def cost(self, offer: Offer, call: MessagesCall, reported: dict[str, int] | None) -> Decimal:
        return Decimal(0)

    def shared_refusal(self, call: MessagesCall) -> BadRequest | None:
        return None

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        return None


COUNT_TOKENS = CountTokensCodec()


def prompt_token_bound(call: MessagesCall) -> int:
    """An upper bound of the prompt's tokens, as ``credits.prompt_token_bound`` reckons a chat prompt: the body's
    UTF-8 size (base64 media counted apart, at an image's largest tiling each), plus framing and tools."""
    body = json.loads(json.dumps(call.body))
    media = _blank_media(body)
    size = credits.json_size(body)
    tools = credits.TOOLS_PROMPT_TOKENS if call.request.tools else 0
    return size + credits.BASE_PROMPT_TOKENS + tools + media * credits.IMAGE_PROMPT_TOKENS


def _blank_media(node: Any) -> int:
    """Empty every base64 ``source.data`` in place (images, PDFs); how many media there were (an image by URL
    or file id counts as one too: the upstream fetches it and bills it at its tiling)."""
    count = 0
    if isinstance(node, dict):
        source = node.get("source")
        if isinstance(source, dict) and source.get("type") == "base64" and "data" in source:
            source["data"] = ""
            count += 1
        elif isinstance(source, dict) and node.get("type") == "image":
            count += 1
        count += sum(_blank_media(value) for value in node.values())
    elif isinstance(node, list):
        count += sum(_blank_media(value) for value in node)
    return count


# Anthropic-defined tools the client runs itself (their definitions cost prompt tokens, which the body's size
# bounds); every other typed tool (web search, web fetch, code execution, tool search...) runs on Anthropic's
# side, billed per use and feeding results back as prompt tokens no bound of the request can foresee.
CLIENT_TOOL_TYPES = ("custom", "bash_", "text_editor_", "computer_", "memory_")
# The 1M-context beta: a request whose input passes 200k tokens is priced whole at the long-context rates, twice
# the input prices and one and a half times the output price. Held and settled at them (``MessagesCodec``).
LONG_CONTEXT_BETA = "context-1m"
LONG_CONTEXT_THRESHOLD = 200_000
LONG_CONTEXT_PROMPT = Decimal(2)
LONG_CONTEXT_COMPLETION = Decimal("1.5")


def long_context(call: MessagesCall) -> bool:
    return any(beta.startswith(LONG_CONTEXT_BETA) for beta in call.betas)


def shared_refusal(call: MessagesCall) -> BadRequest | None:
    """Why shared capacity must not serve ``call``, or None: what it forwards would be fetched, run or priced
    upstream beyond any hold (see ``credits.unpriced``)."""
    if not isinstance(call.request, MessagesRequest):
        return None  # counting tokens is free upstream: nothing to hold
    body = call.body
    if body.get("mcp_servers"):
        return credits.unpriced("mcp_servers", "mcp_servers (tools run by remote MCP servers)")
    if body.get("container") is not None:
        return credits.unpriced("container", "container (a code execution container)")
    for tool in body.get("tools") or []:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and not kind.startswith(CLIENT_TOOL_TYPES):
            return credits.unpriced("tools", f"the server tool {kind!r} (run and billed per use upstream)")
    source = _fetched_source(body.get("messages"))
    if source is not None:
        return credits.unpriced("messages", f"a {source} (its content is fetched upstream)")
    return None


def _fetched_source(node: Any) -> str | None:
    """The first content the upstream would fetch itself: a document by URL or file id, an uploaded file."""
    if isinstance(node, dict):
        kind, source = node.get("type"), node.get("source")
        if kind == "container_upload":
            return "container_upload block"
        if kind == "document" and isinstance(source, dict) and source.get("type") in ("url", "file"):
            return f"document with a {source['type']} source"
        return next((found for found in map(_fetched_source, node.values()) if found), None)
    if isinstance(node, list):
        return next((found for found in map(_fetched_source, node) if found), None)
    return None


def output_token_bound(offer: Offer, call: MessagesCall) -> int:
    ceiling = offer.max_output_tokens or credits.DEFAULT_OUTPUT_TOKENS
    asked = call.output_limit()
    return ceiling if asked is None else min(asked, ceiling)


def ignored_params(call: MessagesCall, offer: Offer) -> tuple[str, ...]:
    """What the serving offer dropped: nothing on a Claude host (it takes the body as is); on a translated model,
    the fields only Claude takes and the chat hints that model has no field for."""
    if claude.is_claude_offer(offer) or not isinstance(call.request, MessagesRequest):
        return ()
    hints = capabilities.assess(to_chat(call), offer).ignored
    return tuple(dict.fromkeys((*ignored_fields(call), *hints)))


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


def create(snapshot: accounts.AccountSnapshot, call: MessagesCall, request_id: str) -> MessagesResult:
    """The answer, routed by the chat core; ``x-gateway-*`` headers as for chat, plus ``x-gateway-cost``."""
    served = chat.serve(snapshot, call, request_id, MESSAGES)
    headers = chat.route_headers(served.planned, served.attempts)
    ignored = ignored_params(call, served.planned.offer)
    if ignored:
        headers["x-gateway-ignored-params"] = ",".join(ignored)
    result = served.result
    if result.live is not None and served.settle is not None:
        # A shared stream's cost is known only after its last byte (its log record has it); BYOK costs nothing
        # (beyond earlier shared attempts of a fallback model cut after sending).
        if served.is_byok:
            headers["x-gateway-cost"] = _usd(served.cut_cost)
        stream = messages_stream.MessagesStream(
            live=result.live, call=call, provider=served.planned.provider, model=served.served_as, on_end=served.settle
        )
        return MessagesResult(stream, "text/event-stream", {**headers, "cache-control": "no-cache"})
    headers["x-gateway-cost"] = _usd(served.cost)
    message = {**(result.completion or {}), "model": served.served_as}
    return MessagesResult(json.dumps(message, separators=(",", ":")), "application/json", headers)


def count_tokens(snapshot: accounts.AccountSnapshot, call: MessagesCall, request_id: str) -> dict[str, int]:
    """``{"input_tokens"}`` from the first attempt of the plan that can count for the model (Anthropic's and
    Vertex's count_tokens, Bedrock's CountTokens), BYOK first, through the routing core like any request: its
    attempts, fallback and record are those of ``/v1/messages``. Counting is free upstream: nothing is charged."""
    served = chat.serve(snapshot, call, request_id, COUNT_TOKENS)
    return {"input_tokens": (served.result.completion or {})["input_tokens"]}
