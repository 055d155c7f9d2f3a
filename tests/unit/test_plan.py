"""The attempt plan: BYOK endpoints first in candidate order, then shared capacity, per the contract."""

from __future__ import annotations

import pytest

from gateway.apis.chat.schema import ProviderPreferences
from gateway.core.catalog import Model, Offer, get_catalog
from gateway.core.errors import BadRequest
from gateway.data.accounts import StoredKey
from gateway.routing.plan import build_plan, candidate_offers

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


def test_contract_example_keys_for_all_three() -> None:
    prefs = ProviderPreferences(order=["amazon-bedrock", "google-vertex", "anthropic"])
    keys = [key("anthropic"), key("google-vertex"), key("amazon-bedrock")]
    plan = build_plan(candidate_offers(model(CLAUDE), prefs), keys, ALL_PLATFORM, has_credits=True)
    assert steps(plan.attempts) == [
        ("amazon-bedrock", "byok"),
        ("google-vertex", "byok"),
        ("anthropic", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
        ("anthropic", "shared"),
    ]


def test_contract_example_key_only_for_vertex() -> None:
    prefs = ProviderPreferences(order=["amazon-bedrock", "google-vertex"], allow_fallbacks=False)
    plan = build_plan(candidate_offers(model(CLAUDE), prefs), [key("google-vertex")], ALL_PLATFORM, has_credits=True)
    assert steps(plan.attempts) == [
        ("google-vertex", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
    ]


def test_vertex_provisioned_throughput_key_for_gemini() -> None:
    pt_key = key("google-vertex", provisioned_throughput=True)
    plan = build_plan(candidate_offers(model(GEMINI), None), [pt_key], ALL_PLATFORM, has_credits=True)
    assert steps(plan.attempts) == [
        ("google-vertex", "byok"),
        ("google-vertex", "shared"),
        ("google-ai-studio", "shared"),
    ]
    assert plan.attempts[0].key.provisioned_throughput is True
    assert plan.attempts[1].key.provisioned_throughput is False


def test_several_keys_per_provider_are_all_tried_oldest_first() -> None:
    newer = key("anthropic", key_id="key_b", created_at="2026-02-01T00:00:00.000Z")
    older = key("anthropic", key_id="key_a", created_at="2026-01-01T00:00:00.000Z")
    # store.load_account returns keys oldest first
    keys = sorted([newer, older], key=lambda k: (k.created_at, k.key_id))
    plan = build_plan(candidate_offers(model(CLAUDE), None), keys, platform("anthropic"), has_credits=True)
    assert [(a.key.key_id, a.credential) for a in plan.attempts] == [
        ("key_a", "byok"),
        ("key_b", "byok"),
        ("anthropic", "shared"),
    ]


def test_disabled_keys_are_not_tried() -> None:
    plan = build_plan(
        candidate_offers(model(CLAUDE), None),
        [key("anthropic", enabled=False)],
        ALL_PLATFORM,
        has_credits=True,
    )
    assert ("anthropic", "byok") not in steps(plan.attempts)


def test_always_use_key_removes_shared_fallback_for_its_provider_only() -> None:
    keys = [key("anthropic", always_use=True)]
    plan = build_plan(candidate_offers(model(CLAUDE), None), keys, ALL_PLATFORM, has_credits=True)
    assert steps(plan.attempts) == [
        ("anthropic", "byok"),
        ("amazon-bedrock", "shared"),
        ("google-vertex", "shared"),
    ]


def test_disabled_always_use_key_does_not_block_shared_capacity() -> None:
    keys = [key("anthropic", always_use=True, enabled=False)]
    plan = build_plan(candidate_offers(model(CLAUDE), None), keys, ALL_PLATFORM, has_credits=True)
    assert ("anthropic", "shared") in steps(plan.attempts)


def test_no_credits_keeps_byok_and_drops_shared() -> None:
    plan = build_plan(candidate_offers(model(CLAUDE), None), [key("google-vertex")], ALL_PLATFORM, has_credits=False)
    assert steps(plan.attempts) == [("google-vertex", "byok")]
    assert plan.shared_excluded_for_credits is True


def test_no_credits_and_no_keys_is_an_empty_plan_flagged_for_402() -> None:
    plan = build_plan(candidate_offers(model(CLAUDE), None), [], ALL_PLATFORM, has_credits=False)
    assert plan.attempts == []
    assert plan.shared_excluded_for_credits is True


def test_providers_without_platform_credentials_get_no_shared_attempt() -> None:
    plan = build_plan(candidate_offers(model(CLAUDE), None), [], platform("google-vertex"), has_credits=True)
    assert steps(plan.attempts) == [("google-vertex", "shared")]


def test_keys_for_providers_that_do_not_serve_the_model_are_ignored() -> None:
    plan = build_plan(candidate_offers(model(CLAUDE), None), [key("openai")], [], has_credits=True)
    assert plan.attempts == []
    assert plan.shared_excluded_for_credits is False
