"""Data access for the routing table: recent failures of shared capacity and latency/throughput counters.

    pk HEALTH   sk <provider>#<model>            failed_at_ms: the latest failure any instance recorded
    pk STATS    sk <minute>#<provider>#<model>   ttft_ms, ttft_n, out_tokens, gen_ms: that minute's sums

Every item carries ``expires_at`` (DynamoDB TTL); readers also ignore what is past its time, since TTL deletes
late. ``<minute>`` is zero-padded epoch minutes, so one Query from the window's first minute reads it all.
Each partition takes every instance's writes and reads: fine up to DynamoDB's per-partition limits (about a
thousand instances flushing twice a minute); past that, shard the key. Counters only ever grow through
``ADD``, so any number of instances flush into the same item exactly.

Only the background worker of ``gateway.routing.signals`` calls this module. It uses the resource's client (plain
Python values in and out, like the Table resource), which unlike a resource may be shared between threads.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway.core import aws
from gateway.core.settings import get_settings

Route = tuple[str, str]  # (provider slug, catalog model id)
COUNTER_FIELDS = ("ttft_ms", "ttft_n", "out_tokens", "gen_ms")
HEALTH_PK = "HEALTH"
STATS_PK = "STATS"


def _client() -> Any:
    return aws.dynamodb().meta.client


def _sk(route: Route) -> str:
    return f"{route[0]}#{route[1]}"


def _route(sk: str) -> Route:
    provider, _, model = sk.partition("#")
    return provider, model


def _minute_key(minute: int) -> str:
    return f"{minute:010d}"


def _query(pk: str, *, consistent: bool, sk_from: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": get_settings().routing_table,
        "KeyConditionExpression": "pk = :pk" + (" AND sk >= :from" if sk_from else ""),
        "ExpressionAttributeValues": {":pk": pk, **({":from": sk_from} if sk_from else {})},
        "ConsistentRead": consistent,
    }
    while True:
        page = _client().query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def record_failure(route: Route, failed_at_ms: int, expires_at: int) -> None:
    """Note a failure of shared capacity for ``route``, unless a later one is already recorded."""
    try:
        _client().update_item(
            TableName=get_settings().routing_table,
            Key={"pk": HEALTH_PK, "sk": _sk(route)},
            UpdateExpression="SET failed_at_ms = :at, expires_at = :exp",
            ConditionExpression="attribute_not_exists(failed_at_ms) OR failed_at_ms < :at",
            ExpressionAttributeValues={":at": failed_at_ms, ":exp": expires_at},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def failures(now_s: float) -> dict[Route, int]:
    """The latest recorded failure (epoch ms) of every route whose item has not expired."""
    found: dict[Route, int] = {}
    for item in _query(HEALTH_PK, consistent=True):
        if "failed_at_ms" in item and int(item.get("expires_at", 0)) > now_s:
            found[_route(item["sk"])] = int(item["failed_at_ms"])
    return found


def add_counters(minute: int, route: Route, counters: dict[str, int], expires_at: int) -> None:
    """Add one instance's sums for ``route`` in ``minute`` (epoch minutes) to every other instance's."""
    names = [name for name in COUNTER_FIELDS if counters.get(name)]
    if not names:
        return
    values: dict[str, Any] = {f":{name}": counters[name] for name in names}
    values[":exp"] = expires_at
    _client().update_item(
        TableName=get_settings().routing_table,
        Key={"pk": STATS_PK, "sk": f"{_minute_key(minute)}#{_sk(route)}"},
        UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in names) + " SET expires_at = :exp",
        ExpressionAttributeValues=values,
    )


def counters(since_minute: int) -> dict[Route, dict[str, int]]:
    """Every route's sums from ``since_minute`` (epoch minutes) on, across all instances: one Query."""
    totals: dict[Route, dict[str, int]] = {}
    for item in _query(STATS_PK, consistent=False, sk_from=_minute_key(since_minute)):
        _, _, route_sk = item["sk"].partition("#")
        total = totals.setdefault(_route(route_sk), dict.fromkeys(COUNTER_FIELDS, 0))
        for name in COUNTER_FIELDS:
            total[name] += int(item.get(name, 0))
    return totals
