"""Chat completions (``POST /v1/chat/completions``) on the routing core: ``complete`` runs ``routing.engine.serve``
with the chat codec and shapes what it returns into a ``chat.completion`` (or a committed stream of chunks).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.apis.chat import stream as chat_stream
from gateway.apis.chat.codec import CHAT
from gateway.apis.chat.schema import ChatRequest
from gateway.billing import usage
from gateway.data import accounts
from gateway.routing import capabilities
from gateway.routing.engine import route_headers, serve


@dataclass
class ChatResult:
    status: int
    body: str | Iterator[bytes]  # JSON text, or SSE bytes produced while they are sent (``close()`` it)
    content_type: str  # application/json or text/event-stream
    headers: dict[str, str]  # the x-gateway-* route headers
    ignored_params: tuple[str, ...] = ()  # hints the serving provider dropped (x-gateway-ignored-params)


def complete(snapshot: accounts.AccountSnapshot, request: ChatRequest, request_id: str) -> ChatResult:
    given = capabilities.given(request)  # before the upstream call: only the serving offer's dialect is left
    served = serve(snapshot, request, request_id, CHAT)
    planned, result, is_byok = served.planned, served.result, served.is_byok
    headers = route_headers(planned, served.attempts)
    ignored = capabilities.assess(request, planned.offer, given).ignored
    if result.live is not None and served.settle is not None:

        def public_usage(reported: dict[str, int]) -> dict[str, Any]:
            return usage.public(reported, is_byok=is_byok, cost=served.price(reported)[2])

        stream = chat_stream.ChatStream(
            live=result.live,
            request=request,
            request_id=request_id,
            provider=planned.provider,
            model=served.served_as,
            public_usage=public_usage,
            on_end=served.settle,
        )
        return ChatResult(200, stream, "text/event-stream", {**headers, "cache-control": "no-cache"}, ignored)
    body = dict(result.completion or {})
    body["id"] = body.get("id") or f"chatcmpl-{request_id}"
    body["model"] = served.served_as
    body["provider"] = planned.provider
    body["usage"] = usage.public(result.usage, is_byok=is_byok, cost=served.cost)
    return ChatResult(200, json.dumps(body, separators=(",", ":")), "application/json", headers, ignored)
