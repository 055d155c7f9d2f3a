"""The attempt plan: BYOK endpoints first in candidate order, then shared capacity, per the contract."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from gateway.apis.chat.codec import CHAT
from gateway.apis.chat.schema import ChatRequest, ProviderPreferences
from gateway.core.catalog import Model, Offer, get_catalog
from gateway.core.errors import BadRequest, GatewayError, PaymentRequired
from gateway.data.accounts import Account, AccountSnapshot
from gateway.data.byok_keys import StoredKey
from gateway.routing import engine, signals
from gateway.routing.plan import PlannedAttempt, RouteSignals, candidate_offers
from gateway.security import credential_cache

CLAUDE = "anthropic/claude-sonnet-4.5"  # catalog order: anthropic, amazon-bedrock, google-vertex
GEMINI = "google/gemini-3-flash"  # catalog order: google-vertex, google-ai-studio


def model(model_id: str) -> Model:
    found = get_catalog().model(model_id)
    assert found is not None
    return found


def key(provider: str, key_id: str | None = None, **fields: object) -> StoredKey:
    return StoredKey.model_validate(
        {
            "account_id": "acct_0000000000000001",
            "key_id": key_id or f"key_{provider}",
            "provider": provider,
            "hint": "****abcd",
            "created_at": fields.pop("created_at", "2026-01-01T00:00:00.000Z"),
            "updated_at": "2026-01-01T00:00:00.000Z",
            "ciphertext": b"x",
            **fields,
        }
    )


def platform(*providers: str) -> list[StoredKey]:
    return [key(p, key_id=p, account_id="platform") for p in providers]


ALL_PLATFORM = platform("openai", "deepseek", "anthropic", "google-ai-studio", "amazon-bedrock", "google-vertex")


Plan = Callable[..., list[PlannedAttempt]]


@pytest.fixture
def plan(monkeypatch: pytest.MonkeyPatch) -> Plan:
    """The production plan (``engine.planned_attempts``) with its I/O replaced: the operator's platform keys and
    the routing signals (none: nothing failed recently) are injected."""
    platform_keys: list[list[StoredKey]] = [ALL_PLATFORM]
    monkeypatch.setattr(credential_cache, "platform_keys", lambda: platform_keys[0])
    monkeypatch.setattr(signals.RoutingState, "signals", lambda self, snap, wake=True: RouteSignals())

    def planned(
        keys: list[StoredKey],
        *,
        platform: list[StoredKey] = ALL_PLATFORM,
        credits: str = "10",
        provider: dict[str, Any] | None = None,
        model_id: str = CLAUDE,
    ) -> list[PlannedAttempt]:
        platform_keys[0] = platform
        account = Account(
            account_id="acct_0000000000000001", name="t", credits=Decimal(credits), created_at="2026-01-01T00:00:00Z"
        )
        body: dict[str, Any] = {"model": model_id, "messages": [{"role": "user", "content": "hi"}]}
        if provider is not None:
            body["provider"] = provider
        return list(
            engine.planned_attempts(AccountSnapshot(account=account, keys=keys), ChatRequest.model_validate(body), CHAT)
        )

    return planned


def steps(plan_attempts: list) -> list[tuple[str, str]]:
    return [(a.provider, a.credential) for a in plan_attempts]


def slugs(offers: list[Offer]) -> list[str]:
    return [o.slug for o in offers]


def test_candidates_follow_catalog_order_by_default() -> None:
    assert slugs(candidate_offers(model(CLAUDE), None)) == ["anthropic", "amazon-bedrock", "google-vertex"]


def test_order_puts_listed_providers_first_then_the_rest_in_catalog_order() -> None:
    prefs = ProviderPreferences(order=["google-vertex"])
    assert slugs(candidate_offers(model(CLAUDE), prefs)) == ["google-vertex", "anthropic", "amazon-bedrock"]


def test_order_without_fallbacks_uses_only_the_listed_providers() -> None:
    prefs = ProviderPreferences(order=["google-vertex", "amazon-bedrock"], allow_fallbacks=False)
    assert slugs(candidate_offers(model(CLAUDE), prefs)) == ["google-vertex", "amazon-bedrock"]


def test_no_order_without_fallbacks_uses_the_first_candidate_only() -> None:
    prefs = ProviderPreferences(allow_fallbacks=False)
    assert slugs(candidate_offers(model(CLAUDE), prefs)) == ["anthropic"]


def test_ignore_and_only_filter_candidates() -> None:
    assert slugs(candidate_offers(model(CLAUDE), ProviderPreferences(ignore=["anthropic"]))) == [
        "amazon-bedrock",
        "google-vertex",
    ]
    only = ProviderPreferences(only=["google-vertex", "anthropic"])
    assert slugs(candidate_offers(model(CLAUDE), only)) == ["anthropic", "google-vertex"]
    both = ProviderPreferences(only=["google-vertex", "anthropic"], ignore=["anthropic"])
    assert slugs(candidate_offers(model(CLAUDE), both)) == ["google-vertex"]


def test_order_naming_an_ignored_provider_does_not_bring_it_back() -> None:
    prefs = ProviderPreferences(order=["anthropic", "google-vertex"], ignore=["anthropic"])
    assert slugs(candidate_offers(model(CLAUDE), prefs)) == ["google-vertex", "amazon-bedrock"]


def test_sort_by_price_puts_the_cheapest_first() -> None:
    prefs = ProviderPreferences(sort="price")
    assert slugs(candidate_offers(model("deepseek/deepseek-v3.2"), prefs)) == ["deepseek", "google-vertex"]
    reordered = ProviderPreferences(sort="price", order=["google-vertex"])
    assert slugs(candidate_offers(model("deepseek/deepseek-v3.2"), reordered)) == [
        "google-vertex",
        "deepseek",
    ]


def test_unknown_provider_slug_is_a_400_naming_the_field() -> None:
    with pytest.raises(BadRequest) as err:
        candidate_offers(model(CLAUDE), ProviderPreferences(order=["bedrock"]))
    assert err.value.param == "provider.order"


def test_contract_example_keys_for_all_three(plan: Plan) -> None:
    prefs = {"order": ["amazon-bedrock", "google-vertex", "anthropic"]}
    keys = [key("anthropic"), key("google-vertex"), key("amazon-bedrock")]
    assert steps(plan(keys, provider=prefs)) == [
        ("amazon-bedrock", "byok"),
        ("google-vertex", "byok"),
        ("anthropic", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
        ("anthropic", "shared"),
    ]


def test_contract_example_key_only_for_vertex(plan: Plan) -> None:
    prefs = {"order": ["amazon-bedrock", "google-vertex"], "allow_fallbacks": False}
    assert steps(plan([key("google-vertex")], provider=prefs)) == [
        ("google-vertex", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
    ]


def test_contract_example_extended_a_key_placed_after_shared_comes_after_every_shared_attempt(plan: Plan) -> None:
    # The first example, with the vertex key as an OpenRouter "fallback" key.
    prefs = {"order": ["amazon-bedrock", "google-vertex", "anthropic"]}
    keys = [key("anthropic"), key("google-vertex", priority="after_shared"), key("amazon-bedrock")]
    assert steps(plan(keys, provider=prefs)) == [
        ("amazon-bedrock", "byok"),
        ("anthropic", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
        ("anthropic", "shared"),
        ("google-vertex", "byok"),
    ]


def test_contract_example_extended_a_key_after_shared_serves_without_credits(plan: Plan) -> None:
    # The second example with no credits: shared capacity drops out, the fallback key is the whole plan.
    prefs = {"order": ["amazon-bedrock", "google-vertex"], "allow_fallbacks": False}
    keys = [key("google-vertex", priority="after_shared")]
    assert steps(plan(keys, provider=prefs, credits="0")) == [("google-vertex", "byok")]


def test_contract_example_extended_a_key_restricted_to_other_models_is_not_planned(plan: Plan) -> None:
    prefs = {"order": ["amazon-bedrock", "google-vertex", "anthropic"]}
    keys = [
        key("anthropic"),
        key("google-vertex", allowed_models=[GEMINI]),
        key("amazon-bedrock", allowed_models=[CLAUDE]),
    ]
    assert steps(plan(keys, provider=prefs)) == [
        ("amazon-bedrock", "byok"),
        ("anthropic", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
        ("anthropic", "shared"),
    ]
    assert steps(plan(keys, model_id=GEMINI)) == [
        ("google-vertex", "byok"),
        ("google-vertex", "shared"),
        ("google-ai-studio", "shared"),
    ]


def test_vertex_provisioned_throughput_key_for_gemini(plan: Plan) -> None:
    pt_key = key("google-vertex", provisioned_throughput=True)
    attempts = plan([pt_key], model_id=GEMINI)
    assert steps(attempts) == [
        ("google-vertex", "byok"),
        ("google-vertex", "shared"),
        ("google-ai-studio", "shared"),
    ]
    assert attempts[0].key.provisioned_throughput is True
    assert attempts[1].key.provisioned_throughput is False


def test_several_keys_per_provider_are_all_tried_oldest_first(plan: Plan) -> None:
    newer = key("anthropic", key_id="key_b", created_at="2026-02-01T00:00:00.000Z")
    older = key("anthropic", key_id="key_a", created_at="2026-01-01T00:00:00.000Z")
    # store.load_account returns keys oldest first
    keys = sorted([newer, older], key=lambda k: (k.created_at, k.key_id))
    assert [(a.key.key_id, a.credential) for a in plan(keys, platform=platform("anthropic"))] == [
        ("key_a", "byok"),
        ("key_b", "byok"),
        ("anthropic", "shared"),
    ]


def test_disabled_keys_are_not_tried(plan: Plan) -> None:
    assert ("anthropic", "byok") not in steps(plan([key("anthropic", enabled=False)]))


def test_always_use_key_removes_shared_fallback_for_its_provider_only(plan: Plan) -> None:
    assert steps(plan([key("anthropic", always_use=True)])) == [
        ("anthropic", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
    ]


def test_disabled_always_use_key_does_not_block_shared_capacity(plan: Plan) -> None:
    assert ("anthropic", "shared") in steps(plan([key("anthropic", always_use=True, enabled=False)]))


def test_no_credits_keeps_byok_and_drops_shared(plan: Plan) -> None:
    assert steps(plan([key("google-vertex")], credits="0")) == [("google-vertex", "byok")]


def test_no_credits_and_no_keys_is_a_402(plan: Plan) -> None:
    with pytest.raises(PaymentRequired):
        plan([], credits="0")


def test_providers_without_platform_credentials_get_no_shared_attempt(plan: Plan) -> None:
    assert steps(plan([], platform=platform("google-vertex"))) == [("google-vertex", "shared")]


def test_keys_for_providers_that_do_not_serve_the_model_are_ignored(plan: Plan) -> None:
    with pytest.raises(GatewayError) as err:
        plan([key("openai")], platform=[])
    assert not isinstance(err.value, PaymentRequired)
