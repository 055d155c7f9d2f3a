"""Embeddings on the routing core: the codec ``gateway.routing.engine.serve`` runs with, and the answer's shape.

Routing, BYOK-first order, fallback, health, deadline, credit holds and the request record are the core's; this
module says which offers can honour a request (token arrays, ``dimensions``, strict hints), what an attempt may
cost at most (its input tokens' upper bound at the offer's price), and shapes OpenAI's ``list`` of embeddings,
with ``encoding_format: base64`` as OpenAI's (little-endian float32).
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.apis.embeddings.adapters import BatchedAdapter, adapter_for
from gateway.apis.embeddings.adapters.base import Vector, to_base64
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.billing import usage
from gateway.core.catalog import Endpoint, Offer, get_catalog
from gateway.core.errors import BadRequest
from gateway.data import accounts
from gateway.providers import Target
from gateway.routing import engine

# Tokens an input may take beyond its own bytes (a tokenizer's start and end markers).
INPUT_FRAMING_TOKENS = 2
# Hints: forwarded where the wire format has the field, else dropped and named in x-gateway-ignored-params.
HINT_FAMILIES = {"user": frozenset({"openai"}), "task_type": frozenset({"gemini", "cohere-embed"})}


class EmbeddingsCodec:
    """Embeddings on the routing core: one attempt may be several upstream calls (a batch split at the
    provider's per-call limit); the hold and the bill are the input's tokens."""

    api: Endpoint = "embeddings"
    measured = True

    def adapter(self, target: Target) -> BatchedAdapter:
        return adapter_for(target)

    def honouring(self, request: EmbeddingsRequest, offers: list[Offer]) -> list[Offer]:
        """The offers that can serve ``request`` as asked; a 400 naming the field when none can."""
        model = get_catalog().model(request.model)
        spec = model.embedding if model is not None else None
        if request.dimensions is not None and spec is not None and not spec.supports(request.dimensions):
            sizes = (
                f"{spec.min_dimensions} to {spec.dimensions}"
                if spec.min_dimensions is not None
                else ", ".join(str(d) for d in sorted({*spec.dimension_choices, spec.dimensions}))
            )
            raise BadRequest(
                f"dimensions {request.dimensions} is not supported by {request.model}, which produces {sizes}",
                param="dimensions",
            )
        if request.tokens:
            offers = [offer for offer in offers if offer.token_input]
            if not offers:
                raise BadRequest(
                    f"input: token arrays are not supported by any provider of {request.model}; send text",
                    param="input",
                )
        if request.provider is not None and request.provider.require_parameters:
            offers = [offer for offer in offers if not ignored_params(request, offer)]
            if not offers:
                raise BadRequest(
                    f"no provider of {request.model} takes every parameter sent (provider.require_parameters is true)",
                    param="provider.require_parameters",
                )
        return offers

    def max_cost(self, offer: Offer, request: EmbeddingsRequest) -> Decimal:
        return offer.cost(prompt_token_bound(request), 0)

    def prompt_cost(self, offer: Offer, request: EmbeddingsRequest) -> Decimal:
        return self.max_cost(offer, request)  # the input is all an embedding call is billed for

    def cost(self, offer: Offer, request: EmbeddingsRequest, reported: dict[str, int] | None) -> Decimal:
        return usage.cost(offer, reported)

    def shared_refusal(self, request: EmbeddingsRequest) -> BadRequest | None:
        return None  # nothing an embedding call forwards costs more than its input

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        reported = answer.get("usage")
        return reported if isinstance(reported, dict) else None

    def commits(self, event: dict[str, Any]) -> bool:
        return True  # embeddings are never streamed


EMBEDDINGS = EmbeddingsCodec()


def prompt_token_bound(request: EmbeddingsRequest) -> int:
    """An upper bound of the input's tokens: a token covers at least one UTF-8 byte; token arrays count
    themselves; plus each input's framing."""
    total = 0
    for item in request.inputs():
        total += (
            len(item.encode("utf-8", "surrogatepass")) if isinstance(item, str) else len(item)
        ) + INPUT_FRAMING_TOKENS
    return total


def ignored_params(request: EmbeddingsRequest, offer: Offer) -> tuple[str, ...]:
    """The hints sent that ``offer``'s provider has no field for."""
    sent = {"user": request.user, "task_type": request.task_type}
    return tuple(name for name, value in sent.items() if value is not None and offer.family not in HINT_FAMILIES[name])


@dataclass
class EmbeddingsResult:
    body: str
    headers: dict[str, str]


def create(snapshot: accounts.AccountSnapshot, request: EmbeddingsRequest, request_id: str) -> EmbeddingsResult:
    served = engine.serve(snapshot, request, request_id, EMBEDDINGS)
    headers = engine.route_headers(served.planned, served.attempts)
    ignored = ignored_params(request, served.planned.offer)
    if ignored:
        headers["x-gateway-ignored-params"] = ",".join(ignored)
    vectors: list[Vector] = (served.result.completion or {}).get("vectors", [])
    encode = to_base64 if request.encoding_format == "base64" else array.tolist
    public = usage.public(served.result.usage, is_byok=served.is_byok, cost=served.cost)
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encode(vector)} for index, vector in enumerate(vectors)
        ],
        "model": served.served_as,
        "usage": {
            "prompt_tokens": public["prompt_tokens"],
            "total_tokens": public["prompt_tokens"],
            "is_byok": public["is_byok"],
            "cost": public["cost"],
        },
        "provider": served.planned.provider,
    }
    return EmbeddingsResult(json.dumps(body, separators=(",", ":")), headers)
