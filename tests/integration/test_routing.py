"""Routing depth through the HTTP API with the simulator: health-aware order, key cooldowns, sort by latency,
model fallbacks, max_price and the BYOK spill-over metric.

A "fresh instance" is simulated by flushing this process's routing signals to DynamoDB and forgetting them
(``new_instance``): what the next request still knows, it learnt from the tables, as another Lambda would.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.routing import signals as health
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, get_log

CLAUDE = "anthropic/claude-sonnet-4.5"  # catalog order: anthropic, amazon-bedrock, google-vertex
DEEPSEEK = "deepseek/deepseek-v3.2"
MESSAGES = [{"role": "user", "content": "Say hello"}]
SECOND_ANTHROPIC_KEY = "sk-ant-byok-customer-second-77e1"


def chat(api: Any, gateway: Gateway, model: str = CLAUDE, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": model, "messages": MESSAGES, **body},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=30,
    )


def attempts(api: Any, gateway: Gateway, response: httpx.Response) -> list[tuple[str, str, Any]]:
    record = get_log(api.url, gateway.api_key, response.headers["x-request-id"])
    return [(a["provider"], a["credential"], a["status_code"]) for a in record["attempts"]]


def key_ids(api: Any, gateway: Gateway, response: httpx.Response) -> list[str | None]:
    return [a["key_id"] for a in get_log(api.url, gateway.api_key, response.headers["x-request-id"])["attempts"]]


def upstream_calls(gateway: Gateway) -> list[tuple[str, str | None]]:
    calls = [(r.provider, r.credential) for r in gateway.sim.requests if r.provider != "google-oauth"]
    gateway.sim.clear_requests()
    return calls


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [health.clock()]
    monkeypatch.setattr(health, "clock", lambda: now[0])
    return now


def new_instance() -> None:
    health.state().cycle(force=True)  # this instance's queued writes reach DynamoDB
    health.reset()
    health.state().cycle(force=True)  # the next one starts from the tables only


def test_a_failing_shared_provider_moves_to_the_end_then_recovers(
    api: Any, gateway: Gateway, clock: list[float]
) -> None:
    # Given Anthropic's shared capacity answers one 503
    gateway.sim.fail("anthropic", status=503, times=1)
    first = chat(api, gateway)
    assert first.status_code == 200, first.text
    assert attempts(api, gateway, first) == [("anthropic", "shared", 503), ("amazon-bedrock", "shared", 200)]
    gateway.sim.clear_requests()

    # When the next request comes, on another instance, within HEALTH_WINDOW_S
    new_instance()
    second = chat(api, gateway)

    # Then Bedrock is tried first and Anthropic is not called at all
    assert second.json()["provider"] == "amazon-bedrock"
    assert attempts(api, gateway, second) == [("amazon-bedrock", "shared", 200)]
    assert [p for p, _ in upstream_calls(gateway)] == ["amazon-bedrock"]

    # And once the window has passed, catalog order again: Anthropic serves
    clock[0] += 31
    third = chat(api, gateway)
    assert third.json()["provider"] == "anthropic"
    assert attempts(api, gateway, third) == [("anthropic", "shared", 200)]


def test_when_every_provider_failed_recently_all_are_still_tried(api: Any, gateway: Gateway) -> None:
    for provider in ("anthropic", "amazon-bedrock", "google-vertex"):
        gateway.sim.fail(provider, status=503, times=1)
    assert chat(api, gateway).status_code == 502

    again = chat(api, gateway)  # every fault is used up: the first tried answers

    assert again.status_code == 200
    assert attempts(api, gateway, again) == [("anthropic", "shared", 200)]


def test_a_rate_limited_key_waits_out_its_retry_after_behind_the_other_key(
    api: Any, gateway: Gateway, clock: list[float]
) -> None:
    # Given two Anthropic keys, the older one rate limited with retry-after: 60
    first_secret = byok_credentials(gateway.sim, "anthropic")
    gateway.sim.accept_api_key("anthropic", SECOND_ANTHROPIC_KEY)
    older = add_key(api.url, gateway.api_key, "anthropic", first_secret, name="older")
    newer = add_key(api.url, gateway.api_key, "anthropic", SECOND_ANTHROPIC_KEY, name="newer")
    gateway.sim.fail("anthropic", status=429, credential=first_secret, retry_after="60", times=1)
    only = {"provider": {"only": ["anthropic"]}}

    first = chat(api, gateway, **only)
    record = get_log(api.url, gateway.api_key, first.headers["x-request-id"])
    assert [(a["key_id"], a["status_code"]) for a in record["attempts"]] == [(older["id"], 429), (newer["id"], 200)]
    gateway.sim.clear_requests()

    # When the next request comes from another instance within the retry-after
    new_instance()
    second = chat(api, gateway, **only)

    # Then the newer key is tried first and the rate-limited one is not called
    record = get_log(api.url, gateway.api_key, second.headers["x-request-id"])
    assert [a["key_id"] for a in record["attempts"]] == [newer["id"]]
    assert upstream_calls(gateway) == [("anthropic", SECOND_ANTHROPIC_KEY)]

    # And after the retry-after, the stable order again (HEALTH_WINDOW_S would have been only 30 s)
    clock[0] += 45
    assert key_ids(api, gateway, chat(api, gateway, **only)) == [newer["id"]]
    clock[0] += 20
    assert key_ids(api, gateway, chat(api, gateway, **only)) == [older["id"]]


def test_sort_latency_prefers_the_provider_measured_fastest(api: Any, gateway: Gateway) -> None:
    # Given Anthropic answers 300 ms late and Bedrock at once
    gateway.sim.fail("anthropic", mode="slow", delay=0.3)
    latency = {"sort": "latency"}

    # With no measurements yet, sort latency keeps catalog order
    assert chat(api, gateway, provider=latency).json()["provider"] == "anthropic"
    assert chat(api, gateway, provider={"order": ["amazon-bedrock"]}).json()["provider"] == "amazon-bedrock"

    # When both have been measured (and another instance reads the shared counters)
    new_instance()
    fast = chat(api, gateway, provider=latency)

    # Then Bedrock comes first, Anthropic second, and never-measured Vertex last
    assert fast.json()["provider"] == "amazon-bedrock"
    gateway.sim.fail("amazon-bedrock", status=503)
    gateway.sim.fail("anthropic", status=503)
    fallback = chat(api, gateway, provider=latency)
    assert [p for p, _, _ in attempts(api, gateway, fallback)] == ["amazon-bedrock", "anthropic", "google-vertex"]


def test_model_fallback_after_every_provider_of_the_first_model_fails(api: Any, gateway: Gateway) -> None:
    for provider in ("anthropic", "amazon-bedrock", "google-vertex"):
        gateway.sim.fail(provider, status=503)

    response = chat(api, gateway, models=[DEEPSEEK])

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["provider"]) == (DEEPSEEK, "deepseek")
    record = get_log(api.url, gateway.api_key, response.headers["x-request-id"])
    assert [(a["model"], a["provider"], a["status_code"]) for a in record["attempts"]] == [
        (CLAUDE, "anthropic", 503),
        (CLAUDE, "amazon-bedrock", 503),
        (CLAUDE, "google-vertex", 503),
        (DEEPSEEK, "deepseek", 200),
    ]
    assert record["model"] == DEEPSEEK


def test_fallback_models_is_an_alias_and_both_spellings_is_a_400(api: Any, gateway: Gateway) -> None:
    gateway.sim.fail("deepseek", status=503)
    served = chat(api, gateway, DEEPSEEK, provider={"ignore": ["google-vertex"]}, fallback_models=["openai/gpt-5-mini"])
    assert served.json()["model"] == "openai/gpt-5-mini"

    both = chat(api, gateway, models=[DEEPSEEK], fallback_models=[DEEPSEEK])
    assert both.status_code == 400
    assert both.json()["error"]["param"] == "fallback_models"

    unknown = chat(api, gateway, models=["nobody/no-such-model"])
    assert unknown.status_code == 404
    assert unknown.json()["error"]["param"] == "models"


def test_max_price_routes_to_a_cheaper_model_or_says_why_not(api: Any, gateway: Gateway) -> None:
    cheap = {"max_price": {"prompt": 1, "completion": 2}}

    # Sonnet costs 3 / 15: priced out, the cheaper fallback serves
    served = chat(api, gateway, models=[DEEPSEEK], provider=cheap)
    assert served.status_code == 200
    assert served.json()["model"] == DEEPSEEK
    assert [a[0] for a in attempts(api, gateway, served)] == ["deepseek"]
    assert [p for p, _ in upstream_calls(gateway)] == ["deepseek"]

    refused = chat(api, gateway, provider=cheap)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("max_price_exceeded", "provider.max_price")
    assert "max_price" in error["message"]


def test_byok_spill_over_is_counted_by_the_shared_provider_that_served(
    api: Any, gateway: Gateway, stdout_lines: Any
) -> None:
    credentials = byok_credentials(gateway.sim, "anthropic")
    key = add_key(api.url, gateway.api_key, "anthropic", credentials)
    gateway.sim.fail("anthropic", status=401, credential=credentials)
    stdout_lines()

    response = chat(api, gateway)
    assert response.json()["usage"]["is_byok"] is False
    assert chat(api, gateway, provider={"only": ["openai"]}, model="openai/gpt-5-mini").status_code == 200

    lines = stdout_lines()
    spill = [line for line in lines if "ByokSpillover" in line]
    by_dimensions = sorted(tuple(sorted(set(line) & {"provider", "service"})) for line in spill)
    assert by_dimensions == [("provider", "service"), ("service",)]  # one request: total and by provider
    assert {line.get("provider") for line in spill} == {None, "anthropic"}
    [logged] = [line for line in lines if line.get("message") == "byok spill-over to shared capacity"]
    assert logged["failed_keys"] == [{"provider": "anthropic", "key_id": key["id"], "status_code": 401}]
    assert credentials not in str(lines)


def test_max_attempts_cuts_the_plan_across_models(api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, MAX_ATTEMPTS="3")
    for provider in ("anthropic", "amazon-bedrock", "google-vertex"):
        gateway.sim.fail(provider, status=503)

    response = chat(api, gateway, models=[DEEPSEEK])

    assert response.status_code == 502
    assert [p for p, _ in upstream_calls(gateway)] == ["anthropic", "amazon-bedrock", "google-vertex"]
