"""GET /v1/usage: hourly buckets of requests, errors and cost, BYOK and shared apart, fed by the logs stream.

Given the dev-stack wiring (real handlers over HTTP, moto with the template's tables and stream, the simulator)
and the template's stream consumer run the way Lambda runs it, chat requests end up in their hour's bucket
without the chat function doing anything but write its record.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway

pytestmark = pytest.mark.slow


def _get(api: Any, key: str, path: str) -> httpx.Response:
    return httpx.get(f"{api.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=20)


def _chat(api: Any, key: str, model: str = "openai/gpt-5-mini") -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )


def _current(api: Any, key: str) -> dict[str, Any]:
    answer = _get(api, key, "/v1/usage")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["hours"] == 24
    assert len(body["data"]) == 24
    return body


def test_usage_counts_byok_and_shared_requests_in_the_current_hour(
    api: Any, gateway: Gateway, usage_stream: Any
) -> None:
    # Given one BYOK key for openai and two requests: one through the key, one on shared capacity
    gateway.sim.accept_api_key("openai", "sk-usage-byok-0001")
    created = httpx.post(
        f"{api.url}/v1/byok/keys",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        json={"provider": "openai", "credentials": "sk-usage-byok-0001"},
        timeout=20,
    )
    assert created.status_code == 201, created.text
    byok = _chat(api, gateway.api_key)
    shared = _chat(api, gateway.api_key, "deepseek/deepseek-v3.2")
    assert byok.json()["usage"]["is_byok"] is True
    assert shared.json()["usage"]["is_byok"] is False

    # When the stream consumer has seen what was written
    assert usage_stream.flush() >= 2
    body = _current(api, gateway.api_key)

    # Then the current hour (the last bucket) holds one of each, with the shared request's exact cost
    now = body["data"][-1]
    assert now["hour"] == datetime.now(UTC).strftime("%Y-%m-%dT%H:00:00Z")
    assert now["byok"] == {"requests": 1, "errors": 0, "cost": 0.0}
    assert now["shared"]["requests"] == 1
    assert Decimal(str(now["shared"]["cost"])) == Decimal(str(shared.json()["usage"]["cost"]))
    assert all(b["byok"]["requests"] == b["shared"]["requests"] == 0 for b in body["data"][:-1])


def test_usage_is_per_account_and_starts_empty(api: Any, gateway: Gateway, usage_stream: Any) -> None:
    # Given a request by the first customer
    assert _chat(api, gateway.api_key).status_code == 200
    usage_stream.flush()
    other = gateway.create_customer("other")

    # Then another customer's usage is all zeros, and the buckets cover 24 consecutive hours
    body = _current(api, other.api_key)
    assert sum(b["byok"]["requests"] + b["shared"]["requests"] for b in body["data"]) == 0
    hours = [datetime.fromisoformat(b["hour"].replace("Z", "+00:00")) for b in body["data"]]
    assert [b - a for a, b in itertools.pairwise(hours)] == [timedelta(hours=1)] * 23


def test_usage_needs_the_gateway_key(api: Any) -> None:
    assert _get(api, "gwk_0000000000000000_wrong", "/v1/usage").status_code == 401


def test_a_failed_request_counts_as_an_error(api: Any, gateway: Gateway, usage_stream: Any) -> None:
    # Given every openai attempt failing with 500
    gateway.sim.fail("openai", status=500, times=100)
    assert _chat(api, gateway.api_key).status_code >= 500

    # Then its hour counts one shared error and no cost
    usage_stream.flush()
    now = _current(api, gateway.api_key)["data"][-1]
    assert now["shared"] == {"requests": 1, "errors": 1, "cost": 0.0}
