"""The attempt plan: which provider is tried with which credential, in what order. Pure: no I/O.

1. Candidates: the catalog's providers for the model, minus ``ignore``, restricted to ``only``, in catalog
   order (cheapest first with ``sort: "price"``). ``order`` puts its providers first; the rest follow only while
   ``allow_fallbacks`` is true. Without ``order`` and with ``allow_fallbacks: false``, only the first candidate.
2. Every enabled BYOK key for each candidate, in candidate order (several keys per provider: oldest first).
3. Then shared capacity for each candidate, except providers with an ``always_use`` BYOK key and except
   when the customer has no credits left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.catalog import PROVIDERS, Model, Offer
from gateway.errors import BadRequest
from gateway.schemas import ProviderPreferences
from gateway.store import StoredKey

Credential = Literal["byok", "shared"]


@dataclass(frozen=True)
class PlannedAttempt:
    offer: Offer
    credential: Credential
    key: StoredKey

    @property
    def provider(self) -> str:
        return self.offer.slug


@dataclass
class Plan:
    attempts: list[PlannedAttempt] = field(default_factory=list)
    candidates: list[Offer] = field(default_factory=list)
    shared_excluded_for_credits: bool = False


def _check_slugs(prefs: ProviderPreferences) -> None:
    for name in ("order", "only", "ignore"):
        for slug in getattr(prefs, name):
            if slug not in PROVIDERS:
                raise BadRequest(
                    f"unknown provider in provider.{name}; expected one of {', '.join(PROVIDERS)}",
                    param=f"provider.{name}",
                    code="unknown_provider",
                )


def candidate_offers(model: Model, prefs: ProviderPreferences | None) -> list[Offer]:
    prefs = prefs or ProviderPreferences()
    _check_slugs(prefs)
    offers = [o for o in model.providers if o.slug not in prefs.ignore]
    if prefs.only:
        offers = [o for o in offers if o.slug in prefs.only]
    if prefs.sort == "price":
        # Blended list price; ties keep catalog order (sorted is stable).
        offers = sorted(offers, key=lambda o: o.pricing.prompt + o.pricing.completion)
    if prefs.order:
        by_slug = {o.slug: o for o in offers}
        head = [by_slug[s] for s in dict.fromkeys(prefs.order) if s in by_slug]
        tail = [o for o in offers if o.slug not in prefs.order] if prefs.allow_fallbacks else []
        return head + tail
    return offers if prefs.allow_fallbacks else offers[:1]


def byok_attempts(candidates: list[Offer], byok_keys: list[StoredKey]) -> list[PlannedAttempt]:
    enabled = [k for k in byok_keys if k.enabled]
    return [PlannedAttempt(o, "byok", k) for o in candidates for k in enabled if k.provider == o.slug]


def shared_attempts(
    candidates: list[Offer],
    byok_keys: list[StoredKey],
    platform_keys: list[StoredKey],
    *,
    has_credits: bool,
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
        attempts.append(PlannedAttempt(offer, "shared", platform_key))
    return attempts, excluded_for_credits


def build_plan(
    candidates: list[Offer],
    byok_keys: list[StoredKey],
    platform_keys: list[StoredKey],
    *,
    has_credits: bool,
) -> Plan:
    shared, excluded = shared_attempts(candidates, byok_keys, platform_keys, has_credits=has_credits)
    return Plan(
        attempts=byok_attempts(candidates, byok_keys) + shared,
        candidates=list(candidates),
        shared_excluded_for_credits=excluded,
    )
