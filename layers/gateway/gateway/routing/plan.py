"""The attempt plan: which provider is tried with which credential, in what order. Pure: no I/O.

For each model of the request (``model``, then each fallback model in turn):

1. Candidates: the catalog's providers for the model, minus ``ignore``, restricted to ``only``, minus offers
   above ``max_price``; then ordered (``sorted_offers``): with ``sort`` cheapest, lowest recent time to first
   token or highest recent tokens per second first (unmeasured providers after the measured ones); without
   ``sort`` or ``order``, catalog order with shared providers that failed recently moved to the end. ``order``
   puts its providers first; the rest follow only while ``allow_fallbacks`` is true. Without ``order`` and with
   ``allow_fallbacks: false``, only the first candidate.
2. Every enabled BYOK key for each candidate, in candidate order (several keys per provider: oldest first);
   keys in their cooldown go after the customer's other keys for the model.
3. Then shared capacity for each candidate, except providers with an ``always_use`` BYOK key and except
   when the customer has no credits left.

What the gateway has recently seen (``RouteSignals``) is gathered by ``gateway.routing.signals``; it only ever
reorders, never removes, so when everything is unhealthy the plan still tries it all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from gateway.apis.chat.schema import MaxPrice, ProviderPreferences
from gateway.core.catalog import PROVIDERS, Endpoint, Model, Offer, get_catalog
from gateway.core.errors import BadRequest, GatewayError, NotFound, PaymentRequired
from gateway.data.byok_keys import StoredKey

# The path of each front door, for the answer naming where a model is served.
ENDPOINT_PATHS: dict[Endpoint, str] = {
    "chat": "chat/completions",
    "messages": "messages",
    "responses": "responses",
    "embeddings": "embeddings",
}

if TYPE_CHECKING:  # the attempt module needs this one's signals: a runtime import would be circular
    from gateway.routing.attempt import AttemptResult

Credential = Literal["byok", "shared"]
Route = tuple[str, str]  # (provider slug, catalog model id)


@dataclass(frozen=True)
class RouteSignals:
    """What the gateway has recently seen, as the plan uses it."""

    failed_shared: frozenset[Route] = frozenset()  # shared capacity that failed within HEALTH_WINDOW_S
    cooling_keys: frozenset[str] = frozenset()  # BYOK key ids in their cooldown
    ttft_ms: Mapping[Route, float] = field(default_factory=dict)  # recent mean time to first token
    tokens_per_s: Mapping[Route, float] = field(default_factory=dict)  # recent output tokens per second


NO_SIGNALS = RouteSignals()


@dataclass(frozen=True)
class PlannedAttempt:
    offer: Offer
    credential: Credential
    key: StoredKey
    model: str = ""  # catalog id of the model this attempt is for
    # Shared attempts: the account whose request this is, so the upstream request can name the customer's own
    # prompt-cache partition where the provider has one (customers on one shared key must not share a cache).
    cache_scope: str | None = None

    @property
    def provider(self) -> str:
        return self.offer.slug


def _check_slugs(prefs: ProviderPreferences) -> None:
    for name in ("order", "only", "ignore"):
        for slug in getattr(prefs, name):
            if slug not in PROVIDERS:
                raise BadRequest(
                    f"unknown provider in provider.{name}; expected one of {', '.join(PROVIDERS)}",
                    param=f"provider.{name}",
                    code="unknown_provider",
                )


def allowed_offers(model: Model, prefs: ProviderPreferences) -> list[Offer]:
    """The model's offers minus ``ignore``, restricted to ``only``, in catalog order."""
    offers = [o for o in model.providers if o.slug not in prefs.ignore]
    if prefs.only:
        offers = [o for o in offers if o.slug in prefs.only]
    return offers


def within_max_price(offers: list[Offer], max_price: MaxPrice | None) -> list[Offer]:
    """The offers whose list prices are at or below ``max_price`` (USD per million tokens)."""
    if max_price is None:
        return offers
    prompt = None if max_price.prompt is None else Decimal(str(max_price.prompt))
    completion = None if max_price.completion is None else Decimal(str(max_price.completion))
    return [
        o
        for o in offers
        if (prompt is None or o.pricing.prompt <= prompt) and (completion is None or o.pricing.completion <= completion)
    ]


def _measured_first(
    offers: list[Offer], model_id: str, measure: Mapping[Route, float], *, highest: bool
) -> list[Offer]:
    """Measured providers by ``measure`` (ties keep the given order), then the unmeasured in the given order."""
    measured = [o for o in offers if (o.slug, model_id) in measure]
    measured.sort(key=lambda o: -measure[o.slug, model_id] if highest else measure[o.slug, model_id])
    return measured + [o for o in offers if (o.slug, model_id) not in measure]


def sorted_offers(offers: list[Offer], model_id: str, prefs: ProviderPreferences, signals: RouteSignals) -> list[Offer]:
    """Candidates in the order ``sort`` asks for; without ``sort`` or ``order``, healthy shared capacity first."""
    if prefs.sort == "price":
        # Blended list price; ties keep catalog order (sorted is stable).
        return sorted(offers, key=lambda o: o.pricing.prompt + o.pricing.completion)
    if prefs.sort == "latency":
        return _measured_first(offers, model_id, signals.ttft_ms, highest=False)
    if prefs.sort == "throughput":
        return _measured_first(offers, model_id, signals.tokens_per_s, highest=True)
    if prefs.order:
        return offers
    healthy = [o for o in offers if (o.slug, model_id) not in signals.failed_shared]
    return healthy + [o for o in offers if (o.slug, model_id) in signals.failed_shared]


def ordered_offers(offers: list[Offer], prefs: ProviderPreferences) -> list[Offer]:
    """``order`` first, then the rest while ``allow_fallbacks``; without ``order`` and fallbacks, the first."""
    if prefs.order:
        by_slug = {o.slug: o for o in offers}
        head = [by_slug[s] for s in dict.fromkeys(prefs.order) if s in by_slug]
        tail = [o for o in offers if o.slug not in prefs.order] if prefs.allow_fallbacks else []
        return head + tail
    return offers if prefs.allow_fallbacks else offers[:1]


def candidate_offers(
    model: Model, prefs: ProviderPreferences | None, signals: RouteSignals = NO_SIGNALS
) -> list[Offer]:
    prefs = prefs or ProviderPreferences()
    _check_slugs(prefs)
    offers = within_max_price(allowed_offers(model, prefs), prefs.max_price)
    return ordered_offers(sorted_offers(offers, model.id, prefs, signals), prefs)


def byok_attempts(
    candidates: list[Offer],
    byok_keys: list[StoredKey],
    *,
    model_id: str = "",
    cooling: frozenset[str] = frozenset(),
    priority: str = "first",
) -> list[PlannedAttempt]:
    """Every enabled key of this ``priority`` that may serve ``model_id`` (its ``allowed_models``), for each
    candidate, in candidate order; keys in ``cooling`` after all the others."""
    enabled = [
        k
        for k in byok_keys
        if k.enabled and k.priority == priority and (k.allowed_models is None or model_id in k.allowed_models)
    ]
    attempts = [PlannedAttempt(o, "byok", k, model_id) for o in candidates for k in enabled if k.provider == o.slug]
    return [a for a in attempts if a.key.key_id not in cooling] + [a for a in attempts if a.key.key_id in cooling]


def shared_attempts(
    candidates: list[Offer],
    byok_keys: list[StoredKey],
    platform_keys: list[StoredKey],
    *,
    has_credits: bool,
    model_id: str = "",
) -> tuple[list[PlannedAttempt], bool]:
    """Shared-capacity attempts, and whether any were left out for lack of credits."""
    always_use = {k.provider for k in byok_keys if k.enabled and k.always_use}
    shared_by_provider = {k.provider: k for k in platform_keys if k.enabled}
    attempts: list[PlannedAttempt] = []
    excluded_for_credits = False
    for offer in candidates:
        platform_key = shared_by_provider.get(offer.slug)
        if offer.slug in always_use or platform_key is None:
            continue
        if not has_credits:
            excluded_for_credits = True
            continue
        attempts.append(PlannedAttempt(offer, "shared", platform_key, model_id))
    return attempts, excluded_for_credits


@dataclass(frozen=True)
class EmptyModelPlan:
    """Why one model of the request produced no attempt."""

    model: Model
    candidates: list[Offer]
    shared_excluded_for_credits: bool


def _empty_reason(empty: EmptyModelPlan, prefs: ProviderPreferences) -> tuple[str, str, str | None]:
    """(message, code, param) for a model with no attempt that credits would not fix."""
    if empty.candidates:
        return "no credentials available for the providers of this model", "no_credentials", None
    allowed = allowed_offers(empty.model, prefs)
    if allowed and prefs.max_price is not None:
        cheapest = min(allowed, key=lambda o: o.pricing.prompt + o.pricing.completion)
        asked = ", ".join(
            f"{name} {value:g}"
            for name, value in (("prompt", prefs.max_price.prompt), ("completion", prefs.max_price.completion))
            if value is not None
        )
        return (
            f"every provider of this model costs more than provider.max_price ({asked} USD per million tokens); "
            f"the cheapest is {cheapest.slug} at prompt {cheapest.pricing.prompt:f}, completion "
            f"{cheapest.pricing.completion:f}",
            "max_price_exceeded",
            "provider.max_price",
        )
    return (
        "no provider serves this model under the given provider.only / provider.ignore / order rules",
        "no_provider",
        "provider",
    )


def empty_plan_error(empties: list[EmptyModelPlan], prefs: ProviderPreferences | None) -> GatewayError:
    """The answer when no model of the request produced an attempt: 402 if credits would have given one."""
    prefs = prefs or ProviderPreferences()
    if any(e.shared_excluded_for_credits for e in empties):
        return PaymentRequired("no credits left and no usable BYOK key for this model; add credits or a key")
    reasons = [_empty_reason(e, prefs) for e in empties]
    message = (
        reasons[0][0]
        if len(reasons) == 1
        else "; ".join(f"{e.model.id}: {r[0]}" for e, r in zip(empties, reasons, strict=True))
    )
    _, code, param = reasons[0]
    return GatewayError(message, status=400, error_type="invalid_request_error", code=code, param=param)


def all_failed_error(results: list[AttemptResult]) -> GatewayError:
    last = results[-1].record
    if last.status_code == 429:
        status = 429
    elif last.outcome == "timeout":
        status = 504
    else:
        status = 502
    summary = "; ".join(
        f"{r.record.provider} {r.record.credential} {r.record.status_code or r.record.outcome}" for r in results
    )
    return GatewayError(
        f"all {len(results)} attempts failed: {summary}",
        status=status,
        error_type="upstream_error",
        code="all_attempts_failed",
        extra={
            "attempts": [
                {
                    "provider": r.record.provider,
                    "credential": r.record.credential,
                    "status_code": r.record.status_code,
                    "outcome": r.record.outcome,
                }
                for r in results
            ]
        },
    )


def insufficient_credits(needed: Decimal, api: Endpoint) -> PaymentRequired:
    amount = needed.quantize(Decimal("0.000001"), rounding=ROUND_UP)
    if api == "embeddings":  # nothing is generated: the hold is the input's tokens alone
        return PaymentRequired(
            f"insufficient credits: shared capacity needs up to ${amount} for this request (an upper bound of its "
            "input's tokens at the provider's prices) and the balance does not cover it; add credits, or send "
            "fewer or shorter inputs, which need less"
        )
    return PaymentRequired(
        f"insufficient credits: shared capacity needs up to ${amount} for this "
        "request (its prompt plus max_tokens, or the model's maximum output, at the provider's prices) and the "
        "balance does not cover it; add credits, or send a lower max_tokens, which needs less"
    )


class RoutedRequest(Protocol):
    """What the core reads of a request, whichever API it came through."""

    @property
    def model(self) -> str: ...

    @property
    def models(self) -> list[str] | None: ...

    @property
    def provider(self) -> ProviderPreferences | None: ...

    @property
    def stream(self) -> bool: ...

    def model_chain(self) -> list[str]: ...


def plan_models(request: RoutedRequest, api: Endpoint) -> list[Model]:
    """``model`` and its fallback models from the catalog, each once; 404 naming the field for an unknown one,
    400 naming it for a model this API does not serve (an embedding model sent to chat, or the reverse)."""
    models: list[Model] = []
    for index, model_id in enumerate(request.model_chain()):
        model = get_catalog().model(model_id)
        param = "model" if index == 0 else ("models" if request.models else "fallback_models")
        if model is None:
            raise NotFound(
                f"model {model_id!r} is not in the catalog; GET /v1/models lists them",
                code="model_not_found",
                param=param,
            )
        if api not in model.endpoints:
            served = ", ".join(f"/v1/{ENDPOINT_PATHS[e]}" for e in model.endpoints)
            raise BadRequest(
                f"model {model_id!r} is not served by this endpoint; it is served by {served}",
                code="model_not_supported",
                param=param,
            )
        if model not in models:
            models.append(model)
    return models


def model_names(request: RoutedRequest) -> dict[str, str]:
    """How the request named each model it may be served by (``model`` or one of ``models``; an alias stays an
    alias), by catalog id: the first name that resolves to it."""
    names: dict[str, str] = {}
    for name in request.model_chain():
        model = get_catalog().model(name)
        if model is not None:
            names.setdefault(model.id, name)
    return names
