"""Credit leases (issue 24): an instance takes a block of an account's credits (and of its request's budgets) with
one conditional write and lends its shared attempts' holds from it; no concurrency passes a balance or a budget,
and every charge is exact in the end, whether a lease was returned, topped up or left to expire.

Given moto's tables, the real handlers over HTTP for the reconciliation, and ``CREDIT_LEASE_NANOS`` set (its
default, 0, keeps per-request holds). Each test gets fresh lease books: a book is one instance's memory.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.apis.chat.schema import ChatRequest
from gateway.billing import budgets, credits, leases
from gateway.core.catalog import get_catalog
from gateway.core.settings import get_settings
from gateway.data import accounts
from gateway.data import leases as lease_store
from tests.conftest import Gateway, configure
from tests.integration.helpers import count_profile_writes

MODEL = "deepseek/deepseek-v3.2"
BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 32,
    "provider": {"only": ["deepseek"]},
}


@pytest.fixture(autouse=True)
def fresh_book(monkeypatch: pytest.MonkeyPatch) -> leases.LeaseBook:
    book = leases.LeaseBook()
    monkeypatch.setattr(leases, "_BOOK", book)
    return book


def hold_nanos() -> int:
    """What one shared attempt of BODY holds (its worst case), from the gateway's own pricing."""
    offer = next(o for o in get_catalog().model(MODEL).providers if o.slug == "deepseek")  # type: ignore[union-attr]
    return credits.to_nanos(credits.max_cost(offer, ChatRequest.model_validate(BODY)))


def profile(account_id: str) -> dict[str, Any]:
    item = accounts.profile_item(account_id)
    assert item is not None
    return item


def clock_ahead(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move the process's clock forward by a number of seconds (holds' and leases' expiries follow it)."""
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def ahead(seconds: float) -> None:
        offset[0] += seconds

    return ahead


# --- one instance ---------------------------------------------------------------------------------------------


def test_a_lease_lends_many_holds_from_one_write_and_gives_back_what_was_not_spent(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, fresh_book: leases.LeaseBook
) -> None:
    # Given leases of 1 USD and a customer with 10
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(10**9))
    account = gateway.create_customer("leased", credits="10").account_id
    writes = count_profile_writes(monkeypatch)

    # When ten shared attempts each hold 5 cents and cost 1
    for _ in range(10):
        hold = credits.reserve(account, Decimal("0.05"))
        assert hold is not None and hold.lease
        credits.settle(hold, Decimal("0.01"))

    # Then the profile was written once (the lease), the block is off the balance, and the costs are in the ledger
    assert len(writes) == 1
    [(lease_id, entry)] = profile(account)["holds"].items()
    assert entry["lease"] is True and int(entry["nanos"]) == 10**9
    assert int(profile(account)["credits_nanos"]) == 9 * 10**9
    assert lease_store.spent(lease_id) == 10 * 10**7
    # And closing it (idle, or at shutdown) gives back exactly what was not spent
    fresh_book.close_all()
    assert int(profile(account)["credits_nanos"]) == 10 * 10**9 - 10 * 10**7
    assert profile(account)["holds"] == {}


def test_a_lease_is_topped_up_when_it_runs_short_and_a_failed_attempt_gives_its_part_back(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, fresh_book: leases.LeaseBook
) -> None:
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(10**8))  # 10 cents
    account = gateway.create_customer("topped up", credits="10").account_id
    writes = count_profile_writes(monkeypatch)

    failed = credits.reserve(account, Decimal("0.04"))
    assert failed is not None
    credits.release(failed)
    for _ in range(6):
        hold = credits.reserve(account, Decimal("0.04"))
        assert hold is not None and hold.lease
        credits.settle(hold, Decimal("0.03"))

    assert any("holds.#h.nanos = holds.#h.nanos + :n" in w for w in writes), "the lease was topped up"
    assert len(writes) < 6
    fresh_book.close_all()
    assert int(profile(account)["credits_nanos"]) == 10 * 10**9 - 6 * 3 * 10**7
    assert profile(account)["holds"] == {}


def test_small_balances_and_big_requests_take_per_request_holds(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(10**9))
    poor = gateway.create_customer("poor", credits="0.5").account_id
    rich = gateway.create_customer("rich", credits="10").account_id

    small = credits.reserve(poor, Decimal("0.1"))  # the balance cannot cover a block
    big = credits.reserve(rich, Decimal("2"))  # the request needs more than a block

    assert small is not None and not small.lease and big is not None and not big.lease
    assert [e.get("lease") for e in profile(poor)["holds"].values()] == [None]
    credits.settle(small, Decimal("0.05"))
    credits.settle(big, Decimal("1"))
    assert int(profile(poor)["credits_nanos"]) == 45 * 10**7
    assert int(profile(rich)["credits_nanos"]) == 9 * 10**9


def test_a_lease_charges_a_cost_above_its_hold_and_a_request_settled_after_a_sweep_still_counts_once(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, fresh_book: leases.LeaseBook
) -> None:
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(10**9))
    account = gateway.create_customer("over", credits="10").account_id

    over = credits.reserve(account, Decimal("0.1"))
    late = credits.reserve(account, Decimal("0.1"))
    assert over is not None and late is not None and over.lease and late.lease
    credits.settle(over, Decimal("0.3"))  # the upstream reported more than the bound: the lease's free part pays
    assert credits.release_expired(account) == 0  # a live lease is never swept
    lease_store.sweep(account, late.hold_id, 10**9, ())  # as if it had expired under the late request
    credits.settle(late, Decimal("0.02"))

    fresh_book.close_all()
    assert int(profile(account)["credits_nanos"]) == 10 * 10**9 - 32 * 10**7
    assert profile(account)["holds"] == {}


# --- many instances at once -----------------------------------------------------------------------------------

LIMIT_KINDS = ["credits", "key_budget", "shared_limit"]


@pytest.mark.parametrize("kind", LIMIT_KINDS)
def test_fifty_concurrent_requests_on_five_instances_never_pass_a_limit(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, serialized_dynamodb: None, kind: str
) -> None:
    # Given a limit worth 20 holds, leases of 3 holds, and five instances (lease books) serving one account
    hold = hold_nanos()
    limit = 20 * hold
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(3 * hold))
    account = gateway.create_customer(kind, credits=str(Decimal(limit) / 10**9 if kind == "credits" else 100))
    limits = []
    if kind != "credits":
        code = "key_budget_exceeded" if kind == "key_budget" else "shared_limit_reached"
        limits = [budgets.Budget(f"spend_{kind}_total", limit, (), kind, code)]
    books = [leases.LeaseBook() for _ in range(5)]
    instance = threading.local()
    monkeypatch.setattr(leases, "book", lambda: instance.book)
    before = int(profile(account.account_id)["credits_nanos"])
    lock, in_flight, peak, charged = threading.Lock(), [0], [0], []
    start = threading.Barrier(50)

    # When fifty requests arrive at once, each holding its worst case and costing part of it
    def request(i: int) -> bool:
        instance.book = books[i % 5]
        start.wait()
        reservation = credits.reserve(account.account_id, Decimal(hold) / 10**9, limits, [])
        if reservation is None:
            return False
        with lock:
            in_flight[0] += hold
            peak[0] = max(peak[0], in_flight[0] + sum(charged))
        cost = random.randint(hold // 4, hold)
        with lock:
            in_flight[0] -= hold
            charged.append(cost)
        credits.settle(reservation, Decimal(cost) / 10**9)
        return True

    with ThreadPoolExecutor(max_workers=50) as pool:
        served = list(pool.map(request, range(50)))
    for book in books:
        book.close_all()

    # Then some were refused, what was held at any moment never passed the limit, and every charge is exact
    item = profile(account.account_id)
    assert 0 < sum(served) < 50
    assert peak[0] <= limit
    assert item["holds"] == {}
    assert int(item["credits_nanos"]) == before - sum(charged) >= 0
    assert int(item.get("debt_nanos", 0)) == 0
    if limits:
        assert int(item[limits[0].counter]) == sum(charged) <= limit


# --- the reconciliation ---------------------------------------------------------------------------------------


def logged_costs(api: Any, api_key: str) -> dict[str, Decimal]:
    """request id -> cost of every request record of the caller's account."""
    costs: dict[str, Decimal] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{api.url}/v1/logs", params=params, headers={"Authorization": f"Bearer {api_key}"}).json()
        costs.update({r["request_id"]: Decimal(str(r["cost"])) for r in page["data"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return costs


@pytest.fixture
def burst(api: Any) -> Iterator[Callable[[str, int], list[httpx.Response]]]:
    with ThreadPoolExecutor(max_workers=5) as pool:

        def send(api_key: str, count: int) -> list[httpx.Response]:
            headers = {"Authorization": f"Bearer {api_key}"}
            post = lambda _: httpx.post(f"{api.url}/v1/chat/completions", json=BODY, headers=headers, timeout=60)  # noqa: E731
            answers = list(pool.map(post, range(count)))
            assert [a.status_code for a in answers] == [200] * count, [a.text for a in answers if a.status_code != 200]
            return answers

        yield send


def test_the_logs_sum_to_the_balance_change_after_leases_taken_topped_up_returned_and_expired(
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    burst: Callable[[str, int], list[httpx.Response]],
    serialized_dynamodb: None,
) -> None:
    # Given leases of four holds, and a second API key with a budget (its own lease: its counter rides along)
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(4 * hold_nanos()))
    account, manager = gateway.customer.account_id, gateway.api_key
    created = httpx.post(
        f"{api.url}/v1/api-keys",
        json={"name": "budgeted", "limit": {"usd": 50, "period": "total"}},
        headers={"Authorization": f"Bearer {manager}"},
    ).json()
    budgeted = created["key"]
    before = int(profile(account)["credits_nanos"])
    ahead = clock_ahead(monkeypatch)

    # When a burst on one instance takes and tops up leases, and that instance is killed (its leases stranded)
    burst(manager, 15)
    burst(budgeted, 15)
    stranded = [e for e in profile(account)["holds"].values() if e.get("lease")]
    assert len(stranded) == 2 and any(int(e["nanos"]) > 4 * hold_nanos() for e in stranded), "taken and topped up"
    monkeypatch.setattr(leases, "_BOOK", leases.LeaseBook())
    # And a second instance serves both keys, then only the budgeted one after the other's lease went idle
    burst(manager, 5)
    burst(budgeted, 5)
    ahead(leases.IDLE_S + 1)
    burst(budgeted, 3)
    live = [e for e in profile(account)["holds"].values() if e.get("lease")]
    assert len(live) == 3, "the idle lease was returned; the killed instance's two are still there"
    # And the killed instance's leases expire and are swept, and the second instance shuts down
    ahead(leases.LEASE_TERM_S + get_settings().function_timeout_s + leases.HOLD_MARGIN_S)
    assert credits.release_expired(account) >= 2
    leases.book().close_all()

    # Then the balance moved by exactly what the request logs say, and so did the key's spent
    costs = logged_costs(api, manager)
    assert len(costs) == 43
    assert Decimal(before - int(profile(account)["credits_nanos"])) / 10**9 == sum(costs.values())
    assert profile(account)["holds"] == {}
    assert int(profile(account).get("debt_nanos", 0)) == 0
    spent = httpx.get(f"{api.url}/v1/api-keys/{created['id']}", headers={"Authorization": f"Bearer {manager}"})
    budgeted_costs = [c for rid, c in costs.items() if rid in _request_ids(api, manager, created["id"])]
    assert Decimal(str(spent.json()["spent"])) == sum(budgeted_costs) > 0


def _request_ids(api: Any, api_key: str, api_key_id: str) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, "api_key_id": api_key_id, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{api.url}/v1/logs", params=params, headers={"Authorization": f"Bearer {api_key}"}).json()
        ids.update(r["request_id"] for r in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_without_leases_every_shared_attempt_takes_its_own_hold(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, CREDIT_LEASE_NANOS="0")
    account = gateway.create_customer("per request", credits="10").account_id
    writes = count_profile_writes(monkeypatch)

    for _ in range(3):
        hold = credits.reserve(account, Decimal("0.05"))
        assert hold is not None and not hold.lease
        credits.settle(hold, Decimal("0.01"))

    assert len(writes) == 6  # a hold and a settlement each
    assert int(profile(account)["credits_nanos"]) == 10 * 10**9 - 3 * 10**7


@pytest.mark.parametrize(("lease_holds", "most_writes"), [(0, 40), (10, 3)])
def test_writes_on_the_accounts_item_per_shared_request_drop_with_leases(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, lease_holds: int, most_writes: int
) -> None:
    # Given per-request holds (0), or leases of ten holds
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(lease_holds * hold_nanos()))
    writes = count_profile_writes(monkeypatch)
    headers = {"Authorization": f"Bearer {gateway.api_key}"}

    def records() -> int:
        return len(httpx.get(f"{api.url}/v1/logs?limit=100", headers=headers, timeout=60).json()["data"])

    before = records()

    # When twenty shared requests (streamed and not) are served
    for i in range(20):
        body = {**BODY, "stream": i % 2 == 1}
        answer = httpx.post(f"{api.url}/v1/chat/completions", json=body, headers=headers, timeout=60)
        assert answer.status_code == 200 and answer.headers["x-gateway-byok"] == "false"
    # (a stream settles after its last byte has reached the client: its record, written after the settlement,
    # says when it has)
    deadline = time.monotonic() + 30
    while records() < before + 20 and time.monotonic() < deadline:
        time.sleep(0.05)

    # Then today's design writes the account's item twice a request (hold, settle); a lease a few times in all
    assert len(writes) <= most_writes
    assert len(writes) == 40 if lease_holds == 0 else len(writes) >= 1


def test_a_lease_that_took_the_whole_balance_keeps_serving_its_instance(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, fresh_book: leases.LeaseBook
) -> None:
    # Given a balance of exactly one block: the first request's lease takes all of it off the balance
    block = 4 * hold_nanos()
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(block))
    customer = gateway.create_customer("one block", credits=str(Decimal(block) / 10**9))
    headers = {"Authorization": f"Bearer {customer.api_key}"}

    answers = [httpx.post(f"{api.url}/v1/chat/completions", json=BODY, headers=headers, timeout=60) for _ in range(3)]

    # Then the later requests are still served (from the lease), and closing it leaves the exact balance
    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
    assert int(profile(customer.account_id)["credits_nanos"]) == 0
    fresh_book.close_all()
    charged = sum(credits.to_nanos(Decimal(str(a.json()["usage"]["cost"]))) for a in answers)
    assert int(profile(customer.account_id)["credits_nanos"]) == block - charged


def test_every_table_action_of_a_leases_life_is_granted_to_the_routing_functions(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, fresh_book: leases.LeaseBook
) -> None:
    from botocore.client import BaseClient

    from local.template import load_template
    from tests.unit.test_template import _grants, _resources

    # Given every DynamoDB call counted as the IAM actions it needs (a transaction: each of its items' actions)
    configure(monkeypatch, CREDIT_LEASE_NANOS=str(10**9))
    account = gateway.create_customer("granted", credits="10").account_id
    needed: set[str] = set()
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            if operation == "TransactWriteItems":
                kinds = {"Update": "UpdateItem", "Put": "PutItem", "Delete": "DeleteItem"}
                needed.update(kinds.get(kind, kind + "Item") for item in params["TransactItems"] for kind in item)
            else:
                needed.add(operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    # When a lease is taken, lends holds, is topped up, is swept under a request and closed
    holds = [credits.reserve(account, Decimal("0.4")) for _ in range(4)]
    assert all(hold is not None and hold.lease for hold in holds)
    for hold in holds[:-1]:
        assert hold is not None
        credits.settle(hold, Decimal("0.01"))
    last = holds[-1]
    assert last is not None
    lease_store.sweep(account, last.hold_id, int(profile(account)["holds"][last.hold_id]["nanos"]), ())
    credits.settle(last, Decimal("0.01"))
    fresh_book.close_all()

    # Then each action is one the chat, Messages and Responses functions are granted on the accounts table
    functions = _resources(load_template(), "AWS::Serverless::Function")
    for name in ("ChatFunction", "MessagesFunction", "ResponsesFunction"):
        granted = {action.removeprefix("dynamodb:") for action, on in _grants(functions[name]) if on == "AccountsTable"}
        assert needed <= granted, (name, needed - granted)
    assert "TransactWriteItems" not in needed and needed  # counted as its items' actions
