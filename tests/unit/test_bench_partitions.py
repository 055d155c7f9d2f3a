"""``make bench-scale``'s arithmetic: DynamoDB calls counted per partition, shard groups, and the derived rates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from bench.partitions import (
    Partition,
    PartitionCounter,
    TableSchema,
    Tally,
    item_size,
    schemas_from_template,
    verdict,
)
from bench.scale import TARGET_RATE, WRITE_LIMIT
from local.template import load_template

ACCOUNT = "acct_" + "c" * 24
SCHEMAS = {
    "t-accounts": TableSchema("AccountsTable", "pk"),
    "t-logs": TableSchema("LogsTable", "pk", {"by_status": "by_status", "by_key": "by_key"}),
}


def test_schemas_come_from_the_template() -> None:
    names = {"AccountsTable": "t-accounts", "LogsTable": "t-logs"}
    schemas = schemas_from_template(load_template(), names)
    assert set(schemas) == {"t-accounts", "t-logs"}
    assert schemas["t-logs"].hash_key == "pk"
    assert schemas["t-logs"].indexes["by_byok_status"] == "by_byok_status"
    assert schemas["t-accounts"].indexes == {}


def test_a_put_writes_its_partition_and_each_index_whose_key_it_carries() -> None:
    counter = PartitionCounter(SCHEMAS)
    counter.observe("PutItem", {"TableName": "t-logs", "Item": {"pk": ACCOUNT, "by_status": f"{ACCOUNT}#e"}}, 10)
    counter.observe("PutItem", {"TableName": "t-logs", "Item": {"pk": {"S": ACCOUNT}}}, 10)  # typed, sparse
    counter.observe("PutItem", {"TableName": "elsewhere", "Item": {"pk": ACCOUNT}}, 10)  # not a counted table
    assert counter.counts == {
        ("write", Partition("LogsTable", ACCOUNT)): 2,
        ("write", Partition("LogsTable/by_status", f"{ACCOUNT}#e")): 1,
    }
    assert counter.per_second[("write", Partition("LogsTable", ACCOUNT), 10)] == 2


def test_updates_transactions_and_batches_count_each_key() -> None:
    counter = PartitionCounter(SCHEMAS)
    profile = {"pk": f"ACCOUNT#{ACCOUNT}", "sk": "PROFILE"}
    counter.observe("UpdateItem", {"TableName": "t-accounts", "Key": profile}, 1)
    counter.observe(
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Update": {"TableName": "t-accounts", "Key": profile}},
                {"ConditionCheck": {"TableName": "t-accounts", "Key": profile}},
                {"Put": {"TableName": "t-logs", "Item": {"pk": ACCOUNT, "by_key": "k"}}},
            ]
        },
        1,
    )
    counter.observe("BatchWriteItem", {"RequestItems": {"t-logs": [{"DeleteRequest": {"Key": {"pk": "x"}}}]}}, 2)
    counter.observe("GetItem", {"TableName": "t-accounts", "Key": {"pk": {"S": "APIKEY#h"}, "sk": {"S": "A"}}}, 2)
    counter.observe("BatchGetItem", {"RequestItems": {"t-accounts": {"Keys": [profile, profile]}}}, 2)
    assert counter.counts == {
        ("write", Partition("AccountsTable", f"ACCOUNT#{ACCOUNT}")): 3,
        ("write", Partition("LogsTable", ACCOUNT)): 1,
        ("write", Partition("LogsTable/by_key", "k")): 1,
        ("write", Partition("LogsTable", "x")): 1,
        ("read", Partition("AccountsTable", "APIKEY#h")): 1,
        ("read", Partition("AccountsTable", f"ACCOUNT#{ACCOUNT}")): 2,
    }


@pytest.mark.parametrize(
    ("params", "partition"),
    [
        ({"KeyConditionExpression": Key("pk").eq("ACCOUNT#a")}, Partition("AccountsTable", "ACCOUNT#a")),
        (
            {"KeyConditionExpression": Key("pk").eq("usage#a") & Key("sk").gte("2026")},
            Partition("AccountsTable", "usage#a"),
        ),
        (
            {
                "KeyConditionExpression": "#p = :p AND begins_with(sk, :s)",
                "ExpressionAttributeNames": {"#p": "pk"},
                "ExpressionAttributeValues": {":p": {"S": "PLATFORM"}, ":s": {"S": "KEY#"}},
            },
            Partition("AccountsTable", "PLATFORM"),
        ),
    ],
    ids=["boto3-key", "boto3-and", "expression-string"],
)
def test_a_query_reads_the_partition_of_its_key_condition(params: dict[str, Any], partition: Partition) -> None:
    counter = PartitionCounter(SCHEMAS)
    counter.observe("Query", {"TableName": "t-accounts", **params}, 5)
    assert counter.counts == {("read", partition): 1}


def test_an_index_query_reads_the_index_partition() -> None:
    counter = PartitionCounter(SCHEMAS)
    condition = Key("by_status").eq(f"{ACCOUNT}#3#status=error") & Key("sk").lt("req_1")
    counter.observe("Query", {"TableName": "t-logs", "IndexName": "by_status", "KeyConditionExpression": condition}, 5)
    assert counter.counts == {("read", Partition("LogsTable/by_status", f"{ACCOUNT}#3#status=error")): 1}


def test_two_workers_merge_into_calls_per_request_and_rates_scale_with_the_request_rate() -> None:
    # Given two workers that each served 50 requests: each request two writes on the account item, one log write
    workers = []
    for _ in range(2):
        counter = PartitionCounter(SCHEMAS)
        for n in range(50):
            for _ in range(2):
                counter.observe("UpdateItem", {"TableName": "t-accounts", "Key": {"pk": "ACCOUNT#a"}}, 100 + n // 10)
            counter.observe("PutItem", {"TableName": "t-logs", "Item": {"pk": "acct_a"}}, 100 + n // 10)
        workers.append(counter.to_json())

    # When their counts are merged over the 100 requests
    tally = Tally(requests=100)
    for worker in workers:
        tally.merge(worker)

    # Then the hottest write partition is the account item, at 2 writes per request: 2,000/s per 1,000 req/s,
    # 10,000/s at 5,000 req/s, which misses the 1,000/s target
    hottest = tally.hottest("write")
    assert hottest.partition == Partition("AccountsTable", "ACCOUNT#a")
    assert hottest.per_request == 2.0
    assert hottest.per_second(1_000) == 2_000
    assert verdict(hottest.per_second(TARGET_RATE), WRITE_LIMIT) == "MISS"
    # And the measured peak is the busiest second across both workers: 10 requests x 2 writes x 2 workers
    assert tally.peak("write", Partition("AccountsTable", "ACCOUNT#a")) == 40
    assert tally.hottest("read").partition is None


def test_the_target_is_inclusive() -> None:
    assert verdict(1_000, 1_000) == "PASS"
    assert verdict(1_000.5, 1_000) == "MISS"


def test_a_sharded_request_log_counts_as_its_share_of_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 400 request records of one account written with LOG_SHARDS=8, as the log writes them
    from gateway.core import settings
    from gateway.data import request_log
    from tests.integration.test_logs_api import record_at

    monkeypatch.setenv("LOG_SHARDS", "8")
    settings.get_settings.cache_clear()
    counter = PartitionCounter(schemas_from_template(load_template(), {"LogsTable": "t-logs"}))
    for n in range(400):
        record = record_at(ACCOUNT, 1_000_000 + n, is_byok=True, status="success", cost=Decimal(0))
        counter.observe("PutItem", {"TableName": "t-logs", "Item": request_log._to_item(record)}, 1)
    settings.get_settings.cache_clear()

    # When they are tallied as 8 shards
    tally = Tally(requests=400, log_shards=8)
    tally.merge(counter.to_json())

    # Then every request-log partition is one group per key, at 1/8 write per request, though 8 shards were written
    ranked = dict(tally.per_request("write"))
    assert ranked[Partition("LogsTable", f"{ACCOUNT}#*")] == pytest.approx(1 / 8)
    assert ranked[Partition("LogsTable/by_byok_status", f"{ACCOUNT}#*#is_byok=true#status=success")] == pytest.approx(
        1 / 8
    )
    assert len({p.table for _, p in counter.counts} - {"LogsTable"}) >= 3  # the indexes too
    assert len({p.key for (_, p) in counter.counts if p.table == "LogsTable"}) == 8
    # And at 5,000 req/s each shard takes 625 writes a second: the target holds
    assert tally.hottest("write").per_second(TARGET_RATE) == pytest.approx(625)

    # While the same counts tallied unsharded show each shard on its own
    unsharded = Tally(requests=400)
    unsharded.merge(counter.to_json())
    assert unsharded.hottest("write").partition != Partition("LogsTable", f"{ACCOUNT}#*")


def test_write_units_follow_the_item_size() -> None:
    # Given a small item and one of about 1.5 KB, put into a table with an index both carry
    counter = PartitionCounter(SCHEMAS)
    small = {"pk": "acct_a", "by_status": "acct_a#status=error"}
    large = {**small, "error": "x" * 1500}
    counter.observe("PutItem", {"TableName": "t-logs", "Item": small}, 1)
    counter.observe("PutItem", {"TableName": "t-logs", "Item": large}, 1)
    counter.observe("UpdateItem", {"TableName": "t-accounts", "Key": {"pk": "ACCOUNT#a"}}, 1)

    # Then the small put is one unit and the large one two, on the table and on the index alike
    assert item_size(small) == len("pk") + len("acct_a") + len("by_status") + len("acct_a#status=error")
    assert counter.units[Partition("LogsTable", "acct_a")] == 3
    assert counter.units[Partition("LogsTable/by_status", "acct_a#status=error")] == 3
    assert counter.units[Partition("AccountsTable", "ACCOUNT#a")] == 1
    tally = Tally(requests=2)
    tally.merge(counter.to_json())
    assert tally.hottest_units().per_request == 1.5
    assert tally.hottest_units().per_second(TARGET_RATE) == 7_500


def test_a_request_record_is_about_one_write_unit() -> None:
    from gateway.data import request_log
    from tests.integration.test_logs_api import record_at

    record = record_at("acct_" + "0" * 16, 1_000_000, is_byok=True, status="success", api_key_id="ak_" + "0" * 16)
    assert 700 < item_size(request_log._to_item(record)) < 1400


def test_only_request_records_are_grouped_as_shards() -> None:
    # Given a run with LOG_SHARDS=8 that also updated a usage bucket in the logs table, once per request
    counter = PartitionCounter(SCHEMAS)
    for _ in range(10):
        counter.observe("UpdateItem", {"TableName": "t-logs", "Key": {"pk": "usage#acct_a", "sk": "2026"}}, 1)
        counter.observe("PutItem", {"TableName": "t-logs", "Item": {"pk": "acct_a#5"}}, 1)
    tally = Tally(requests=10, log_shards=8)
    tally.merge(counter.to_json())

    # Then the bucket is one item taking every request's write, and the records' shard group its share
    assert dict(tally.per_request("write")) == {
        Partition("LogsTable", "usage#acct_a"): 1.0,
        Partition("LogsTable", "acct_a#*"): 1 / 8,
    }
    assert tally.peak("write", Partition("LogsTable", "acct_a#*")) == 10


def test_lease_ledgers_count_as_one_instances_share_of_the_account() -> None:
    # Given two workers (two instances), each settling its 50 requests on its own lease's ledger
    workers = []
    for lease in ("LEASE#l1", "LEASE#l2"):
        counter = PartitionCounter(SCHEMAS)
        for n in range(50):
            counter.observe("UpdateItem", {"TableName": "t-accounts", "Key": {"pk": lease}}, 100 + n // 10)
        workers.append(counter.to_json())

    # When the account needs 250 instances at the target rate (5,000 req/s x 50 ms a request)
    tally = Tally(requests=100, instances=TARGET_RATE * 0.050)
    for worker in workers:
        tally.merge(worker)

    # Then the ledgers are one group, each taking its instance's share: 20 writes/s at 5,000 req/s
    hottest = tally.hottest("write")
    assert hottest.partition == Partition("AccountsTable", "LEASE#*")
    assert hottest.per_second(TARGET_RATE) == 20
    # and with a single instance (a slow account) all of them would land on one ledger
    alone = Tally(requests=100)
    for worker in workers:
        alone.merge(worker)
    assert alone.hottest("write").per_request == 1.0


def reads_of_warm_requests(replicas: int, refreshes: int) -> list[dict[str, Any]]:
    """Two workers' counts: 50 requests each reading one epoch replica (round robin), and ``refreshes`` Queries of
    the account partition per worker."""
    workers = []
    for _ in range(2):
        counter = PartitionCounter(SCHEMAS)
        for n in range(50):
            replica = {"TableName": "t-accounts", "Key": {"pk": f"EPOCH#{ACCOUNT}#{n % replicas}", "sk": "EPOCH"}}
            counter.observe("GetItem", replica, 100 + n // 10)
        for _ in range(refreshes):
            query = {"TableName": "t-accounts", "KeyConditionExpression": Key("pk").eq(f"ACCOUNT#{ACCOUNT}")}
            counter.observe("Query", query, 100)
        workers.append(counter.to_json())
    return workers


def test_epoch_replicas_count_as_one_group_divided_by_their_number() -> None:
    # Given 4 replicas, each request reading one, and snapshots reused for a second (no Query counted here)
    tally = Tally(requests=100, epoch_replicas=4, cache_max_age_s=1.0, mean_request_s=0.020)
    for worker in reads_of_warm_requests(replicas=4, refreshes=0):
        tally.merge(worker)

    # Then the hottest read partition is one replica: 0.25 reads per request, 1,250/s at 5,000 req/s
    hottest = tally.hottest("read")
    assert hottest.partition == Partition("AccountsTable", f"EPOCH#{ACCOUNT}#*")
    assert hottest.per_second(TARGET_RATE) == 1_250


def test_the_account_query_is_modelled_per_instance_and_max_age_when_snapshots_are_reused() -> None:
    # Given workers that refreshed their snapshot 3 times each (the bench's idle instances)
    workers = reads_of_warm_requests(replicas=4, refreshes=3)
    reused = Tally(requests=100, epoch_replicas=4, cache_max_age_s=0.5, mean_request_s=0.020)
    for worker in workers:
        reused.merge(worker)

    # Then at 5,000 req/s the account's 100 instances (x 20 ms) each query once per 0.5 s: 200 Queries/s
    assert reused.measured_account_queries() == 6
    assert reused.account_queries_per_request() * TARGET_RATE == pytest.approx(200)
    account = dict(reused.per_request("read"))[Partition("AccountsTable", f"ACCOUNT#{ACCOUNT}")]
    assert account * TARGET_RATE == pytest.approx(200)
    # And without reuse the counted Queries stand: here 0.06 a request
    counted = Tally(requests=100, epoch_replicas=4)
    for worker in workers:
        counted.merge(worker)
    assert counted.account_queries_per_request() == pytest.approx(0.06)
