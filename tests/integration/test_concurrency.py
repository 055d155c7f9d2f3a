"""Concurrency: parallel requests lose no credit update, respect the overdraft bound, and keep keys consistent.

Given the real handlers behind the local API server (one thread per request, like concurrent Lambda
invocations) over moto's tables. README "Credits": a shared attempt starts only while the balance is positive,
the cost is taken with one atomic ADD afterwards, so the balance can dip below zero by at most the cost of the
shared requests in flight when it crossed zero.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway import store
from gateway.catalog import get_catalog
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
    snapshot = store.load_account(account_id)
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


def test_concurrent_shared_requests_charge_each_success_exactly_once(api: Any, gateway: Gateway) -> None:
    # Given the cost of one request, and a customer whose balance covers about five
    probe = httpx.post(
        f"{api.url}/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=30
    )
    assert probe.status_code == 200, probe.text
    one = exact_cost(probe)
    assert one > 0
    customer = gateway.create_customer("five requests", credits=str(one * 5))
    initial = balance(customer.account_id)

    # When twenty requests arrive at once
    def send(_: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {customer.api_key}"}
        return httpx.post(f"{api.url}/v1/chat/completions", json=BODY, headers=headers, timeout=60)

    responses = in_parallel(N, send)

    # Then each answer is a success or a 402, and every success was charged exactly once
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 402}, [r.text for r in responses if r.status_code not in (200, 402)]
    successes = [r for r in responses if r.status_code == 200]
    assert len(successes) >= 5
    charged = sum((exact_cost(r) for r in successes), Decimal(0))
    final = balance(customer.account_id)
    assert final == initial - charged
    # And the overdraft is at most what the requests in flight could cost (all N started before any charge)
    assert final >= -(one * N)
    assert final > initial - one * N - one  # nothing was charged twice
    # And once the balance is gone, the next request is refused
    late = send(0)
    assert late.status_code == (402 if final <= 0 else 200)


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
