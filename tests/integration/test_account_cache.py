"""Account snapshots reused by a warm instance (issue 24, ACCOUNT_CACHE_MS): a model request reads one small epoch
replica instead of the account's partition, and every guarantee the per-request Query gave still holds: a revoked
or deleted gateway key is refused on its very next request, a disabled or deleted BYOK key is not used by it,
credits added and debt paid serve at once, another instance sees every change, and rate limits and budgets stay
exact under concurrency.

Given the real handlers behind the local API server, moto's tables and the provider simulator, with
ACCOUNT_CACHE_MS at a minute (so only the epoch can make an instance read its account again). An "instance" is the
process's snapshot cache and rate-slot book: ``other_instance`` swaps in empty ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.billing import budgets, credits
from gateway.data import account_cache, accounts, api_keys, holds
from local.seed import PLATFORM_API_KEYS
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, credential_id
from tests.integration.test_api_keys import as_key
from tests.integration.test_api_keys import create as new_api_key

CHAT = {"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
MINUTE_MS = "60000"


@pytest.fixture(autouse=True)
def cache_on(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, ACCOUNT_CACHE_MS=MINUTE_MS)


@pytest.fixture
def manager(api: Any, gateway: Gateway) -> Iterator[httpx.Client]:
    with as_key(api, gateway.api_key) as http:
        yield http


@contextmanager
def other_instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the block as another instance of the function: its own snapshot cache, proven keys and rate slots."""
    saved = (dict(account_cache._entries), dict(api_keys._proven), dict(api_keys._rate_slots))
    account_cache._entries.clear()
    api_keys._proven.clear()
    api_keys._rate_slots.clear()
    try:
        yield
    finally:
        for live, kept in zip((account_cache._entries, api_keys._proven, api_keys._rate_slots), saved, strict=True):
            live.clear()
            live.update(kept)  # type: ignore[attr-defined]


class AccountReads:
    """Every read of the accounts table, as botocore's client is asked for it (any thread, any client)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.calls: list[tuple[str, str]] = []  # (operation, partition key)

    def observe(self, operation: str, params: dict[str, Any]) -> None:
        if params.get("TableName") != self.table or operation not in ("GetItem", "Query", "BatchGetItem", "Scan"):
            return
        if operation == "GetItem":
            self.calls.append((operation, str(params["Key"]["pk"])))
        elif operation == "Query":
            values = params.get("ExpressionAttributeValues") or {}
            condition = params["KeyConditionExpression"]
            key = condition.get_expression()["values"][1] if not isinstance(condition, str) else values
            self.calls.append((operation, str(key)))
        else:
            self.calls.append((operation, "*"))


@pytest.fixture
def account_reads(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> AccountReads:
    from botocore.client import BaseClient

    reads = AccountReads(gateway.env["ACCOUNTS_TABLE"])
    real = BaseClient._make_api_call
    lock = threading.Lock()

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            with lock:
                reads.observe(operation, params)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return reads


def chat(http: httpx.Client, body: dict[str, Any] | None = None) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body or CHAT)


# --- reads --------------------------------------------------------------------------------------------------------


def test_a_warm_request_reads_one_epoch_replica_and_not_the_account_partition(
    api: Any, gateway: Gateway, manager: httpx.Client, account_reads: AccountReads
) -> None:
    # Given a warm instance (its first request proved the key and read the account)
    assert chat(manager).status_code == 200
    account_reads.calls.clear()

    # When the same key sends three more requests
    statuses = [chat(manager).status_code for _ in range(3)]

    # Then each read one small epoch item, never the account's partition
    assert statuses == [200, 200, 200]
    partition = accounts.partition_key(gateway.customer.account_id)
    epoch_reads = [c for c in account_reads.calls if c[0] == "GetItem" and c[1].startswith("EPOCH#")]
    assert len(epoch_reads) == 3
    assert all(c[1].startswith(f"EPOCH#{gateway.customer.account_id}#") for c in epoch_reads)
    assert not [c for c in account_reads.calls if partition in c[1]], account_reads.calls
    assert [c for c in account_reads.calls if c[0] == "Query"] == []


def test_with_the_cache_off_every_request_queries_the_partition_as_before(
    api: Any, gateway: Gateway, manager: httpx.Client, account_reads: AccountReads, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, ACCOUNT_CACHE_MS="0")
    assert chat(manager).status_code == 200
    account_reads.calls.clear()

    assert [chat(manager).status_code for _ in range(2)] == [200, 200]

    partition = accounts.partition_key(gateway.customer.account_id)
    assert [c[0] for c in account_reads.calls if partition in c[1]] == ["Query", "Query"]
    assert not [c for c in account_reads.calls if c[1].startswith("EPOCH#")]


def test_a_snapshot_older_than_the_max_age_is_read_again(
    api: Any, gateway: Gateway, manager: httpx.Client, account_reads: AccountReads, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert chat(manager).status_code == 200
    ahead = account_cache.clock() + 61  # past ACCOUNT_CACHE_MS
    monkeypatch.setattr(account_cache, "clock", lambda: ahead)
    account_reads.calls.clear()

    assert chat(manager).status_code == 200

    partition = accounts.partition_key(gateway.customer.account_id)
    assert [c[0] for c in account_reads.calls if partition in c[1]] == ["Query"]


# --- gateway keys -------------------------------------------------------------------------------------------------


def test_a_deleted_key_is_refused_on_its_very_next_request_from_a_warm_instance(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    created = new_api_key(manager)
    with as_key(api, created["key"]) as service:
        assert [chat(service).status_code for _ in range(2)] == [200, 200]  # warm and reused

        assert manager.delete(f"/v1/api-keys/{created['id']}").status_code == 204

        refused = chat(service)
    assert refused.status_code == 401
    assert created["key"] not in refused.text


def test_a_revoked_key_is_refused_by_every_warm_instance(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = new_api_key(manager)
    service = as_key(api, created["key"])
    assert chat(service).status_code == 200  # this instance is warm
    with other_instance(monkeypatch):
        assert chat(service).status_code == 200  # and so is another
    fingerprint = api_keys.api_key_fingerprint(api_keys.hash_api_key(created["key"]))

    assert api_keys.revoke_api_key(gateway.customer.account_id, fingerprint)  # make admin revoke-key

    assert chat(service).status_code == 401
    with other_instance(monkeypatch):
        assert chat(service).status_code == 401
    service.close()


def test_a_key_restricted_to_other_models_is_refused_at_once(api: Any, gateway: Gateway, manager: httpx.Client) -> None:
    created = new_api_key(manager)
    with as_key(api, created["key"]) as service:
        assert chat(service).status_code == 200
        patched = manager.patch(f"/v1/api-keys/{created['id']}", json={"allowed_models": ["deepseek/deepseek-v3.2"]})
        assert patched.status_code == 200, patched.text

        refused = chat(service)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"


def test_a_forged_key_never_reaches_the_cached_snapshot_of_the_account_it_names(
    api: Any, gateway: Gateway, manager: httpx.Client, account_reads: AccountReads
) -> None:
    assert chat(manager).status_code == 200  # the account's snapshot is cached
    account_hex = gateway.customer.account_id.removeprefix("acct_")
    account_reads.calls.clear()

    with as_key(api, f"gwk_{account_hex}_not-the-secret") as forger:
        refused = chat(forger)

    assert refused.status_code == 401
    assert [c[0] for c in account_reads.calls] == ["GetItem"], "only the forged hash's item, no epoch, no snapshot"
    assert account_reads.calls[0][1] == accounts.partition_key(gateway.customer.account_id)


def test_another_account_never_gets_a_cached_snapshot_of_the_first(api: Any, gateway: Gateway) -> None:
    other = gateway.create_customer("other", credits="0")
    with as_key(api, gateway.api_key) as first, as_key(api, other.api_key) as second:
        assert chat(first).status_code == 200
        assert chat(second).status_code == 402  # its own empty balance, not the first account's
        assert chat(first).status_code == 200

    for key, account_id in ((gateway.api_key, gateway.customer.account_id), (other.api_key, other.account_id)):
        snapshot = api_keys.authenticate(key, reuse=True)
        assert snapshot is not None and snapshot.reused
        assert snapshot.account.account_id == account_id
        assert snapshot.caller is not None and snapshot.caller.digest == api_keys.hash_api_key(key)


def test_each_request_gets_its_own_copy_of_a_cached_snapshot(gateway: Gateway) -> None:
    first = api_keys.authenticate(gateway.api_key, reuse=True)
    second = api_keys.authenticate(gateway.api_key, reuse=True)
    assert first is not None and second is not None and second.reused

    second.caller = None
    second.api_keys.clear()
    second.key_cooldowns["k_mutated"] = 1

    third = api_keys.authenticate(gateway.api_key, reuse=True)
    assert third is not None and third.reused
    assert third.caller is not None and third.api_keys
    assert "k_mutated" not in third.key_cooldowns


# --- BYOK keys ----------------------------------------------------------------------------------------------------


def served_by(gateway: Gateway) -> str | None:
    calls = [r for r in gateway.sim.requests if "chat/completions" in r.path]
    return calls[-1].credential if calls else None


@pytest.mark.parametrize("change", ["disable", "delete"])
def test_a_byok_key_disabled_or_deleted_is_not_used_by_the_next_request(
    api: Any, gateway: Gateway, manager: httpx.Client, change: str
) -> None:
    credentials = byok_credentials(gateway.sim, "openai")
    key = add_key(api.url, gateway.api_key, "openai", credentials)
    assert chat(manager).status_code == 200
    assert chat(manager).status_code == 200  # reused
    assert served_by(gateway) == credential_id(credentials)

    if change == "disable":
        answer = manager.patch(f"/v1/byok/keys/{key['id']}", json={"enabled": False})
        assert answer.status_code == 200, answer.text
    else:
        assert manager.delete(f"/v1/byok/keys/{key['id']}").status_code == 204

    assert chat(manager).status_code == 200
    assert served_by(gateway) == credential_id(PLATFORM_API_KEYS["openai"])


def test_a_byok_key_added_serves_the_next_request(api: Any, gateway: Gateway, manager: httpx.Client) -> None:
    assert chat(manager).status_code == 200
    assert served_by(gateway) == credential_id(PLATFORM_API_KEYS["openai"])
    credentials = byok_credentials(gateway.sim, "openai")
    add_key(api.url, gateway.api_key, "openai", credentials)

    assert chat(manager).status_code == 200
    assert served_by(gateway) == credential_id(credentials)


# --- credits and debt ---------------------------------------------------------------------------------------------


def test_credits_added_are_usable_at_once(api: Any, gateway: Gateway) -> None:
    broke = gateway.create_customer("broke", credits="0")
    with as_key(api, broke.api_key) as http:
        assert chat(http).status_code == 402
        assert chat(http).status_code == 402  # reused

        accounts.add_credits(broke.account_id, Decimal("5"))  # make admin add-credits

        assert chat(http).status_code == 200


def test_debt_is_seen_at_once_both_ways(api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = gateway.create_customer("spender", credits="1")
    with as_key(api, customer.api_key) as http:
        assert chat(http).status_code == 200
        with other_instance(monkeypatch):
            assert chat(http).status_code == 200

        # When a settlement above the balance leaves the account in debt (on some instance)
        assert holds.charge_over_hold(customer.account_id, 2 * 10**9)

        # Then no warm instance plans shared capacity for it any more
        in_debt = chat(http)
        assert in_debt.status_code == 402 and in_debt.json()["error"]["code"] == "account_in_debt"
        with other_instance(monkeypatch):
            assert chat(http).json()["error"]["code"] == "account_in_debt"

        # And credits that pay the debt serve the very next request
        accounts.add_credits(customer.account_id, Decimal("5"))
        assert chat(http).status_code == 200


def test_credits_given_back_by_holds_serve_a_snapshot_that_showed_none(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given requests in flight (on other instances) that hold the whole balance while this instance reads it
    customer = gateway.create_customer("busy", credits="1")
    assert holds.hold_credits(customer.account_id, "h-in-flight", 10**9, expires_at=4_000_000_000)
    with as_key(api, customer.api_key) as http:
        assert chat(http).status_code == 402

        # When they end and give their holds back (no epoch move: it happens on every settlement)
        assert holds.close_hold(customer.account_id, "h-in-flight", 10**9)

        # Then the reused snapshot's empty balance is checked before a refusal: the request is served
        assert chat(http).status_code == 200


# --- concurrency --------------------------------------------------------------------------------------------------


def test_rate_limits_stay_exact_across_instances_with_stale_cached_counters(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch, serialized_dynamodb: None
) -> None:
    monkeypatch.setattr(api_keys, "clock", lambda: 1_800_000_000.0 + 1)
    created = new_api_key(manager, rate_limit_rpm=40)  # slots are taken two at a time
    service = as_key(api, created["key"])
    # Given an instance whose cached snapshot shows the key's counters before this minute
    assert chat(service).status_code == 200
    api_keys._rate_slots.clear()  # its slot taken, its book forgotten: the next one reads its stale counters

    # When another instance takes most of the minute's slots (two at a time: 32 of 40 taken on the key's item)
    with other_instance(monkeypatch):
        others = [chat(service).status_code for _ in range(30)]

    # Then the first, with its stale counters, still takes exactly what is left, and no more, concurrently
    with ThreadPoolExecutor(max_workers=8) as pool:
        mine = list(pool.map(lambda _: chat(service).status_code, range(12)))
    service.close()
    assert others == [200] * 30
    assert sorted(mine) == [200] * 8 + [429] * 4
    item = accounts._table().get_item(
        Key={
            "pk": accounts.partition_key(gateway.customer.account_id),
            "sk": f"APIKEY#{api_keys.hash_api_key(created['key'])}",
        }
    )["Item"]
    assert int(item["rate_count"]) == 40


def test_concurrent_holds_from_cached_snapshots_never_pass_a_budget(
    api: Any, gateway: Gateway, manager: httpx.Client, serialized_dynamodb: None
) -> None:
    created = new_api_key(manager, limit={"usd": 1, "period": "day"})
    snapshots = [api_keys.authenticate(created["key"], reuse=True) for _ in range(20)]
    assert all(s is not None for s in snapshots) and snapshots[-1].reused  # type: ignore[union-attr]

    def hold(snapshot: accounts.AccountSnapshot) -> bool:
        return (
            credits.reserve(snapshot.account.account_id, Decimal("0.3"), budgets.request_budgets(snapshot)) is not None
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        held = list(pool.map(hold, snapshots))  # type: ignore[arg-type]

    assert held.count(True) == 3
    profile = accounts.profile_item(gateway.customer.account_id)
    assert profile is not None
    spend = [int(v) for k, v in profile.items() if k.startswith("spend_") and "shared" not in k]
    assert spend == [9 * 10**8]


def test_a_change_cancelled_by_a_concurrent_transaction_on_the_epoch_is_run_again(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from gateway.core import aws

    client = aws.dynamodb().meta.client
    real = client.transact_write_items
    calls: list[dict[str, Any]] = []

    def conflicting_once(**request: Any) -> Any:
        calls.append(request)
        if len(calls) == 1:  # another change of the account moved the same epoch replicas at that moment
            reasons = [{"Code": "None"}] + [{"Code": "TransactionConflict"}] * (len(request["TransactItems"]) - 1)
            error = {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}}
            raise ClientError({**error, "CancellationReasons": reasons}, "TransactWriteItems")  # type: ignore[arg-type]
        return real(**request)

    monkeypatch.setattr(client, "transact_write_items", conflicting_once)

    accounts.set_shared_limit(gateway.customer.account_id, {"usd": 5, "period": "day"})

    assert len(calls) == 2
    profile = accounts.load_profile(gateway.customer.account_id)
    assert profile is not None and profile.shared_limit == {"usd": 5, "period": "day"}
