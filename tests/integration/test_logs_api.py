"""GET /v1/logs and GET /v1/logs/{request_id} through API Gateway's proxy events, over moto's logs table.

Records are written with ``gateway.data.request_log.save_request``, the routing loop's own write path, then read
back as a customer would: newest first, paginated with opaque cursors, filtered, and never another customer's.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import request_log as logs
from gateway.data.request_log import AttemptRecord, RequestRecord
from gateway.security.redact import redact
from local.apigw import HttpRequest, Router
from tests.conftest import Customer, Gateway, configure

Call = Callable[..., tuple[int, dict[str, Any]]]
LEAKED_KEY = "sk-proj-Zq81Lm2Pz9Rt4Vn8Kc3Wd6Hb1Jf5Gs0Ya2Ue7Io4"


@pytest.fixture
def call(gateway: Gateway) -> Call:
    """``call(customer, path, **query)``: one GET through the template's routes, as API Gateway sends it."""
    router = Router.from_template(stage="test")

    def get(customer: Customer | None, path: str, **query: Any) -> tuple[int, dict[str, Any]]:
        target = f"{path}?{urlencode(query)}" if query else path
        headers = [("Authorization", f"Bearer {customer.api_key}")] if customer else []
        response = router.handle(HttpRequest("GET", target, headers))
        assert response.header("x-request-id")
        return response.status, json.loads(response.body)

    return get


def request_id_at(epoch_ms: int) -> str:
    return f"req_{epoch_ms:012x}{secrets.token_hex(8)}"


def record_at(account_id: str, epoch_ms: int, *, is_byok: bool, status: str, **fields: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "request_id": request_id_at(epoch_ms),
        "account_id": account_id,
        "created_at": datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        "model": "deepseek/deepseek-v3.2",
        "provider": "deepseek" if status == "success" else None,
        "is_byok": is_byok,
        "status": status,
        "http_status": 200 if status == "success" else 502,
        "latency_ms": 300,
        "prompt_tokens": 11,
        "completion_tokens": 7 if status == "success" else 0,
        "cost": Decimal(0) if is_byok else Decimal("0.00042"),
        "stream": False,
        "attempts": [
            AttemptRecord(
                attempt=1,
                provider="deepseek",
                credential="byok" if is_byok else "shared",
                key_id="key_000000000000000000000001" if is_byok else None,
                status_code=200 if status == "success" else 503,
                outcome="success" if status == "success" else "error",
                error=None if status == "success" else "503 overloaded",
                latency_ms=290,
            )
        ],
    }
    values.update(fields)
    return RequestRecord(**values)


@pytest.fixture
def history(gateway: Gateway) -> dict[str, Any]:
    """45 requests of the test customer (mixed BYOK/shared and success/error) and 5 of another, interleaved."""
    other = gateway.create_customer("other")
    start = int(time.time() * 1000) - 60_000
    mine = [
        record_at(
            gateway.customer.account_id,
            start + i * 1000,
            is_byok=i % 3 == 0,
            status="error" if i % 4 == 1 else "success",
        )
        for i in range(45)
    ]
    theirs = [record_at(other.account_id, start + i * 9000 + 500, is_byok=True, status="success") for i in range(5)]
    for record in mine + theirs:
        logs.save_request(record)
    return {"mine": mine, "other": other, "theirs": theirs}


def all_pages(call: Call, customer: Customer, **query: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(20):
        status, body = call(customer, "/v1/logs", **query, **({"cursor": cursor} if cursor else {}))
        assert status == 200, body
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination never ended")


def newest_first_ids(records: list[RequestRecord], keep: Callable[[RequestRecord], bool]) -> list[str]:
    return sorted((r.request_id for r in records if keep(r)), reverse=True)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ({}, lambda r: True),
        ({"is_byok": "true"}, lambda r: r.is_byok),
        ({"is_byok": "false"}, lambda r: not r.is_byok),
        ({"status": "error"}, lambda r: r.status == "error"),
        ({"status": "success"}, lambda r: r.status == "success"),
        ({"is_byok": "false", "status": "error"}, lambda r: not r.is_byok and r.status == "error"),
    ],
    ids=["all", "byok", "shared", "errors", "successes", "shared-errors"],
)
def test_pages_are_newest_first_full_and_complete(
    call: Call,
    gateway: Gateway,
    history: dict[str, Any],
    query: dict[str, str],
    keep: Callable[[RequestRecord], bool],
) -> None:
    # Given 45 requests of the customer, When they page through them 10 at a time with a filter
    pages = all_pages(call, gateway.customer, limit=10, **query)

    # Then every matching request comes exactly once, newest first, in full pages but the last
    returned = [item["request_id"] for page in pages for item in page]
    assert returned == newest_first_ids(history["mine"], keep)
    assert all(len(page) == 10 for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= 10
    returned_records = [item for page in pages for item in page]
    if "is_byok" in query:
        assert {item["is_byok"] for item in returned_records} == {query["is_byok"] == "true"}
    if "status" in query:
        assert {item["status"] for item in returned_records} == {query["status"]}


def test_the_default_page_is_the_newest_twenty(call: Call, gateway: Gateway, history: dict[str, Any]) -> None:
    status, body = call(gateway.customer, "/v1/logs")
    assert status == 200
    assert [item["request_id"] for item in body["data"]] == newest_first_ids(history["mine"], lambda r: True)[:20]
    assert body["next_cursor"]


def test_a_customer_never_sees_another_customers_logs(call: Call, gateway: Gateway, history: dict[str, Any]) -> None:
    other: Customer = history["other"]
    theirs = {r.request_id for r in history["theirs"]}
    mine = {r.request_id for r in history["mine"]}

    # The other customer's list holds only their own requests
    [page] = all_pages(call, other, limit=100)
    assert {item["request_id"] for item in page} == theirs

    # Each side's ids are not found by the other, exactly like a missing id
    status, body = call(other, f"/v1/logs/{history['mine'][0].request_id}")
    assert status == 404
    missing_status, missing_body = call(other, f"/v1/logs/{request_id_at(1)}")
    assert (missing_status, missing_body) == (status, body)
    assert call(gateway.customer, f"/v1/logs/{history['theirs'][0].request_id}")[0] == 404

    # And a cursor taken from the customer's pages gives the other customer only their own requests
    status, body = call(gateway.customer, "/v1/logs", limit=10)
    cursor = body["next_cursor"]
    status, body = call(other, "/v1/logs", limit=100, cursor=cursor)
    assert status in (200, 400)
    if status == 200:
        seen = {item["request_id"] for item in body["data"]}
        assert seen <= theirs
        assert not seen & mine


def test_one_request_reads_back_with_its_attempts_in_order(call: Call, gateway: Gateway) -> None:
    # Given a request that failed over three times before shared anthropic served it
    account_id = gateway.customer.account_id
    record = RequestRecord(
        request_id=request_id_at(int(time.time() * 1000)),
        account_id=account_id,
        created_at="2026-02-03T04:05:06.789Z",
        model="anthropic/claude-sonnet-4.5",
        provider="anthropic",
        is_byok=False,
        status="success",
        http_status=200,
        latency_ms=4321,
        prompt_tokens=120,
        completion_tokens=48,
        cost=Decimal("0.00108"),
        stream=True,
        attempts=[
            # errors as run_attempt hands them over: redacted once, at the source (scrub.redact)
            AttemptRecord(1, "amazon-bedrock", "byok", "key_bedrock0000000000000001", 403, "error",
                          redact(f"403 AccessDenied for {LEAKED_KEY}"), 210),
            AttemptRecord(2, "google-vertex", "byok", "key_vertex00000000000000001", None, "timeout",
                          "no answer within 9000 ms", 9000),
            AttemptRecord(3, "amazon-bedrock", "shared", None, None, "connection_error",
                          "connection refused", 15),
            AttemptRecord(4, "anthropic", "shared", None, 200, "success", None, 1800),
        ],
    )  # fmt: skip
    logs.save_request(record)

    # When the customer asks for it
    status, body = call(gateway.customer, f"/v1/logs/{record.request_id}")

    # Then it reads back whole, attempts in order, errors redacted, key ids only for BYOK
    assert status == 200, body
    assert body["request_id"] == record.request_id
    assert body["created_at"] == "2026-02-03T04:05:06.789Z"
    assert body["model"] == "anthropic/claude-sonnet-4.5"
    assert body["provider"] == "anthropic"
    assert body["is_byok"] is False
    assert (body["status"], body["http_status"], body["latency_ms"]) == ("success", 200, 4321)
    assert body["usage"] == {"prompt_tokens": 120, "completion_tokens": 48}
    assert body["cost"] == pytest.approx(0.00108)
    attempts = body["attempts"]
    assert [(a["attempt"], a["provider"], a["credential"], a["status_code"], a["outcome"]) for a in attempts] == [
        (1, "amazon-bedrock", "byok", 403, "error"),
        (2, "google-vertex", "byok", None, "timeout"),
        (3, "amazon-bedrock", "shared", None, "connection_error"),
        (4, "anthropic", "shared", 200, "success"),
    ]
    assert [a.get("key_id") for a in attempts] == [
        "key_bedrock0000000000000001",
        "key_vertex00000000000000001",
        None,
        None,
    ]
    assert attempts[0]["error"].startswith("403 AccessDenied for")
    assert attempts[1]["error"] == "no answer within 9000 ms"
    assert attempts[3]["error"] is None
    assert [a["latency_ms"] for a in attempts] == [210, 9000, 15, 1800]

    # And the stored item expires after LOG_TTL_DAYS and holds no secret
    item = aws.table(get_settings().logs_table).get_item(Key=logs.record_key(account_id, record.request_id))["Item"]
    expected_expiry = time.time() + get_settings().log_ttl_days * 86_400
    assert abs(int(item["expires_at"]) - expected_expiry) < 120
    assert LEAKED_KEY[8:20] not in json.dumps(item, default=str)

    # And it is the newest entry of the list
    status, listed = call(gateway.customer, "/v1/logs", limit=1)
    assert listed["data"] == [body]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", ""])
def test_a_bad_limit_is_a_400_naming_limit(call: Call, gateway: Gateway, limit: str) -> None:
    status, body = call(gateway.customer, "/v1/logs", limit=limit)
    assert status == 400
    assert body["error"]["param"] == "limit"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"is_byok": "yes"}, "is_byok"),
        ({"status": "pending"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eyJwayI6ICJhY2N0X290aGVyIn0"}, "cursor"),
    ],
)
def test_bad_filters_and_cursors_are_a_400_naming_them(
    call: Call, gateway: Gateway, query: dict[str, str], param: str
) -> None:
    status, body = call(gateway.customer, "/v1/logs", **query)
    assert status == 400
    assert body["error"]["param"] == param


@pytest.mark.parametrize("request_id", ["nope", "req_123", "req_" + "g" * 28, "x" * 2000])
def test_a_malformed_request_id_is_not_found(call: Call, gateway: Gateway, request_id: str) -> None:
    status, body = call(gateway.customer, f"/v1/logs/{request_id}")
    assert status == 404
    assert body["error"]["type"] == "not_found_error"


def test_logs_need_a_gateway_api_key(call: Call, gateway: Gateway) -> None:
    assert call(None, "/v1/logs")[0] == 401
    assert call(None, f"/v1/logs/{request_id_at(1)}")[0] == 401


def test_an_empty_history_is_one_empty_page(call: Call, gateway: Gateway) -> None:
    assert call(gateway.customer, "/v1/logs") == (200, {"data": [], "next_cursor": None})


@pytest.fixture
def query_reads(gateway: Gateway) -> Iterator[list[dict[str, Any]]]:
    """Every DynamoDB Query the logs table's client makes: its parameters and how many items it read."""
    name = get_settings().logs_table
    client = aws.table(name).meta.client
    seen: list[dict[str, Any]] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        seen.append({"table": params["TableName"], "index": params.get("IndexName")})

    def read(parsed: dict[str, Any], **_: Any) -> None:
        seen[-1]["scanned"] = parsed.get("ScannedCount", 0)

    client.meta.events.register("provide-client-params.dynamodb.Query", count)
    client.meta.events.register("after-call.dynamodb.Query", read)
    yield seen  # Queries of other tables (authentication) are filtered out by the test
    client.meta.events.unregister("provide-client-params.dynamodb.Query", count)
    client.meta.events.unregister("after-call.dynamodb.Query", read)


@pytest.mark.parametrize("shards", [1, 8])
def test_a_filtered_page_reads_a_bounded_number_of_items_whatever_the_account_holds(
    call: Call, gateway: Gateway, query_reads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, shards: int
) -> None:
    configure(monkeypatch, LOG_SHARDS=str(shards))
    # Given 2,000 records, of which 7 are BYOK errors, 40 shared errors and the rest successes
    start = int(time.time() * 1000) - 3_600_000
    byok_errors = set()
    table = aws.table(get_settings().logs_table)
    with table.batch_writer() as batch:
        for i in range(2000):
            is_byok = i % 300 == 7 or i % 2 == 0
            status = "error" if i % 300 == 7 or i % 50 == 3 else "success"
            record = record_at(gateway.customer.account_id, start + i * 1000, is_byok=is_byok, status=status)
            byok_errors |= {record.request_id} if is_byok and status == "error" else set()
            batch.put_item(Item=logs._to_item(record))
    query_reads.clear()

    # When the customer pages through their BYOK errors three at a time, and asks for shared errors and successes
    pages = all_pages(call, gateway.customer, status="error", is_byok="true", limit=3)
    for query in ({"status": "error"}, {"is_byok": "false"}, {"status": "success", "is_byok": "true"}):
        status, _ = call(gateway.customer, "/v1/logs", limit=5, **query)
        assert status == 200

    # Then every page is one Query per write shard on the filter's index, each reading one item more than the page
    # returns, at most (unsharded: exactly the records of the page plus one)
    query_reads[:] = [q for q in query_reads if q["table"] == get_settings().logs_table]
    assert sorted((r["request_id"] for page in pages for r in page), reverse=True) == sorted(byok_errors, reverse=True)
    assert len(pages) == 3
    indexes = ["by_byok_status"] * 3 + ["by_status", "by_byok", "by_byok_status"]
    assert [q["index"] for q in query_reads] == [index for index in indexes for _ in range(shards)]
    limits = [3] * 3 + [5] * 3
    assert all(q["scanned"] <= limits[n // shards] + 1 for n, q in enumerate(query_reads))
    if shards == 1:
        assert [q["scanned"] for q in query_reads] == [4, 4, 1, 6, 6, 6]
