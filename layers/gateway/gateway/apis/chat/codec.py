"""The chat side of the routing core: the provider adapters speak OpenAI shapes natively, so the chat codec only
says which offers honour the request, what an attempt may cost, and which decoded event commits a stream.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.billing import credits
from gateway.billing.usage import cost as usage_cost
from gateway.core.catalog import Endpoint, Offer
from gateway.core.errors import BadRequest
from gateway.providers import Target, adapter_for
from gateway.routing import capabilities, relay
from gateway.routing.attempt import Codec  # noqa: F401 - the protocol this implements

# Upstream answers that end the request: the request itself is wrong, another provider would say the same.


class ChatCodec:
    """Chat completions: the provider adapters speak OpenAI shapes natively."""

    api: Endpoint = "chat"
    measured = True

    def adapter(self, target: Target) -> Any:
        return adapter_for(target)

    def honouring(self, request: Any, offers: list[Offer]) -> list[Offer]:
        return capabilities.honouring(request, offers)

    def max_cost(self, offer: Offer, request: Any) -> Decimal:
        return credits.max_cost(offer, request)

    def shared_refusal(self, request: Any) -> BadRequest | None:
        return credits.chat_shared_refusal(request)

    def cost(self, offer: Offer, request: Any, usage: dict[str, int] | None) -> Decimal:
        return usage_cost(offer, usage)

    def prompt_cost(self, offer: Offer, request: Any) -> Decimal:
        return offer.cost(credits.prompt_token_bound(request), 0)

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        usage = answer.get("usage")
        return usage if isinstance(usage, dict) else None

    def commits(self, event: dict[str, Any]) -> bool:
        return relay.is_substantive(event)


CHAT = ChatCodec()
