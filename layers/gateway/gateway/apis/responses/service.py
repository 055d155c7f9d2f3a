"""The Responses API on the routing core: the codec, and what the function's routes do.

Routing, BYOK-first order, fallback models, health, deadline, credits and the request record are
``gateway.routing.engine.serve``; ``RESPONSES`` is the Responses side of it: OpenAI targets take the client's body
(``native``), every other target is reached through its chat adapter (``translate``). ``create`` shapes what
``serve`` returns into the ``response`` object (or its event stream), keeps it when it is stored, and names
the hints the serving provider dropped; ``retrieve``, ``input_items`` and ``delete`` read the store.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.apis.responses import native, stream
from gateway.apis.responses import store as responses_store
from gateway.apis.responses.schema import Item, ResponsesCall
from gateway.apis.responses.translate import TranslatedAdapter, ignored_hints, to_chat
from gateway.billing import credits, usage
from gateway.core.catalog import Endpoint, Offer
from gateway.core.errors import BadRequest
from gateway.core.observability import logger
from gateway.data import accounts as store
from gateway.providers import Target, adapter_for
from gateway.routing import capabilities
from gateway.routing import engine as chat

MAX_PAGE = 100


class ResponsesCodec:
    """OpenAI targets take the Responses body as is; every other target is reached through its chat adapter."""

    api: Endpoint = "responses"
    measured = True

    def adapter(self, target: Target) -> Any:
        if native.is_native(target.provider):
            return native.NativeAdapter()
        return TranslatedAdapter(adapter_for(target))

    def honouring(self, call: ResponsesCall, offers: list[Offer]) -> list[Offer]:
        """OpenAI honours the whole body; other offers as the chat rules decide for the translated request
        (with ``require_parameters``, the Responses-only hints they would drop rule them out too). When none
        of them can, the 400 names the parameter, unless OpenAI serves the model."""
        served_natively = [o for o in offers if native.is_native(o.slug)]
        translated = [o for o in offers if not native.is_native(o.slug)]
        if not translated:
            return offers
        try:
            strict = bool(call.provider and call.provider.require_parameters)
            hints = ignored_hints(call)
            if strict and hints:
                raise BadRequest(
                    f"{hints[0]} cannot be honoured by a translated provider, and provider.require_parameters is true",
                    param=hints[0],
                    code="unsupported_parameter",
                )
            kept = set(capabilities.honouring(to_chat(call), translated))
        except BadRequest:
            if served_natively:
                return served_natively
            raise
        return [o for o in offers if native.is_native(o.slug) or o in kept]

    def max_cost(self, offer: Offer, call: ResponsesCall) -> Decimal:
        if not native.is_native(offer.slug):
            return credits.max_cost(offer, to_chat(call))
        ceiling = offer.max_output_tokens or credits.DEFAULT_OUTPUT_TOKENS
        asked = call.output_limit()
        return offer.cost(prompt_token_bound(call), ceiling if asked is None else min(asked, ceiling))

    def prompt_cost(self, offer: Offer, call: ResponsesCall) -> Decimal:
        if not native.is_native(offer.slug):
            return offer.cost(credits.prompt_token_bound(to_chat(call)), 0)
        return offer.cost(prompt_token_bound(call), 0)

    def cost(self, offer: Offer, call: ResponsesCall, reported: dict[str, int] | None) -> Decimal:
        return usage.cost(offer, reported)

    def shared_refusal(self, call: ResponsesCall) -> BadRequest | None:
        """OpenAI's built-in tools run on OpenAI's side and are billed per use: no hold can price them."""
        for tool in call.body.get("tools") or []:
            kind = tool.get("type") if isinstance(tool, dict) else None
            if isinstance(kind, str) and kind not in ("function", "custom", "namespace"):
                return credits.unpriced("tools", f"the built-in tool {kind!r} (run and billed by OpenAI per use)")
        return None

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        reported = answer.get("usage")
        return reported if isinstance(reported, dict) else None

    def commits(self, event: dict[str, Any]) -> bool:
        return stream.commits(event)


RESPONSES = ResponsesCodec()


def prompt_token_bound(call: ResponsesCall) -> int:
    """An upper bound of the prompt's tokens, as ``credits.prompt_token_bound`` reckons a chat prompt: the
    conversation's UTF-8 size as JSON (images and files counted apart), plus framing and tools."""
    sent = json.loads(json.dumps({"input": call.conversation(), "instructions": call.request.instructions}))
    media = _blank_media(sent)
    size = len(json.dumps(sent, ensure_ascii=False, separators=(",", ":")).encode())
    tools = credits.TOOLS_PROMPT_TOKENS + len(json.dumps(call.request.tools)) if call.request.tools else 0
    return size + credits.BASE_PROMPT_TOKENS + tools + media * credits.IMAGE_PROMPT_TOKENS


def _blank_media(node: Any) -> int:
    """Empty every inline image or file of input parts in place; how many there were."""
    count = 0
    if isinstance(node, dict):
        for key in ("image_url", "file_data"):
            if node.get("type") in ("input_image", "input_file") and isinstance(node.get(key), str):
                node[key] = ""
                count += 1
        count += sum(_blank_media(value) for value in node.values())
    elif isinstance(node, list):
        count += sum(_blank_media(value) for value in node)
    return count


def public_usage(reported: dict[str, int] | None, *, is_byok: bool, cost: Decimal) -> dict[str, Any]:
    """Usage as the ``response`` object shows it, plus the gateway's ``is_byok`` and ``cost``."""
    reported = reported or {}
    prompt, completion = usage.tokens(reported)
    details: dict[str, int] = {"cached_tokens": int(reported.get("cached_tokens") or 0)}
    if reported.get("cache_write_tokens"):
        details["cache_write_tokens"] = int(reported["cache_write_tokens"])
    return {
        "input_tokens": prompt,
        "input_tokens_details": details,
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(reported.get("reasoning_tokens") or 0)},
        "total_tokens": prompt + completion,
        "is_byok": is_byok,
        "cost": float(cost),
    }


@dataclass
class ResponsesResult:
    body: str | Iterator[bytes]  # JSON text, or SSE bytes produced while they are sent (``close()`` it)
    content_type: str
    headers: dict[str, str]


def _shell(call: ResponsesCall, rid: str, model: str, provider: str, stored: bool) -> dict[str, Any]:
    request = call.request
    reasoning = request.reasoning
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "reasoning": {
            "effort": reasoning.effort if reasoning else None,
            "summary": reasoning.summary if reasoning else None,
        },
        "store": stored,
        "temperature": request.temperature,
        "text": call.body.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.tool_choice or "auto",
        "tools": request.tools or [],
        "top_p": request.top_p,
        "truncation": request.truncation or "disabled",
        "usage": None,
        "user": request.user,
        "metadata": request.metadata or {},
        "provider": provider,
    }


def create(snapshot: store.AccountSnapshot, call: ResponsesCall, request_id: str) -> ResponsesResult:
    """The answer, routed by the chat core; stored (one write, once the upstream has finished) unless
    ``store: false`` or ``RESPONSES_STORE=off``."""
    account_id = snapshot.account.account_id
    continuing = None
    if call.request.previous_response_id is not None:
        continuing = responses_store.continue_from(account_id, call.request.previous_response_id)
        call = ResponsesCall(call.request, call.body, continuing.history)
    served = chat.serve(snapshot, call, request_id, RESPONSES)
    planned, result = served.planned, served.result
    headers = chat.route_headers(planned, served.attempts)
    ignored = _ignored(call, planned.offer)
    if ignored:
        headers["x-gateway-ignored-params"] = ",".join(ignored)
    stored = call.request.store is not False and responses_store.enabled()
    rid = responses_store.response_id(request_id, continuing if stored else None)
    shell = _shell(call, rid, served.served_as, planned.provider, stored)

    def finalize(upstream: dict[str, Any], reported: dict[str, int]) -> dict[str, Any]:
        response = {
            **upstream,
            **shell,
            "status": upstream.get("status") or "completed",
            "incomplete_details": upstream.get("incomplete_details"),
            "output": upstream.get("output") or [],
            "usage": public_usage(reported, is_byok=served.is_byok, cost=served.price(reported)[2]),
        }
        if stored:
            try:
                responses_store.save(account_id, response, call.input_items(), planned.provider, continuing)
            except Exception as exc:  # the answer is generated and billed: deliver it, and say it was not kept
                logger.error("stored response write failed", extra={"error_type": type(exc).__name__})
                response["store"] = False
        return response

    if result.live is not None and served.settle is not None:
        body = stream.ResponsesStream(live=result.live, call=call, shell=shell, finalize=finalize, on_end=served.settle)
        return ResponsesResult(body, "text/event-stream", {**headers, "cache-control": "no-cache"})
    answer = result.completion or {}
    upstream = {**answer.get("upstream", {}), **{k: v for k, v in answer.items() if k != "upstream"}}
    response = finalize(upstream, result.usage or {})
    return ResponsesResult(json.dumps(response, separators=(",", ":")), "application/json", headers)


def _ignored(call: ResponsesCall, offer: Offer) -> tuple[str, ...]:
    if native.is_native(offer.slug):
        return ()
    return tuple(dict.fromkeys((*capabilities.assess(to_chat(call), offer).ignored, *ignored_hints(call))))


def retrieve(account_id: str, rid: str) -> dict[str, Any]:
    return responses_store.load(account_id, rid).response


def delete(account_id: str, rid: str) -> dict[str, Any]:
    responses_store.delete(account_id, rid)
    return {"id": rid, "object": "response", "deleted": True}


def input_items(
    account_id: str, rid: str, *, limit: int = 20, order: str = "desc", after: str | None = None
) -> dict[str, Any]:
    """OpenAI's list of a response's own input items (newest first by default), paged by item id."""
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc", param="order")
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}", param="limit")
    stored = responses_store.load(account_id, rid)
    items = [_with_id(rid, index, item) for index, item in enumerate(stored.input_items)]
    if order == "desc":
        items.reverse()
    if after is not None:
        position = next((i for i, item in enumerate(items) if item["id"] == after), None)
        if position is None:
            raise BadRequest(f"no input item {after!r} in this response", param="after")
        items = items[position + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }


def _with_id(rid: str, index: int, item: Item) -> Item:
    """An input item as OpenAI lists it: typed, with an id (stable: derived from the response and position)."""
    if isinstance(item.get("id"), str):
        return {"type": "message", **item} if "role" in item else item
    digest = hashlib.sha256(f"{rid}/{index}".encode()).hexdigest()[:32]
    kind = item.get("type", "message")
    prefix = {"message": "msg_", "function_call_output": "fco_", "function_call": "fc_"}.get(kind, "item_")
    shaped = {"type": kind, **item, "id": prefix + digest}
    if kind == "message" and isinstance(shaped.get("content"), str):
        part = "output_text" if shaped.get("role") == "assistant" else "input_text"
        shaped["content"] = [{"type": part, "text": shaped["content"]}]
    return shaped
