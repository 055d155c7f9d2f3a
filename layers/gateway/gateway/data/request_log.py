"""Request logs: one record per gateway request in the logs table, one JSON line and EMF metrics per attempt.

The logs table is partitioned by account and write shard (``pk`` = account id, or ``<account id>#<shard>`` for
shards 1..LOG_SHARDS-1; ``sk`` = request id), so one busy account's writes spread over LOG_SHARDS partitions instead
of one (a DynamoDB partition takes about 1,000 writes a second). A record's shard comes from the random part of
its request id, so ``GET /v1/logs/{id}`` still reads one item; a page of ``GET /v1/logs`` queries each of the
account's shards for ``limit + 1`` records and merges them (request ids sort by creation time, so newest first).
Shard 0 is the bare account id: with LOG_SHARDS=1 the key is the unsharded one, and records written before the
count was raised stay listed and readable. Only this module touches the logs table. Records never hold prompt or
completion text; every upstream error string in them has passed through ``scrub.redact`` (in
``routing.run_attempt``) before it reaches this module.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import dataclasses
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from boto3.dynamodb.conditions import Key

from gateway.core import aws, observability
from gateway.core.errors import BadRequest
from gateway.core.observability import logger
from gateway.core.settings import get_settings

Credential = Literal["byok", "shared"]
Outcome = Literal["success", "error", "timeout", "connection_error", "stream_interrupted"]
Status = Literal["success", "error"]

_REQUEST_ID = re.compile(r"req_[0-9a-f]{28}")
_CURSOR_VERSION = 1
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,128}")
# GET /v1/logs filters: each combination is a Query on its own index, never a filtered read of the partition.
# A request record carries one key attribute per index (named as the index): the account's shard partition plus
# the filter values, with the request id as the sort key, so a filtered page reads at most ``limit + 1`` records
# of each shard (one more proves a next page exists), whatever the account holds, and the index's writes spread
# over the shards like the table's. Other items of the table (usage buckets) carry none of them and stay out of
# the indexes. A new filter (``api_key_id``) adds its combinations here and the matching GlobalSecondaryIndexes
# in template.yaml.
_FILTER_INDEXES: dict[frozenset[str], str] = {
    frozenset({"status"}): "by_status",
    frozenset({"is_byok"}): "by_byok",
    frozenset({"is_byok", "status"}): "by_byok_status",
    frozenset({"api_key_id"}): "by_key",
    frozenset({"api_key_id", "status"}): "by_key_status",
    frozenset({"api_key_id", "is_byok"}): "by_key_byok",
    frozenset({"api_key_id", "is_byok", "status"}): "by_key_byok_status",
}
_DAY_SECONDS = 86_400


@dataclass
class AttemptRecord:
    attempt: int
    provider: str
    credential: Credential
    key_id: str | None
    status_code: int | None
    outcome: Outcome
    error: str | None
    latency_ms: int
    model: str = ""  # catalog id of the model the attempt was for
    # USD taken from credits for this attempt: the served answer's usage, or the prompt of a shared attempt cut
    # after the upstream had it; 0 for BYOK and for a shared attempt that failed before its body was sent.
    cost: Decimal = Decimal(0)

    def fields(self) -> dict[str, Any]:
        """The attempt as stored, logged and returned: a key id only for BYOK. ``error`` is already redacted
        (``scrub.redact``, applied once by the attempt that made it)."""
        return {
            "attempt": self.attempt,
            "provider": self.provider,
            "credential": self.credential,
            "key_id": self.key_id if self.credential == "byok" else None,
            "status_code": self.status_code,
            "outcome": self.outcome,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "model": self.model,
            "cost": str(self.cost),
        }


@dataclass
class RequestRecord:
    request_id: str
    account_id: str
    created_at: str
    model: str
    provider: str | None
    is_byok: bool
    status: Status
    http_status: int
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    stream: bool
    attempts: list[AttemptRecord] = field(default_factory=list)
    api: Literal["chat", "messages", "responses", "embeddings"] = "chat"
    time_to_first_token_ms: int | None = None  # streamed answers: request start to the first delta sent
    api_key_id: str | None = None  # the gateway API key the request authenticated with

    def public(self) -> dict[str, Any]:
        """The request record of the HTTP contract: every field but the owner, tokens under ``usage``."""
        data = self.fields()
        del data["account_id"]
        data["usage"] = {"prompt_tokens": data.pop("prompt_tokens"), "completion_tokens": data.pop("completion_tokens")}
        data["cost"] = float(self.cost)
        for attempt in data["attempts"]:
            attempt["cost"] = float(attempt["cost"])
        return data

    def fields(self) -> dict[str, Any]:
        """Every field, JSON-ready (cost as an exact decimal string): what a lost table write logs instead."""
        data = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        data["cost"] = str(self.cost)
        data["attempts"] = [attempt.fields() for attempt in self.attempts]
        return data


def _table() -> Any:
    return aws.table(get_settings().logs_table)


def shard_of(request_id: str, shards: int) -> int:
    """The write shard of a request: its id's random part (after the 12 hex digits of time) modulo ``shards``."""
    return int(request_id[16:], 16) % shards


def partition(account_id: str, shard: int) -> str:
    """The table partition of one of an account's shards; shard 0 is the account id itself (today's key)."""
    return account_id if shard == 0 else f"{account_id}#{shard}"


def owner(partition_key: str) -> str:
    """The account a request record's partition belongs to."""
    return partition_key.split("#", 1)[0]


def record_key(account_id: str, request_id: str) -> dict[str, str]:
    """The table key of an account's request record under the current LOG_SHARDS."""
    return {"pk": partition(account_id, shard_of(request_id, get_settings().log_shards)), "sk": request_id}


def _filter_key(shard_partition: str, filters: dict[str, Any]) -> str:
    """The partition of one filter combination in its index: ``acct_...#3#is_byok=true#status=error``."""
    values = (f"{name}={str(value).lower()}" for name, value in sorted(filters.items()))
    return "#".join([shard_partition, *values])


def _to_item(record: RequestRecord) -> dict[str, Any]:
    item = record.fields()
    del item["request_id"], item["account_id"]
    key = record_key(record.account_id, record.request_id)
    filterable = {"status": record.status, "is_byok": record.is_byok, "api_key_id": record.api_key_id}
    index_keys = {
        index: _filter_key(key["pk"], {name: filterable[name] for name in names})
        for names, index in _FILTER_INDEXES.items()
        if all(filterable[name] is not None for name in names)  # a record without a key id stays out of by_key*
    }
    return {
        **key,
        **item,
        **index_keys,
        "cost": record.cost,
        "expires_at": int(time.time()) + get_settings().log_ttl_days * _DAY_SECONDS,
    }


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _from_item(item: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        request_id=item["sk"],
        account_id=owner(item["pk"]),
        created_at=item["created_at"],
        model=item["model"],
        provider=item.get("provider"),
        is_byok=bool(item["is_byok"]),
        status=item["status"],
        http_status=int(item["http_status"]),
        latency_ms=int(item["latency_ms"]),
        prompt_tokens=int(item["prompt_tokens"]),
        completion_tokens=int(item["completion_tokens"]),
        cost=Decimal(item["cost"]),
        stream=bool(item.get("stream", False)),
        api=item.get("api", "chat"),
        time_to_first_token_ms=_optional_int(item.get("time_to_first_token_ms")),
        api_key_id=item.get("api_key_id"),
        attempts=[
            AttemptRecord(
                attempt=int(a["attempt"]),
                provider=a["provider"],
                credential=a["credential"],
                key_id=a.get("key_id"),
                status_code=_optional_int(a.get("status_code")),
                outcome=a["outcome"],
                error=a.get("error"),
                latency_ms=int(a["latency_ms"]),
                model=a.get("model") or item["model"],
                cost=Decimal(a.get("cost") or 0),
            )
            for a in item.get("attempts", [])
        ],
    )


# The record an authenticated request gets if it ends in an error answer before routing records it (bad JSON,
# validation, limits, a gateway fault): set after authentication, saved by the HTTP layer's error handlers
# (``pending_record``).
PENDING: contextvars.ContextVar[tuple[RequestRecord, float] | None] = contextvars.ContextVar(
    "pending_record", default=None
)


def save_request(record: RequestRecord) -> None:
    """Store ``record`` (expiring after LOG_TTL_DAYS) and count it. Never raises and never loses the record:
    if the table write fails, the whole record goes to CloudWatch Logs as one JSON line instead."""
    pending = PENDING.get()
    if pending is not None and pending[0].request_id == record.request_id:
        PENDING.set(None)  # routing recorded the request itself
    try:
        _table().put_item(Item=_to_item(record))
    except Exception as error:  # any failure at all: the record must survive it
        try:
            logger.error(
                "request record (table write failed)",
                extra={"error_type": type(error).__name__, "record": record.fields()},
            )
            observability.count("LogWriteFailures", MetricUnit.Count, 1)
        except Exception:  # noqa: S110 - nothing is left to report to once stdout itself fails
            pass
    try:
        observability.count("Requests", MetricUnit.Count, 1)
        if record.status == "error":
            observability.count("RequestFailures", MetricUnit.Count, 1)
    except Exception:  # noqa: S110 - metrics are best effort; the record is already safe
        pass


def is_request_id(value: str) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None


def get_request(account_id: str, request_id: str) -> RequestRecord | None:
    """The caller's own record, or None: another account's id and a malformed id look exactly like a missing one.

    One read of the record's shard; only a miss there reads the unsharded key too, where a record written before
    LOG_SHARDS was raised from 1 lives."""
    if not is_request_id(request_id):
        return None
    table = _table()
    key = record_key(account_id, request_id)
    item = table.get_item(Key=key, ConsistentRead=True).get("Item")
    if item is None and key["pk"] != account_id:
        item = table.get_item(Key={"pk": account_id, "sk": request_id}, ConsistentRead=True).get("Item")
    return None if item is None else _from_item(item)


def encode_cursor(request_id: str) -> str:
    raw = bytes([_CURSOR_VERSION]) + request_id.encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The request id a cursor points after; BadRequest naming ``cursor`` for anything this module did not make."""
    invalid = BadRequest("cursor is not a cursor returned by GET /v1/logs", param="cursor", code="invalid_cursor")
    if _CURSOR_CHARS.fullmatch(cursor) is None:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        request_id = raw[1:].decode("ascii")
    except (binascii.Error, ValueError):
        raise invalid from None
    if raw[:1] != bytes([_CURSOR_VERSION]) or not is_request_id(request_id):
        raise invalid
    return request_id


def list_requests(
    account_id: str,
    *,
    limit: int,
    cursor: str | None,
    is_byok: bool | None,
    status: str | None,
    api_key_id: str | None = None,
) -> tuple[list[RequestRecord], str | None]:
    """Up to ``limit`` of the caller's records, newest first, and the cursor of the next page (None at the end).

    Each of the account's LOG_SHARDS shards is one Query, newest first, of at most ``limit + 1`` records older than
    the cursor: unfiltered, of the shard's partition; filtered, of the shard's partition of the filter
    combination's index. The page is the newest ``limit`` of their union, so it reads at most
    ``LOG_SHARDS * (limit + 1)`` items, whatever the account holds. Every key condition is built from the caller's
    own account: a cursor carries only a position (a request id), never whose records to read. Index reads are
    eventually consistent: a record written a moment ago may show a moment late.
    """
    given = (("is_byok", is_byok), ("status", status), ("api_key_id", api_key_id))
    filters = {name: value for name, value in given if value is not None}
    before = decode_cursor(cursor) if cursor else None
    index = _FILTER_INDEXES[frozenset(filters)] if filters else None
    items: list[dict[str, Any]] = []
    for shard in range(get_settings().log_shards):
        shard_partition = partition(account_id, shard)
        if index is None:
            items += _newest(Key("pk").eq(shard_partition), before, limit + 1, ConsistentRead=True)
        else:
            condition = Key(index).eq(_filter_key(shard_partition, filters))
            items += _newest(condition, before, limit + 1, IndexName=index)
    items.sort(key=lambda item: str(item["sk"]), reverse=True)
    records = [_from_item(item) for item in items[:limit]]
    next_cursor = encode_cursor(records[-1].request_id) if len(items) > limit else None
    return records, next_cursor


def _newest(condition: Any, before: str | None, count: int, **options: Any) -> list[dict[str, Any]]:
    """Up to ``count`` items of one partition, newest first, with request ids below ``before`` when given."""
    if before is not None:
        condition = condition & Key("sk").lt(before)
    query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False, **options}
    table = _table()
    items: list[dict[str, Any]] = []
    start_key: dict[str, Any] | None = None
    while len(items) < count:  # more than one Query only when a page hits DynamoDB's 1 MB read limit
        page = table.query(**query, Limit=count - len(items), **({"ExclusiveStartKey": start_key} if start_key else {}))
        items.extend(page.get("Items", []))
        start_key = page.get("LastEvaluatedKey")
        if start_key is None:
            break
    return items
