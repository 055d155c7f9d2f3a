"""What Lambda's DynamoDB event source mapping does, in this process: read a table's stream, invoke the consumer.

The dev stack runs one ``StreamPoller`` per DynamoDB event in template.yaml (``local.template.stream_consumers``).
Each poll reads every shard from where it left off and hands the new records to the function's real handler as
the event Lambda would send; records the handler reports in ``batchItemFailures`` are sent again on the next
poll. Tests call ``flush()`` to process everything written so far, instead of waiting for the thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

from local.handlers import LambdaContext, load_handler
from local.template import StreamConsumer

logger = logging.getLogger(__name__)
MAX_RETRIES = 3
SHARD_REFRESH_POLLS = 10


def _plain_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A stream record as Lambda delivers it (boto3 turned the creation time into a datetime)."""
    dynamodb = dict(record.get("dynamodb") or {})
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


class StreamPoller:
    def __init__(self, consumer: StreamConsumer, table_name: str, *, interval_s: float = 0.5) -> None:
        self.consumer = consumer
        self.table_name = table_name
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str | None] = {}
        self._polls = 0
        self._pending: list[tuple[dict[str, Any], int]] = []
        self._stream_arn = ""
        self._region = ""
        self._streams: Any = None

    def start(self, *, background: bool = True) -> StreamPoller:
        table = boto3.client("dynamodb").describe_table(TableName=self.table_name)["Table"]
        self._stream_arn = table.get("LatestStreamArn") or ""
        if not self._stream_arn:
            raise RuntimeError(f"{self.table_name} has no stream; provision it from template.yaml")
        # Account-based endpoints (<account>.streams-ddb...) are unknown to moto's in-process mock.
        self._streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
        self._region = self._streams.meta.region_name
        if background:
            self._thread = threading.Thread(target=self._run, name=f"stream-{self.consumer.function}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling. A poll in progress is not waited for long: the thread is a daemon, and ``make dev`` must
        stop everything within 5 seconds of SIGTERM."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)
            self._thread = None

    def flush(self) -> int:
        """Deliver every record written so far; returns how many reached the handler."""
        delivered = 0
        while True:
            count = self.poll()
            delivered += count
            if count == 0:
                return delivered

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:
                logger.exception("stream poll of %s failed", self.table_name)

    def poll(self) -> int:
        """One round over every shard; returns how many records were handed to the function."""
        with self._lock:
            records = [record for record, _ in self._pending]
            attempts = {id(record): tries for record, tries in self._pending}
            self._pending = []
            for shard in self._shards():
                iterator = self._iterators.get(shard)
                if iterator is None:
                    continue
                page = self._streams.get_records(ShardIterator=iterator, Limit=self.consumer.batch_size)
                self._iterators[shard] = page.get("NextShardIterator")
                records += [_plain_record(r, self._stream_arn, self._region) for r in page.get("Records", [])]
            if not records:
                return 0
            for start in range(0, len(records), self.consumer.batch_size):
                batch = records[start : start + self.consumer.batch_size]
                self._deliver(batch, attempts)
            return len(records)

    def _shards(self) -> list[str]:
        """The stream's shards; new ones are looked for every tenth poll (a table's shards rarely change)."""
        self._polls += 1
        if self._iterators and self._polls % SHARD_REFRESH_POLLS:
            return list(self._iterators)
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        shards = [shard["ShardId"] for shard in description.get("Shards", [])]
        for shard in shards:
            if shard not in self._iterators:
                self._iterators[shard] = self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        return shards

    def _deliver(self, batch: list[dict[str, Any]], attempts: dict[int, int]) -> None:
        handler = load_handler(self.consumer.code_dir)
        context = LambdaContext(function_name=self.consumer.function, timeout_s=60)
        try:
            result = handler({"Records": batch}, context)
            failed_ids = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            failed = [r for r in batch if str(r["dynamodb"].get("SequenceNumber")) in failed_ids]
        except Exception:
            logger.exception("%s failed on a batch of %d records", self.consumer.function, len(batch))
            failed = batch
        for record in failed:
            tries = attempts.get(id(record), 0) + 1
            if tries < MAX_RETRIES:
                self._pending.append((record, tries))
            else:
                logger.error("%s dropped a stream record after %d tries", self.consumer.function, tries)
