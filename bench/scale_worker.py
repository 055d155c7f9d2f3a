"""One worker of ``make bench-scale``: the chat function's real ``lambda_handler``, loaded as Lambda loads it, sent
one account's requests at a fixed pace, with every DynamoDB call it makes counted per partition.

Reads its configuration as JSON on stdin (the event, how many requests, the pace, the start time shared by every
worker) and writes the counts as JSON on the original stdout; fd 1 goes to /dev/null so the handler's log lines
and EMF metrics are still written, as in Lambda. Calls are counted by wrapping botocore's
``BaseClient._make_api_call``, which every boto3 client (and resource) of the process goes through with the call's
parameters, on any thread (the routing signals' background writes included). Warm-up requests run before the
shared start time and are not counted: a cold start's one-off reads are not what scales with the request rate.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from bench.partitions import PartitionCounter, TableSchema
from bench.probes import silence_stdout
from bench.warm import check, load_handler


def install_counter(counter: PartitionCounter, counting: threading.Event) -> None:
    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call
    lock = threading.Lock()

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if counting.is_set() and self.meta.service_model.service_name == "dynamodb":
            with lock:
                counter.observe(operation_name, api_params, int(time.time()))
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = counted


def main() -> None:
    config = json.load(sys.stdin)
    results = silence_stdout()
    schemas = {name: TableSchema(s["logical_id"], s["hash_key"], s["indexes"]) for name, s in config["schemas"].items()}
    counter = PartitionCounter(schemas)
    counting = threading.Event()
    install_counter(counter, counting)
    handler = load_handler(config["function_dir"])
    raw = json.dumps(config["event"])
    for _ in range(config["warmup"]):
        check("warm-up", handler(json.loads(raw), None), config["expect_byok"])

    time.sleep(max(0.0, config["start_at"] - time.time()))
    counting.set()
    interval = 1 / config["rate"]
    started = time.monotonic()
    late, busy = 0, 0.0
    for index in range(config["requests"]):
        due = started + index * interval  # an open schedule: a slow request does not push the next ones back
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            late += 1
        began = time.monotonic()
        check("scale", handler(json.loads(raw), None), config["expect_byok"])
        busy += time.monotonic() - began
    elapsed = time.monotonic() - started
    time.sleep(config["settle_s"])  # writes queued on background threads land before the counts are taken
    counting.clear()
    json.dump({**counter.to_json(), "elapsed_s": elapsed, "late": late, "busy_s": busy}, results)
    results.close()


if __name__ == "__main__":
    main()
