"""Concurrency: parallel requests lose no credit update, never overdraw a balance, and keep keys consistent.

Given the real handlers behind the local API server (one thread per request, like concurrent Lambda
invocations) over moto's tables, each conditional write applied atomically as DynamoDB does. README
"Credits": every shared attempt first holds its maximum cost with one conditional update, so no number of
concurrent requests can take a balance below zero; the actual cost is settled after the answer.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest

from gateway.apis.chat.schema import ChatRequest
from gateway.billing import credits
from gateway.core.catalog import get_catalog
from gateway.data import accounts
from tests.conftest import Gateway

N = 20
MODEL = "deepseek/deepseek-v3.2"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}], "provider": {"only": ["deepseek"]}}


@pytest.fixture
def api(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The HTTP API with a listen backlog for N simultaneous connections (socketserver's default is 5)."""
    from local import apiserver

    monkeypatch.setattr(apiserver._Server, "request_queue_size", 4 * N)
    server = apiserver.ApiServer(host="127.0.0.1", port=0).start()
    yield server
    server.stop()


def balance(account_id: str) -> Decimal:
    snapshot = accounts.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


def exact_cost(response: httpx.Response) -> Decimal:
    usage = response.json()["usage"]
    offer = next(o for o in get_catalog().model(MODEL).providers if o.slug == "deepseek")  # type: ignore[union-attr]
    return offer.cost(usage["prompt_tokens"], usage["completion_tokens"])


def in_parallel(count: int, work: Any) -> list[Any]:
    """``work(i)`` for every i on its own thread, all released together."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def hold_for(body: dict[str, Any], model: str, provider: str) -> Decimal:
    """What a shared attempt of ``body`` reserves (its maximum cost)."""
    offer = next(o for o in get_catalog().model(model).providers if o.slug == provider)  # type: ignore[union-attr]
    return credits.max_cost(offer, ChatRequest.model_validate(body))


def holds_left(gateway: Gateway, account_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    return dict(table.get_item(Key={"pk": f"ACCOUNT#{account_id}", "sk": "PROFILE"})["Item"].get("holds", {}))


def test_concurrent_shared_requests_charge_each_success_exactly_once(
    api: Any, gateway: Gateway, serialized_dynamodb: None
) -> None:
    # Given a customer whose balance covers five reservations
    hold = hold_for(BODY, MODEL, "deepseek")
    customer = gateway.create_customer("five requests", credits=str(hold * 5))
    initial = balance(customer.account_id)

    # When twenty requests arrive at once
    def send(_: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {customer.api_key}"}
        return httpx.post(f"{api.url}/v1/chat/completions", json=BODY, headers=headers, timeout=60)

    responses = in_parallel(N, send)

    # Then each answer is a success or a 402, at least the five covered ones succeeded, and every success was
    # charged exactly its cost: no hold is left behind and the balance never went below zero
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 402}, [r.text for r in responses if r.status_code not in (200, 402)]
    successes = [r for r in responses if r.status_code == 200]
    assert len(successes) >= 5
    charged = sum((exact_cost(r) for r in successes), Decimal(0))
    assert balance(customer.account_id) == initial - charged
    assert balance(customer.account_id) >= 0
    assert holds_left(gateway, customer.account_id) == {}


def test_fifty_big_shared_requests_never_take_the_balance_below_zero(
    api: Any, gateway: Gateway, serialized_dynamodb: None
) -> None:
    # Given 50 cents and fifty concurrent shared Claude requests with 40 KB prompts, each costing about 6 cents
    # (the overdraft: together they cost six times the balance)
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [{"role": "user", "content": "a " * 20_000}],
        "max_tokens": 50,
        "provider": {"only": ["anthropic"]},
    }
    assert Decimal("0.1") < hold_for(body, "anthropic/claude-sonnet-4.5", "anthropic") < Decimal("0.2")
    customer = gateway.create_customer("fifty cents", credits="0.5")

    def send(_: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {customer.api_key}"}
        return httpx.post(f"{api.url}/v1/chat/completions", json=body, headers=headers, timeout=60)

    responses = in_parallel(50, send)

    # Then some are refused with 402 naming the amount, none overdraws, and the charges are exact
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 402}
    assert 200 in statuses and 402 in statuses
    refused = next(r for r in responses if r.status_code == 402).json()["error"]
    assert (
        refused["code"] == "insufficient_credits" and "max_tokens" in refused["message"] and "$" in refused["message"]
    )
    charged = sum(Decimal(str(r.json()["usage"]["cost"])) for r in responses if r.status_code == 200)
    final = balance(customer.account_id)
    assert final >= 0
    assert final == pytest.approx(Decimal("0.5") - charged, abs=Decimal("0.000001") * len(responses))
    assert holds_left(gateway, customer.account_id) == {}


def test_concurrent_patch_and_delete_leave_a_key_consistent(api: Any, gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    created = httpx.post(
        f"{api.url}/v1/byok/keys",
        json={"provider": "openai", "credentials": "sk-concurrency-test-key-0001", "name": "start"},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    url = f"{api.url}/v1/byok/keys/{created.json()['id']}"

    for deleting in (False, True):

        def change(i: int, *, deleting: bool = deleting) -> httpx.Response:
            if deleting and i % 7 == 3:
                return httpx.delete(url, headers=headers, timeout=30)
            body: dict[str, Any] = {"name": f"name {i}", "enabled": i % 2 == 0}
            if i % 5 == 0:
                body["credentials"] = f"sk-concurrency-rotated-{i:04d}"
            return httpx.patch(url, json=body, headers=headers, timeout=30)

        responses = in_parallel(N, change)

        assert all(r.status_code < 500 for r in responses), [r.text for r in responses if r.status_code >= 500]
        fetched = httpx.get(url, headers=headers, timeout=30)
        listed = httpx.get(f"{api.url}/v1/byok/keys", headers=headers, timeout=30).json()["data"]
        if fetched.status_code == 404:
            assert deleting
            assert listed == []
            assert sum(r.status_code == 204 for r in responses) == 1  # exactly one delete won
        else:
            assert fetched.status_code == 200
            assert listed == [fetched.json()]
            key = fetched.json()
            winners = [r.json() for r in responses if r.status_code == 200]
            # The stored state is one whole write, not a mix of several: name and enabled come from one request
            i = int(key["name"].split()[1])
            assert key["enabled"] is (i % 2 == 0)
            assert key in winners or any(w["name"] == key["name"] for w in winners)
            assert {r.status_code for r in responses} <= {200, 204, 404}
