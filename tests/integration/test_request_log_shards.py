"""The request log's write shards, over moto's logs table as template.yaml declares it.

One account's records spread over LOG_SHARDS partitions (and index partitions); a page of ``list_requests`` merges
one bounded Query per shard, newest first, with cursors and filters, and never reaches another account's records.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway.billing import hourly_usage
from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import request_log
from gateway.data.request_log import RequestRecord
from tests.conftest import configure

SHARDS = 4
MINE = "acct_" + "a" * 24
THEIRS = "acct_" + "b" * 24
KEY = "gk_" + "1" * 24
START = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def logs_table(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    from local.provision import provision

    stack = provision(stage="test")
    configure(monkeypatch, LOGS_TABLE=stack.logs_table, LOG_SHARDS=str(SHARDS))
    return stack.logs_table


@pytest.fixture
def calls(logs_table: str) -> Iterator[list[dict[str, Any]]]:
    """Every read of the logs table: the operation, its index, its Limit and how many items DynamoDB read."""
    client = aws.table(logs_table).meta.client
    seen: list[dict[str, Any]] = []

    def sent(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append({"op": model.name, "index": params.get("IndexName"), "limit": params.get("Limit")})

    def read(parsed: dict[str, Any], **_: Any) -> None:
        seen[-1]["scanned"] = parsed.get("ScannedCount", 1 if "Item" in parsed else 0)

    for op in ("Query", "GetItem"):
        client.meta.events.register(f"provide-client-params.dynamodb.{op}", sent)
        client.meta.events.register(f"after-call.dynamodb.{op}", read)
    yield seen
    for op in ("Query", "GetItem"):
        client.meta.events.unregister(f"provide-client-params.dynamodb.{op}", sent)
        client.meta.events.unregister(f"after-call.dynamodb.{op}", read)


def record(account_id: str, second: int, rng: random.Random, **fields: Any) -> RequestRecord:
    moment = START + timedelta(seconds=second)
    n = second // 2  # the other account's records sit at the odd seconds between
    values: dict[str, Any] = {
        "request_id": f"req_{int(moment.timestamp() * 1000):012x}{rng.getrandbits(64):016x}",
        "account_id": account_id,
        "created_at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "model": "deepseek/deepseek-v3.2",
        "provider": "deepseek",
        "is_byok": n % 3 == 0,
        "status": "error" if n % 4 == 1 else "success",
        "http_status": 200,
        "latency_ms": 100,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cost": Decimal(0),
        "stream": False,
        "api_key_id": KEY if n % 2 == 0 else None,
    }
    return RequestRecord(**(values | fields))


@pytest.fixture
def history(logs_table: str) -> dict[str, list[RequestRecord]]:
    """60 records of mine and 60 of another account, interleaved in time, saved through the write path."""
    rng = random.Random(24)
    mine = [record(MINE, 2 * n, rng) for n in range(60)]
    theirs = [record(THEIRS, 2 * n + 1, rng, status="error", is_byok=True, api_key_id=KEY) for n in range(60)]
    for item in mine + theirs:
        request_log.save_request(item)
    return {"mine": mine, "theirs": theirs}


def pages(account_id: str, limit: int, **filters: Any) -> list[list[str]]:
    found: list[list[str]] = []
    cursor: str | None = None
    while True:
        records, cursor = request_log.list_requests(
            account_id,
            limit=limit,
            cursor=cursor,
            is_byok=filters.get("is_byok"),
            status=filters.get("status"),
            api_key_id=filters.get("api_key_id"),
        )
        assert all(r.account_id == account_id for r in records)
        found.append([r.request_id for r in records])
        if cursor is None:
            return found
        assert len(found) < 100, "pagination never ended"


def test_one_accounts_records_spread_over_every_shard_and_its_indexes(
    logs_table: str, history: dict[str, list[RequestRecord]]
) -> None:
    # Given 60 records of one account, When they are stored
    items = aws.table(logs_table).scan()["Items"]
    mine = [item for item in items if request_log.owner(item["pk"]) == MINE]

    # Then every shard partition holds some, and the indexes' partitions are the shards' too
    partitions = Counter(item["pk"] for item in mine)
    assert set(partitions) == {MINE, *(f"{MINE}#{n}" for n in range(1, SHARDS))}
    assert max(partitions.values()) < 30  # no shard takes half of the account's writes
    assert {item["by_status"].rsplit("#", 1)[0] for item in mine} == set(partitions)
    for item in mine:
        assert item["pk"] == request_log.record_key(MINE, item["sk"])["pk"]
        assert item["by_byok_status"].startswith(item["pk"] + "#is_byok=")


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "error"}, {"is_byok": True}, {"api_key_id": KEY}, {"is_byok": False, "status": "success"}],
    ids=["all", "errors", "byok", "api-key", "shared-successes"],
)
def test_pages_across_shards_are_newest_first_complete_and_only_mine(
    history: dict[str, list[RequestRecord]], filters: dict[str, Any]
) -> None:
    # When I page through my records 7 at a time, with a filter
    found = pages(MINE, 7, **filters)

    # Then each matching record of mine comes exactly once, newest first, in full pages but the last
    def keep(r: RequestRecord) -> bool:
        return all(getattr(r, name) == value for name, value in filters.items())

    expected = sorted((r.request_id for r in history["mine"] if keep(r)), reverse=True)
    assert len(expected) >= 10
    assert [request_id for page in found for request_id in page] == expected
    assert all(len(page) == 7 for page in found[:-1])
    # And the other account's records (interleaved in time, all BYOK errors of the same key id) never appear
    assert not {r.request_id for r in history["theirs"]} & set(expected)


def test_a_page_is_one_bounded_query_per_shard(
    history: dict[str, list[RequestRecord]], calls: list[dict[str, Any]]
) -> None:
    # When I read a page of 5 errors, then the page after it
    first, cursor = request_log.list_requests(MINE, limit=5, cursor=None, is_byok=None, status="error")
    request_log.list_requests(MINE, limit=5, cursor=cursor, is_byok=None, status="error")

    # Then each page is one Query per shard on the filter's index, none reading more than limit + 1 items
    assert [c["index"] for c in calls] == ["by_status"] * 2 * SHARDS
    assert all(c["limit"] <= 6 and c["scanned"] <= 6 for c in calls)
    assert len(first) == 5


def test_a_cursor_carries_no_account(history: dict[str, list[RequestRecord]]) -> None:
    # Given a cursor from the other account's list
    _, their_cursor = request_log.list_requests(THEIRS, limit=3, cursor=None, is_byok=None, status=None)
    assert their_cursor is not None

    # When I use it, Then I get my own records older than that position, never theirs
    records, _ = request_log.list_requests(MINE, limit=100, cursor=their_cursor, is_byok=None, status=None)
    position = request_log.decode_cursor(their_cursor)
    assert [r.request_id for r in records] == sorted(
        (r.request_id for r in history["mine"] if r.request_id < position), reverse=True
    )


def test_a_record_is_one_read_and_only_its_owners(
    history: dict[str, list[RequestRecord]], calls: list[dict[str, Any]]
) -> None:
    # When I read each of my records by id
    for mine in history["mine"]:
        found = request_log.get_request(MINE, mine.request_id)
        assert found is not None
        assert (found.request_id, found.account_id) == (mine.request_id, MINE)

    # Then each is one GetItem
    assert [c["op"] for c in calls] == ["GetItem"] * len(history["mine"])

    # And the other account's ids are not found by me
    assert all(request_log.get_request(MINE, r.request_id) is None for r in history["theirs"][:10])


def test_records_written_unsharded_stay_listed_and_readable_after_the_count_is_raised(
    logs_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given records written with LOG_SHARDS=1 (today's key: the account id)
    rng = random.Random(7)
    configure(monkeypatch, LOG_SHARDS="1")
    before = [record(MINE, n, rng) for n in range(10)]
    for item in before:
        request_log.save_request(item)
    assert {item["pk"] for item in aws.table(logs_table).scan()["Items"]} == {MINE}

    # When the count is raised and more records are written
    configure(monkeypatch, LOG_SHARDS="8")
    after = [record(MINE, n, rng) for n in range(10, 20)]
    for item in after:
        request_log.save_request(item)

    # Then the list holds both, newest first, and each is readable by id
    assert [rid for page in pages(MINE, 6) for rid in page] == sorted(
        (r.request_id for r in before + after), reverse=True
    )
    assert all(request_log.get_request(MINE, r.request_id) is not None for r in before + after)


def test_usage_counts_a_sharded_record_for_its_account(history: dict[str, list[RequestRecord]]) -> None:
    # Given a stored record in a shard other than 0
    sharded = next(r for r in history["mine"] if request_log.record_key(MINE, r.request_id)["pk"] != MINE)
    item = aws.table(get_settings().logs_table).get_item(Key=request_log.record_key(MINE, sharded.request_id))["Item"]

    # When the usage stream reads it, Then it counts for the account itself
    usage = hourly_usage.from_record(item)
    assert usage is not None
    assert usage.account_id == MINE
