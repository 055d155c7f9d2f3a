"""``make bench-scale``: how hot one account's busiest DynamoDB partition gets, today and with the new design.

One moto server (one process, shared) and the provider simulator serve N worker processes (``bench.scale_worker``),
each the chat function's real ``lambda_handler`` loaded as Lambda loads it, all sending one account's chat
completions at a fixed offered pace. Every DynamoDB call of every worker is counted per partition (table or index,
and partition key value), by a wrapper around botocore's ``_make_api_call`` in each worker. Shared traffic (an
account served by the platform's keys, with credit holds) and BYOK traffic (an account's own key) run apart, each
under two settings:

- today: ``LOG_SHARDS=1`` (the request log under the account's key), ``CREDIT_LEASE_NANOS=0`` (per-request
  credit holds, if this build has credit leases at all) and ``ACCOUNT_CACHE_MS=0`` (the account's partition
  queried by every request);
- new: ``LOG_SHARDS`` (this environment's, else the build's default), ``CREDIT_LEASE_NANOS`` passed through
  from this environment when set (else the build's default; a build without leases ignores it), and
  ``ACCOUNT_CACHE_MS`` (this environment's, else 1000) with ``ACCOUNT_EPOCH_REPLICAS`` (this environment's, else
  the build's default): an instance reuses its account snapshot while the epoch, one random replica of which each
  request reads, has not moved.

The figures are derived from counts: a partition's calls per request of the account, times the request rate.
A 2-core machine cannot offer 5,000 requests a second, but the calls a request makes do not depend on the rate
(except where a design batches over time, which the offered pace exercises), so ``calls per request x rate`` is
the partition's rate at that load. The measured peak (calls in one wall-clock second at the offered pace) is
printed beside it as a check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.partitions import Kind, Partition, Tally, schemas_from_template, verdict
from bench.stack import MESSAGES, REPO_ROOT, BenchStack, child_env, start_stack

CHAT = "POST", "/v1/chat/completions"
MODEL = "openai/gpt-5-mini"
TARGET_RATE = 5_000  # requests a second from one account
WRITE_LIMIT = 1_000  # writes a second one DynamoDB partition takes
READ_LIMIT = 3_000  # reads a second one DynamoDB partition (and so one item) takes
TARGETS: tuple[tuple[Kind, int], ...] = (("write", WRITE_LIMIT), ("read", READ_LIMIT))
KINDS: tuple[Kind, ...] = ("write", "read")
TOP = 4  # busiest partitions listed per run


@dataclass(frozen=True)
class Design:
    name: str
    env: dict[str, str]

    def label(self) -> str:
        return f"{self.name} ({', '.join(f'{k}={v}' for k, v in self.env.items()) or 'build defaults'})"


# The new design's lease block when the environment names none: $5, above any one request's hold in this bench
DEFAULT_LEASE_NANOS = "5000000000"
# The new design's snapshot reuse when the environment names none: a second
DEFAULT_ACCOUNT_CACHE_MS = "1000"


def designs(log_shards: int) -> tuple[Design, Design]:
    lease = os.environ.get("CREDIT_LEASE_NANOS") or (DEFAULT_LEASE_NANOS if build_knows_credit_leases() else None)
    new = {"LOG_SHARDS": str(log_shards), **({"CREDIT_LEASE_NANOS": lease} if lease is not None else {})}
    today = {"LOG_SHARDS": "1", "CREDIT_LEASE_NANOS": "0"}
    if build_knows("ACCOUNT_CACHE_MS"):
        from gateway.core.settings import get_settings

        today["ACCOUNT_CACHE_MS"] = "0"
        new["ACCOUNT_CACHE_MS"] = os.environ.get("ACCOUNT_CACHE_MS") or DEFAULT_ACCOUNT_CACHE_MS
        new["ACCOUNT_EPOCH_REPLICAS"] = str(get_settings().account_epoch_replicas)
    return Design("today", today), Design("new", new)


def build_knows(alias: str) -> bool:
    from gateway.core.settings import Settings

    return any(field.alias == alias for field in Settings.model_fields.values())


def build_knows_credit_leases() -> bool:
    return build_knows("CREDIT_LEASE_NANOS")


def run(stack: BenchStack, design: Design, byok: bool, schemas: dict[str, Any], args: argparse.Namespace) -> Tally:
    """N workers sending one account's requests at ``args.rate`` in all; their counts merged."""
    from bench.events import api_event, function_dir

    customer = stack.byok if byok else stack.shared
    config = {
        "function_dir": function_dir(*CHAT),
        "event": api_event(*CHAT, api_key=customer.api_key, body={"model": MODEL, "messages": MESSAGES}),
        "expect_byok": byok,
        "schemas": schemas,
        "requests": args.requests,
        "warmup": args.warmup,
        "rate": args.rate / args.workers,
        "start_at": time.time() + args.start_delay,
        "settle_s": 1.0,
    }
    env = child_env({**stack.env, **design.env})
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.scale_worker"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.workers)
    ]
    tally = Tally(
        requests=args.requests * args.workers,
        log_shards=int(design.env.get("LOG_SHARDS", "1")),
        epoch_replicas=int(design.env.get("ACCOUNT_EPOCH_REPLICAS", "1")),
        cache_max_age_s=int(design.env.get("ACCOUNT_CACHE_MS", "0")) / 1000,
    )
    achieved, busy, elapsed = 0.0, 0.0, 0.0
    for worker in workers:
        out, err = worker.communicate(json.dumps(config))
        if worker.returncode != 0:
            raise RuntimeError(f"a scale worker failed:\n{err[-4000:]}")
        result = json.loads(out)
        tally.merge(result)
        busy += result["busy_s"]
        elapsed += result["elapsed_s"]
        achieved += args.requests / result["elapsed_s"]
    mean_s = busy / tally.requests
    tally.mean_request_s = mean_s
    tally.instances = TARGET_RATE * mean_s
    print(
        f"  {'BYOK' if byok else 'shared'} {design.name}: {args.rate:g} req/s offered, {achieved:.1f} achieved "
        f"(the counts per request do not depend on it); mean request {mean_s * 1000:.1f} ms in the handler, so "
        f"{TARGET_RATE:,} req/s take at least {tally.instances:,.0f} instances (one request at a time each)"
    )
    if tally.cache_max_age_s > 0:
        queries = tally.measured_account_queries()
        print(
            f"    snapshots reused for {tally.cache_max_age_s * 1000:g} ms: the account partition was queried "
            f"{queries} times in {elapsed:.1f} worker-seconds ({queries / elapsed:.2f}/s per instance at this "
            f"pace, about one per max age); a busy account's {tally.instances:,.0f} instances x "
            f"1/{tally.cache_max_age_s:g} s = {tally.instances / tally.cache_max_age_s:,.0f} Queries/s"
        )
    return tally


def describe(partition: Partition | None, accounts: dict[str, str]) -> str:
    if partition is None:
        return "-"
    key = partition.key
    for account_id, name in accounts.items():
        key = key.replace(account_id, name)
    return f"{partition.table} {key}"


def report(traffic: str, tallies: dict[str, Tally], accounts: dict[str, str]) -> None:
    print(f"\n{traffic} traffic, one account")
    for kind, limit in TARGETS:
        rows = {name: tally.hottest(kind) for name, tally in tallies.items()}
        print(f"  hottest {kind} partition:")
        for name, hottest in rows.items():
            where = describe(hottest.partition, accounts)
            print(f"    {name:<5} {where}: {hottest.per_request:.2f} {kind}s per request")
        cells = "   ".join(f"{name} {h.per_second(1_000):>7,.0f}" for name, h in rows.items())
        print(f"  {kind}s/s of that partition per 1,000 req/s:    {cells}")
        cells = "   ".join(
            f"{name} {h.per_second(TARGET_RATE):>7,.0f} {verdict(h.per_second(TARGET_RATE), limit)}"
            for name, h in rows.items()
        )
        print(f"  at {TARGET_RATE:,} req/s (target <= {limit:,} {kind}s/s): {cells}")
    units = {name: tally.hottest_units() for name, tally in tallies.items()}
    print("  hottest partition by write units (a put's by its item's size, 1 KB a unit; an update's counted as 1):")
    for name, hottest in units.items():
        print(
            f"    {name:<5} {describe(hottest.partition, accounts)}: {hottest.per_request:.2f} write units per request"
        )
    cells = "   ".join(
        f"{name} {h.per_second(TARGET_RATE):>7,.0f} {verdict(h.per_second(TARGET_RATE), WRITE_LIMIT)}"
        for name, h in units.items()
    )
    print(f"  at {TARGET_RATE:,} req/s (target <= {WRITE_LIMIT:,} write units/s): {cells}")
    for name, tally in tallies.items():
        print(f"  {name}: busiest partitions, calls per request (measured peak in one second at the offered pace)")
        for kind in KINDS:
            ranked: list[tuple[Partition, float]] = tally.per_request(kind)[:TOP]
            for partition, per_request in ranked:
                peak = tally.peak(kind, partition)
                print(f"    {kind:<5} {per_request:5.2f}/req  peak {peak:>4}/s  {describe(partition, accounts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (each one chat function instance)")
    parser.add_argument("--rate", type=float, default=30.0, help="offered requests/s of the account, all workers")
    parser.add_argument("--requests", type=int, default=120, help="counted requests per worker and run")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted requests per worker before the run")
    parser.add_argument("--start-delay", type=float, default=6.0, help="seconds for the workers to load first")
    parser.add_argument("--log-shards", type=int, default=None, help="LOG_SHARDS of the new design")
    args = parser.parse_args()

    stack = start_stack()
    try:
        from gateway.core.settings import get_settings
        from local.provision import TABLE_ENV
        from local.template import load_template

        shards = args.log_shards or int(os.environ.get("LOG_SHARDS") or get_settings().log_shards)
        today, new = designs(shards)
        names = {logical: stack.env[env] for logical, env in TABLE_ENV.items()}
        schemas = {
            name: {"logical_id": s.logical_id, "hash_key": s.hash_key, "indexes": s.indexes}
            for name, s in schemas_from_template(load_template(), names).items()
        }
        accounts = {stack.shared.account_id: "<shared account>", stack.byok.account_id: "<byok account>"}
        print("Scale bench: one account's chat completions, DynamoDB calls counted per partition")
        print(
            f"  {args.workers} workers (the chat handler as Lambda loads it) against one moto server, "
            f"{args.rate:g} req/s offered, {args.requests * args.workers} counted requests per run"
        )
        print(
            "  Rates are derived: calls per request of the account (counted) x the request rate; "
            "the measured peak per second is shown at the offered pace."
        )
        print(f"  {today.label()}  vs  {new.label()}")
        if shards > 1:
            print(
                f"  A request-log partition of the new design is shown as <account>#* (one of {shards} shards): its "
                f"figure is the shards' total / {shards}, each record's shard being its request id's random part."
            )
        if "ACCOUNT_CACHE_MS" in new.env:
            replicas = new.env["ACCOUNT_EPOCH_REPLICAS"]
            print(
                f"  The new design reuses snapshots (ACCOUNT_CACHE_MS={new.env['ACCOUNT_CACHE_MS']}): the account's "
                f"epoch replicas are shown as EPOCH#<account>#* (their total / {replicas}, each request reading one "
                "at random), and the account partition's Queries as instances x 1 / max age (each busy instance "
                "reads it once per max age), the instances being the target rate x the mean request time."
            )
        if not build_knows_credit_leases():
            print(
                "  This build has no credit leases (no CREDIT_LEASE_NANOS setting): "
                "the credit item's figures are the same in both columns."
            )
        elif "CREDIT_LEASE_NANOS" not in new.env:
            print("  CREDIT_LEASE_NANOS is not set here: the new column uses the build's default.")
        tallies: dict[str, dict[str, Tally]] = {}
        for traffic, byok in (("shared", False), ("BYOK", True)):
            tallies[traffic] = {design.name: run(stack, design, byok, schemas, args) for design in (today, new)}
            report(traffic, tallies[traffic], accounts)
        runs_by_name = {(traffic, name): tally for traffic, runs in tallies.items() for name, tally in runs.items()}
        print(f"\nTargets at {TARGET_RATE:,} req/s from one account (derived from the per-request counts):")
        for kind, limit in TARGETS:
            for (traffic, name), tally in runs_by_name.items():
                hottest = tally.hottest(kind)
                rate = hottest.per_second(TARGET_RATE)
                print(
                    f"  {traffic:<6} {name:<5} no partition above {limit:,} {kind}s/s: "
                    f"{rate:>7,.0f} ({describe(hottest.partition, accounts)})  {verdict(rate, limit)}"
                )
        for (traffic, name), tally in runs_by_name.items():
            rate = tally.account_queries_per_request() * TARGET_RATE
            how = (
                f"{tally.instances:,.0f} instances x 1/{tally.cache_max_age_s:g} s"
                if tally.cache_max_age_s > 0
                else "one per request"
            )
            print(
                f"  {traffic:<6} {name:<5} the account partition's Query <= {READ_LIMIT:,}/s: "
                f"{rate:>7,.0f} ({how})  {verdict(rate, READ_LIMIT)}"
            )
        for (traffic, name), tally in runs_by_name.items():
            hottest = tally.hottest_units()
            rate = hottest.per_second(TARGET_RATE)
            print(
                f"  {traffic:<6} {name:<5} no partition above {WRITE_LIMIT:,} write units/s: "
                f"{rate:>7,.0f} ({describe(hottest.partition, accounts)})  {verdict(rate, WRITE_LIMIT)}"
            )
        print(
            "  Not counted here: the UsageFunction (off the request path, fed by the logs table's stream) adds each "
            "record to its account's hourly bucket, one UpdateItem per request on one item."
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
