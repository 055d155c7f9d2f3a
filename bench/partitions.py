"""DynamoDB calls counted per partition, and what the counts mean at a given request rate.

``PartitionCounter.observe`` is given each DynamoDB API call as botocore's client receives it (operation name and
parameters, before serialisation: boto3's high-level values and key conditions, or typed ``{"S": ...}`` values)
and counts, per partition (table or index, and its partition key value), the writes and reads it makes: a PutItem
of a logs record is one write to its table partition and one to each index partition whose key the item carries.
Counts are kept per second too, so a run can show its measured peak beside the derived rate.

The derived figures scale with the request rate: a partition written ``w`` times per request of an account takes
``w * rate`` writes a second when that account sends ``rate`` requests a second, whatever machine measured ``w``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Kind = Literal["write", "read"]
_EQUALS = re.compile(r"(#?[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(:[A-Za-z0-9_]+)")


@dataclass(frozen=True)
class TableSchema:
    """A table's partition key attribute and each global secondary index's (index name -> attribute)."""

    logical_id: str
    hash_key: str
    indexes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Partition:
    table: str  # logical id, with "/<index>" for an index partition
    key: str


def schemas_from_template(template: dict[str, Any], names: dict[str, str]) -> dict[str, TableSchema]:
    """Table name -> schema, for the tables of ``template`` deployed under ``names`` (logical id -> name)."""
    from local.template import tables

    found: dict[str, TableSchema] = {}
    for spec in tables(template):
        if spec.logical_id not in names:
            continue
        (hash_key,) = [k["AttributeName"] for k in spec.key_schema if k["KeyType"] == "HASH"]
        indexes = {
            index["IndexName"]: next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
            for index in spec.global_secondary_indexes
        }
        found[names[spec.logical_id]] = TableSchema(spec.logical_id, hash_key, indexes)
    return found


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it, estimated by its documented rules: attribute names and string bytes,
    numbers about one byte per two digits plus one, 3 bytes per list or map plus 1 per element; high-level
    (boto3) values only, which is what the gateway passes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return len(str(abs(value)).replace(".", "").lstrip("0") or "0") // 2 + 1
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + _value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return 3 + sum(_value_size(v) + 1 for v in value)
    return len(str(value).encode())


def write_units(item: dict[str, Any]) -> int:
    """Write capacity units of putting ``item`` (and of each index it lands in, whose projection is ALL)."""
    return max(1, math.ceil(item_size(item) / 1024))


def _plain(value: Any) -> str:
    """A key value as text, from boto3's high-level form or DynamoDB's typed one."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("S", "N", "B"):
        value = next(iter(value.values()))
    return str(value)


def _condition_value(condition: Any, attribute: str, params: dict[str, Any]) -> str:
    """The value a Query's key condition gives ``attribute`` (boto3 condition objects or expression strings)."""
    if isinstance(condition, str):
        names = params.get("ExpressionAttributeNames") or {}
        values = params.get("ExpressionAttributeValues") or {}
        for name, placeholder in _EQUALS.findall(condition):
            if names.get(name, name) == attribute:
                return _plain(values[placeholder])
        return "?"
    expression = condition.get_expression()
    operands = expression["values"]
    if expression["operator"] == "=" and getattr(operands[0], "name", None) == attribute:
        return _plain(operands[1])
    for operand in operands:
        if hasattr(operand, "get_expression"):  # a nested condition (And), not a Key or a value
            found = _condition_value(operand, attribute, params)
            if found != "?":
                return found
    return "?"


@dataclass
class PartitionCounter:
    schemas: dict[str, TableSchema]  # by deployed table name; calls to other tables are not counted
    counts: Counter[tuple[Kind, Partition]] = field(default_factory=Counter)
    per_second: Counter[tuple[Kind, Partition, int]] = field(default_factory=Counter)
    # Write capacity units per partition: a put's by its item's size; an update, delete or condition check counts
    # 1, a lower bound (its units follow the stored item's size, which the call does not show).
    units: Counter[Partition] = field(default_factory=Counter)
    queries: Counter[Partition] = field(default_factory=Counter)  # the reads that were Queries (also in counts)

    def _add(self, kind: Kind, partition: Partition, second: int, units: int = 1) -> None:
        self.counts[kind, partition] += 1
        self.per_second[kind, partition, second] += 1
        if kind == "write":
            self.units[partition] += units

    def _write_item(self, table_name: str, item: dict[str, Any], second: int) -> None:
        schema = self.schemas.get(table_name)
        if schema is None:
            return
        units = write_units(item)
        self._add("write", Partition(schema.logical_id, _plain(item[schema.hash_key])), second, units)
        for index, attribute in schema.indexes.items():
            if attribute in item:  # a sparse index is written only by items that carry its key
                self._add("write", Partition(f"{schema.logical_id}/{index}", _plain(item[attribute])), second, units)

    def _key(self, kind: Kind, table_name: str, key: dict[str, Any], second: int) -> None:
        schema = self.schemas.get(table_name)
        if schema is not None:
            self._add(kind, Partition(schema.logical_id, _plain(key[schema.hash_key])), second)

    def observe(self, operation: str, params: dict[str, Any], second: int) -> None:
        """Count one DynamoDB API call made at ``second`` (epoch seconds)."""
        table = params.get("TableName", "")
        if operation == "PutItem":
            self._write_item(table, params["Item"], second)
        elif operation in ("UpdateItem", "DeleteItem"):
            # Index writes of an UpdateItem are not counted: no update of ours sets an index key.
            self._key("write", table, params["Key"], second)
        elif operation == "BatchWriteItem":
            for name, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        self._write_item(name, request["PutRequest"]["Item"], second)
                    else:
                        self._key("write", name, request["DeleteRequest"]["Key"], second)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((action, body),) = entry.items()
                if action == "Put":
                    self._write_item(body["TableName"], body["Item"], second)
                else:  # Update, Delete, and ConditionCheck, which a transaction bills as a write
                    self._key("write", body["TableName"], body["Key"], second)
        elif operation == "GetItem":
            self._key("read", table, params["Key"], second)
        elif operation == "BatchGetItem":
            for name, request in params["RequestItems"].items():
                for key in request["Keys"]:
                    self._key("read", name, key, second)
        elif operation == "TransactGetItems":
            for entry in params["TransactItems"]:
                self._key("read", entry["Get"]["TableName"], entry["Get"]["Key"], second)
        elif operation == "Query":
            schema = self.schemas.get(table)
            if schema is None:
                return
            index = params.get("IndexName")
            attribute = schema.indexes[index] if index else schema.hash_key
            value = _condition_value(params["KeyConditionExpression"], attribute, params)
            partition = Partition(schema.logical_id + (f"/{index}" if index else ""), value)
            self._add("read", partition, second)
            self.queries[partition] += 1
        elif operation == "Scan" and table in self.schemas:
            self._add("read", Partition(self.schemas[table].logical_id, "(scan)"), second)

    def to_json(self) -> dict[str, list[list[Any]]]:
        return {
            "counts": [[kind, p.table, p.key, n] for (kind, p), n in self.counts.items()],
            "per_second": [[kind, p.table, p.key, s, n] for (kind, p, s), n in self.per_second.items()],
            "units": [[p.table, p.key, n] for p, n in self.units.items()],
            "queries": [[p.table, p.key, n] for p, n in self.queries.items()],
        }


@dataclass(frozen=True)
class Hottest:
    """The busiest partition of one kind: its calls per request, and what they come to at a request rate."""

    partition: Partition | None
    per_request: float

    def per_second(self, requests_per_second: float) -> float:
        return self.per_request * requests_per_second


def _is_request_log(partition: Partition) -> bool:
    """A partition of request records (the logs table's other items, usage buckets, are not sharded)."""
    return partition.table.startswith("LogsTable") and not partition.key.startswith("usage#")


def _is_instance_ledger(partition: Partition) -> bool:
    """A credit lease's ledger (``LEASE#<id>``): written by the one instance holding the lease, never shared."""
    return partition.table == "AccountsTable" and partition.key.startswith("LEASE#")


def _is_epoch_replica(partition: Partition) -> bool:
    """One of an account's epoch replicas (``EPOCH#<account>#<k>``, ``gateway.data.account_epoch``)."""
    return partition.table == "AccountsTable" and partition.key.startswith("EPOCH#")


def _is_account_partition(partition: Partition) -> bool:
    """An account's own partition (``ACCOUNT#<id>``: profile, gateway keys, BYOK keys, cooldowns)."""
    return partition.table == "AccountsTable" and partition.key.startswith("ACCOUNT#")


def shard_group(partition: Partition, log_shards: int) -> Partition:
    """The partition a request-log shard stands for: with ``log_shards`` > 1, ``acct#3#status=x`` and shard 0's
    ``acct#status=x`` are both ``acct#*#status=x`` (``gateway.data.request_log.partition``); an epoch replica
    ``EPOCH#acct#2`` is ``EPOCH#acct#*``; others are their own."""
    if _is_instance_ledger(partition):
        return Partition(partition.table, "LEASE#*")
    if _is_epoch_replica(partition):
        return Partition(partition.table, partition.key.rsplit("#", 1)[0] + "#*")
    if log_shards == 1 or not _is_request_log(partition):
        return partition
    account, _, rest = partition.key.partition("#")
    shard, _, filters = rest.partition("#")
    if not shard.isdigit():  # shard 0: the account id itself, then the filter values
        filters = rest
    return Partition(partition.table, f"{account}#*" + (f"#{filters}" if filters else ""))


@dataclass
class Tally:
    """Counts merged from every worker of one run, over ``requests`` requests of one account.

    A lease ledger's figures are all ledgers' total divided by ``instances`` (each instance writes its own; the
    bench's few workers stand for the many instances a busy account runs). With ``log_shards`` > 1 the figures of
    a request-log partition are its shards' total divided by the shard count: the shard of a record is the random
    part of its request id, so at thousands of requests a second each shard takes that share (a short run's
    counts alone would make whichever shard drew a few more look hot).
    An account's epoch replicas are one group (``EPOCH#<account>#*``) divided by ``epoch_replicas``: a request
    reads one at random. With snapshots reused (``cache_max_age_s`` > 0) the account partition's Queries are not
    the counted ones but the model of a busy account: each of its instances reads the partition once per max age,
    so ``instances / max age`` a second, which is ``mean_request_s / max age`` per request whatever the rate (the
    bench's instances are idle between requests, so they refresh less often than a busy account's would).
    The measured peak of a shard group is its busiest single shard's.
    """

    requests: int
    log_shards: int = 1
    epoch_replicas: int = 1
    cache_max_age_s: float = 0.0
    # Instances serving the account at the target rate: a lease ledger's share (each instance writes its own). A
    # Lambda instance serves one request at a time, so the account needs target rate x mean request time of them.
    instances: float = 1.0
    mean_request_s: float = 0.0
    counts: Counter[tuple[Kind, Partition]] = field(default_factory=Counter)
    per_second: Counter[tuple[Kind, Partition, int]] = field(default_factory=Counter)
    units: Counter[Partition] = field(default_factory=Counter)
    queries: Counter[Partition] = field(default_factory=Counter)

    def merge(self, worker: dict[str, list[list[Any]]]) -> None:
        for kind, table, key, n in worker["counts"]:
            self.counts[kind, Partition(table, key)] += n
        for table, key, n in worker["units"]:
            self.units[Partition(table, key)] += n
        for table, key, n in worker.get("queries", []):
            self.queries[Partition(table, key)] += n
        for kind, table, key, second, n in worker["per_second"]:
            self.per_second[kind, Partition(table, key), second] += n

    def _share(self, group: Partition) -> float:
        if _is_instance_ledger(group):
            return max(1.0, self.instances)
        if _is_epoch_replica(group):
            return self.epoch_replicas
        return self.log_shards if _is_request_log(group) else 1

    def _ranked(self, counts: dict[Partition, float]) -> list[tuple[Partition, float]]:
        totals: dict[Partition, float] = {}
        for partition, n in counts.items():
            group = shard_group(partition, self.log_shards)
            totals[group] = totals.get(group, 0.0) + n
        found = [(p, n / self.requests / self._share(p)) for p, n in totals.items()]
        return sorted(found, key=lambda pair: (-pair[1], pair[0]))

    def per_request(self, kind: Kind) -> list[tuple[Partition, float]]:
        """Each partition's calls of ``kind`` per request (a shard group's: per shard), busiest first; with reused
        snapshots, an account partition's Queries are modelled (``account_queries_per_request``)."""
        counts: dict[Partition, float] = {p: n for (k, p), n in self.counts.items() if k == kind}
        if kind == "read" and self.cache_max_age_s > 0:
            for partition, n in self.queries.items():
                if _is_account_partition(partition):
                    counts[partition] -= n
                    counts[partition] += self.requests * self.account_queries_per_request()
        return self._ranked(counts)

    def account_queries_per_request(self) -> float:
        """Queries of the account's partition per request: as counted, or with reused snapshots at any rate, the
        account's ``rate x mean_request_s`` instances each reading it once per max age."""
        if self.cache_max_age_s > 0:
            return self.mean_request_s / self.cache_max_age_s
        return self.measured_account_queries() / self.requests

    def measured_account_queries(self) -> int:
        """Queries of account partitions the run counted (every worker's)."""
        return sum(n for p, n in self.queries.items() if _is_account_partition(p))

    def units_per_request(self) -> list[tuple[Partition, float]]:
        """Each partition's write units per request (a shard group's: per shard), busiest first."""
        return self._ranked(dict(self.units))

    def hottest_units(self) -> Hottest:
        ranked = self.units_per_request()
        return Hottest(*ranked[0]) if ranked else Hottest(None, 0.0)

    def hottest(self, kind: Kind) -> Hottest:
        ranked = self.per_request(kind)
        return Hottest(*ranked[0]) if ranked else Hottest(None, 0.0)

    def peak(self, kind: Kind, partition: Partition) -> int:
        """The most calls of ``kind`` one partition (of a shard group: its busiest shard) took in one second."""
        return max(
            (
                n
                for (k, member, _), n in self.per_second.items()
                if k == kind and shard_group(member, self.log_shards) == partition
            ),
            default=0,
        )


def verdict(value: float, limit: float) -> str:
    return "PASS" if value <= limit else "MISS"
