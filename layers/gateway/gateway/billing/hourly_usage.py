"""Hourly usage per account (requests, errors and cost, BYOK and shared apart) for the dashboard's 24-hour chart.

The buckets are kept off the request's critical path: the chat function only writes its request record; the
logs table's DynamoDB stream feeds ``add_request`` (the UsageFunction), which ADDs the record into its hour.
A bucket lives in the logs table under its own partition (``usage#<account id>``, sort key the hour), so a
customer's request Query never meets one, and it expires with TTL like the records it sums. Reading the last
24 hours is one Query of at most 25 small items, however busy the account. A record made with a gateway API key
is also added, in the same transaction, to that key's own buckets (``usage#<account id>#<api key id>``), which
``GET /v1/usage?api_key_id=`` reads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.conditions import Key

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import request_log

BUCKET_PREFIX = "usage#"
HOURS = 24
NANO = Decimal(1_000_000_000)
_DAY_SECONDS = 86_400
Credential = Literal["byok", "shared"]
CREDENTIALS: tuple[Credential, ...] = ("byok", "shared")


@dataclass(frozen=True)
class RequestUsage:
    """What one request record adds to its hour."""

    account_id: str
    hour: datetime
    credential: Credential
    error: bool
    cost_nano: int
    api_key_id: str | None = None


def _table() -> Any:
    return aws.table(get_settings().logs_table)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_key(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H")


def from_record(item: dict[str, Any]) -> RequestUsage | None:
    """The usage of a stored request record (plain Python values), or None for an item that is not one."""
    partition = item.get("pk")
    created_at = item.get("created_at")
    if not isinstance(partition, str) or partition.startswith(BUCKET_PREFIX) or not isinstance(created_at, str):
        return None
    if not str(item.get("sk", "")).startswith("req_"):
        return None
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        cost_nano = int((Decimal(str(item.get("cost", 0))) * NANO).to_integral_value())
    except (ValueError, ArithmeticError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return RequestUsage(
        account_id=request_log.owner(partition),  # a record's partition is its account's write shard
        hour=_hour(moment),
        credential="byok" if item.get("is_byok") else "shared",
        error=item.get("status") == "error",
        cost_nano=max(0, cost_nano),
        api_key_id=item.get("api_key_id") if isinstance(item.get("api_key_id"), str) else None,
    )


def _partition(account_id: str, api_key_id: str | None) -> str:
    return BUCKET_PREFIX + account_id + (f"#{api_key_id}" if api_key_id else "")


def add_request(usage: RequestUsage) -> None:
    """ADD one request into its hour (the account's, and its API key's in the same transaction): atomic, so
    concurrent batches and shards never lose a count, and a retry never counts one bucket twice."""
    prefix = usage.credential
    expires_at = int(usage.hour.timestamp()) + get_settings().log_ttl_days * _DAY_SECONDS
    update = {
        "UpdateExpression": (
            f"ADD {prefix}_requests :one, {prefix}_errors :errors, {prefix}_cost_nano :cost SET expires_at = :expires"
        ),
        "ExpressionAttributeValues": {
            ":one": 1,
            ":errors": 1 if usage.error else 0,
            ":cost": usage.cost_nano,
            ":expires": expires_at,
        },
    }
    if usage.api_key_id is None:
        _table().update_item(Key={"pk": _partition(usage.account_id, None), "sk": _hour_key(usage.hour)}, **update)
        return
    table_name = get_settings().logs_table
    aws.dynamodb().meta.client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table_name,
                    "Key": {"pk": _partition(usage.account_id, key_id), "sk": _hour_key(usage.hour)},
                    **update,
                }
            }
            for key_id in (None, usage.api_key_id)
        ]
    )


def last_hours(
    account_id: str, *, now: datetime | None = None, hours: int = HOURS, api_key_id: str | None = None
) -> list[dict[str, Any]]:
    """The account's (or, with ``api_key_id``, that key's) last ``hours`` hours, oldest first, ending with the
    current (partial) hour; empty hours are zeros. Cost is in USD, exactly the sum of the records' costs."""
    current = _hour(now or datetime.now(UTC))
    first = current - timedelta(hours=hours - 1)
    response = _table().query(
        KeyConditionExpression=Key("pk").eq(_partition(account_id, api_key_id)) & Key("sk").gte(_hour_key(first)),
        ConsistentRead=True,
    )
    found = {item["sk"]: item for item in response.get("Items", [])}
    buckets: list[dict[str, Any]] = []
    for offset in range(hours):
        hour = first + timedelta(hours=offset)
        item: dict[str, Any] = found.get(_hour_key(hour), {})
        bucket: dict[str, Any] = {"hour": hour.strftime("%Y-%m-%dT%H:00:00Z")}
        for credential in CREDENTIALS:
            bucket[credential] = {
                "requests": int(item.get(f"{credential}_requests", 0)),
                "errors": int(item.get(f"{credential}_errors", 0)),
                "cost": float(Decimal(int(item.get(f"{credential}_cost_nano", 0))) / NANO),
            }
        buckets.append(bucket)
    return buckets
