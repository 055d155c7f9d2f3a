"""``make bench-cost``: what a million chat requests cost on AWS, from inputs measured on this machine.

The same stack as ``make bench`` (simulator, moto, provisioned customers). A child process loads the chat
function as Lambda does and serves four kinds of request, interleaved: non-streamed and streamed, BYOK and
shared capacity. Per request it measures the function's CPU and wall time, the upstream wait, the time spent
after the client's last byte, the bytes written to stdout (what CloudWatch Logs ingests) and the EMF metric
blobs among them, and every AWS call with the read and write units DynamoDB bills for it (sized from the items
on the wire, counted by a hook on botocore's endpoint). Fresh processes measure the cold start (CPU and peak
memory) of the chat and messages functions. The list prices below turn that into dollars per million requests,
beside what OpenRouter and Vercel charge for the same BYOK million.

``make bench-cost ARGS="--requests 200"``. The report goes to stdout, the raw figures to ``.bench/cost.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench import cold, lambda_layer, quiet
from bench.stack import MESSAGES, REPO_ROOT, BenchStack, child_env, start_stack
from bench.stats import Verdict, at_most, format_table

RESULTS = REPO_ROOT / ".bench" / "cost.json"
LOG = REPO_ROOT / ".bench" / "cost.log"

# List prices, us-east-1, USD. This machine has no internet: these are the published prices as the author knew
# them (AWS pricing pages as of 2025; OpenRouter's and Vercel's docs as of 2026), stated as assumptions.
PRICES_AS_OF = "2025-2026 list prices, not re-checked from this offline machine"
LAMBDA_GB_S_ARM = 0.0000133334  # arm64, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1e6
API_GATEWAY_REST_REQUEST = 3.50 / 1e6  # REST API, first 333 million a month (the template's API is REST)
DYNAMODB_WRU = 0.625 / 1e6  # on-demand write request unit (after the November 2024 price cut)
DYNAMODB_RRU = 0.125 / 1e6  # on-demand read request unit
KMS_REQUEST = 0.03 / 1e4
LOGS_INGEST_GB = 0.50  # CloudWatch Logs standard ingestion (Lambda's first tier of vended-log pricing)
LOG_EVENT_OVERHEAD_B = 26  # CloudWatch Logs bills 26 bytes of metadata per event
LAMBDA_PLATFORM_LOG_B = 330  # START, END and REPORT lines of each invocation (text format, with X-Ray trace id)
XRAY_TRACE = 5.00 / 1e6  # Tracing: Active; the default rule records 1 request a second and 5 % of the rest
XRAY_SAMPLED = 0.05
DATA_OUT_GB = 0.09  # data transfer out to the internet, first 10 TB a month
OPENROUTER_BYOK_FEE = 0.05  # of what the request would cost on OpenRouter, past 1M BYOK requests a month
VERCEL_BYOK_PER_REQUEST = 0.20 / 1000  # BYOK with fallback to Vercel's keys off, per successful request

# What the measured requests stand for.
STREAM_SECONDS = 10.0  # the streamed scenario: the upstream generates for 10 s
NON_STREAM_SECONDS = 2.0  # a non-streamed answer: the upstream answers after 2 s
TOKENS = {"non-streamed": (1000, 300), "streamed 10 s": (1000, 1000)}  # prompt, completion per request
PRICED_MODEL = "openai/gpt-5-mini"
# moto answers slower than DynamoDB: on AWS each request-path DynamoDB call is taken to cost this much wall time.
DYNAMODB_CALL_S = 0.004
COLD_START_RATE = 0.005  # cold starts per request (AWS reports under 1 % for steady traffic)
# Sizes compared, in steps coarse enough that the machine's noise in the cold-start CPU does not flip the choice.
MEMORY_SIZES = (256, 512, 768, 1024, 1280, 1536, 1769)
FULL_VCPU_MB = 1769  # Lambda gives a function one full vCPU at 1,769 MB, proportionally less below
COLD_START_LIMIT_S = 1.5  # the cold start (import + first request) a size must keep, estimated from CPU time
RSS_HEADROOM = 2.0  # memory >= this x the peak RSS measured


@dataclass(frozen=True)
class Scenario:
    name: str
    byok: bool
    stream: bool

    @property
    def kind(self) -> str:
        return "streamed 10 s" if self.stream else "non-streamed"


SCENARIOS = (
    Scenario("BYOK non-streamed", True, False),
    Scenario("shared non-streamed", False, False),
    Scenario("BYOK streamed 10 s", True, True),
    Scenario("shared streamed 10 s", False, True),
)


# --- DynamoDB units from the items on the wire ------------------------------------------------------------------


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (DynamoDB JSON), per its item-size rules."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    return sum(len(base64.b64decode(b)) for b in inner)  # BS


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


class AwsMeter:
    """Counts AWS calls made on the request's thread and the DynamoDB units they bill. Writes whose item size
    is not on the wire (UpdateItem) are sized afterwards by reading the item back (not counted)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.rru = 0.0
        self.wru = 0.0
        self.pending: list[tuple[str, dict[str, Any], int]] = []  # (table, key, multiplier): UpdateItem
        self.thread = 0

    def begin(self) -> None:
        import threading

        self.calls, self.rru, self.wru, self.pending = Counter(), 0.0, 0.0, []
        self.thread = threading.get_ident()

    def install(self) -> None:
        import threading

        from botocore.endpoint import Endpoint

        send = Endpoint._send
        meter = self

        def metered(endpoint: Endpoint, request: Any) -> Any:
            response = send(endpoint, request)
            if threading.get_ident() == meter.thread:
                meter.observe(request, response)
            return response

        Endpoint._send = metered

    def observe(self, request: Any, response: Any) -> None:
        target = request.headers.get("X-Amz-Target")
        if target is None:
            return
        target = target.decode() if isinstance(target, bytes) else target
        service, _, operation = target.partition(".")
        self.calls[f"{'kms' if service.startswith('TrentService') else 'dynamodb'}.{operation}"] += 1
        if not service.startswith("DynamoDB"):
            return
        body = json.loads(request.body or b"{}")
        answer = json.loads(response.content or b"{}")
        consistent = bool(body.get("ConsistentRead"))
        if operation == "GetItem":
            self.rru += read_units(item_size(answer.get("Item", {})), consistent)
        elif operation == "Query":
            self.rru += read_units(sum(item_size(i) for i in answer.get("Items", [])), consistent)
        elif operation == "PutItem":
            self.wru += write_units(item_size(body["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            self.pending.append((body["TableName"], body["Key"], 1))
        elif operation == "TransactWriteItems":
            for entry in body["TransactItems"]:
                kind, spec = next(iter(entry.items()))
                if kind == "Put":
                    self.wru += 2 * write_units(item_size(spec["Item"]))
                elif kind in ("Update", "Delete"):
                    self.pending.append((spec["TableName"], spec["Key"], 2))
                else:  # ConditionCheck
                    self.wru += 2

    def settle(self, client: Any) -> None:
        """Size the updated items now, with reads the meter does not count."""
        self.thread = 0
        for table, key, multiplier in self.pending:
            item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
            self.wru += multiplier * write_units(item_size(item))
        self.pending = []


# --- the measuring child ------------------------------------------------------------------------------------------


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """In the child: every scenario's per-request figures."""
    import botocore.session

    from bench.probes import Probe, install_botocore, install_httpx, max_rss_mb
    from bench.stream import TIMING_PACING, arm_pacing
    from bench.warm import load_handler

    log_path = REPO_ROOT / ".bench" / "cost-stdout.log"
    sys.stdout.flush()
    results = os.fdopen(os.dup(1), "w")
    sink = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(sink, 1)
    os.close(sink)

    handler = load_handler(config["function_dir"])
    from gateway.http.streaming import StreamedResponse

    probe, meter = Probe(), AwsMeter()
    install_httpx(probe)
    install_botocore(probe)
    meter.install()
    reader = botocore.session.Session().create_client("dynamodb")
    arm_pacing(config["sim_url"], ["openai"], **TIMING_PACING)
    series: dict[str, list[dict[str, Any]]] = {s["name"]: [] for s in config["scenarios"]}
    for index in range(config["warmup"] + config["requests"]):
        for scenario in config["scenarios"]:
            event = json.loads(scenario["raw_event"])
            sys.stdout.flush()
            logged_before = os.fstat(1).st_size
            probe.begin()
            meter.begin()
            started, started_cpu = time.perf_counter(), time.process_time()
            result = handler(event, None)
            last_byte = time.perf_counter()
            body_bytes = 0
            if isinstance(result, StreamedResponse):
                try:
                    for item in result.body:
                        body_bytes += len(item)
                    last_byte = time.perf_counter()
                finally:
                    result.close()  # what the runtime does after the last byte: settlement and the request record
            else:
                body_bytes = len(result.get("body") or "")
                if result.get("statusCode") != 200:
                    raise SystemExit(f"{scenario['name']}: {result.get('statusCode')}: {result.get('body')}")
            ended, ended_cpu = time.perf_counter(), time.process_time()
            sys.stdout.flush()
            with open(log_path, "rb") as log:
                log.seek(logged_before)
                written = log.read()
            meter.settle(reader)
            if index < config["warmup"]:
                continue
            series[scenario["name"]].append(
                {
                    "wall_s": ended - started,
                    "cpu_s": ended_cpu - started_cpu,
                    "upstream_s": probe.upstream_s,
                    "aws_s": probe.aws_s,
                    "aws_wire_s": probe.aws_wire_s,
                    "after_last_byte_s": ended - last_byte,
                    "log_bytes": len(written),
                    "log_lines": written.count(b"\n"),
                    "emf_blobs": written.count(b'"_aws"'),
                    "response_bytes": body_bytes,
                    "rru": meter.rru,
                    "wru": meter.wru,
                    "calls": dict(meter.calls),
                }
            )
    json.dump({"scenarios": series, "max_rss_mb": max_rss_mb()}, results)
    results.close()
    return {}


# --- the report ---------------------------------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class Inputs:
    """One scenario's measured per-request inputs (medians, or means for counts)."""

    cpu_s: float  # the function's own CPU
    overhead_wall_s: float  # wall time minus the upstream wait, with moto's AWS time replaced by DynamoDB's
    after_last_byte_s: float
    dynamodb_calls: float
    rru: float
    wru: float
    kms_calls: float
    log_bytes: float
    log_lines: float
    emf_blobs: float
    response_bytes: float


def inputs_of(runs: list[dict[str, Any]]) -> Inputs:
    dynamodb_calls = mean([sum(n for k, n in r["calls"].items() if k.startswith("dynamodb.")) for r in runs])
    overhead = median([r["wall_s"] - r["upstream_s"] - r["aws_wire_s"] for r in runs])
    return Inputs(
        cpu_s=median([r["cpu_s"] for r in runs]),
        overhead_wall_s=overhead + dynamodb_calls * DYNAMODB_CALL_S,
        after_last_byte_s=median([r["after_last_byte_s"] for r in runs]),
        dynamodb_calls=dynamodb_calls,
        rru=mean([r["rru"] for r in runs]),
        wru=mean([r["wru"] for r in runs]),
        kms_calls=mean([sum(n for k, n in r["calls"].items() if k.startswith("kms.")) for r in runs]),
        log_bytes=mean([r["log_bytes"] for r in runs]),
        log_lines=mean([r["log_lines"] for r in runs]),
        emf_blobs=mean([r["emf_blobs"] for r in runs]),
        response_bytes=mean([r["response_bytes"] for r in runs]),
    )


def access_log_bytes() -> int:
    """One API Gateway access-log line: the template's format with each $context value as a 24-byte value."""
    import re

    from local.template import load_template

    settings = load_template()["Resources"]["Api"]["Properties"]["AccessLogSetting"]
    return len(re.sub(r"\$context\.[A-Za-z.]+", "x" * 24, settings["Format"])) + LOG_EVENT_OVERHEAD_B


def upstream_seconds(scenario: Scenario) -> float:
    return STREAM_SECONDS if scenario.stream else NON_STREAM_SECONDS


def billed_seconds(inputs: Inputs, scenario: Scenario, memory_mb: int, cold_cpu_s: float) -> float:
    """Billed duration of one request at ``memory_mb``: the upstream's time, plus the gateway's own wall time
    (its CPU share stretched by the fraction of a vCPU the size gets), plus the cold starts' share."""
    slowdown = max(1.0, FULL_VCPU_MB / memory_mb)
    waiting = max(0.0, inputs.overhead_wall_s - inputs.cpu_s)
    own = inputs.cpu_s * slowdown + waiting
    return upstream_seconds(scenario) + own + COLD_START_RATE * cold_cpu_s * slowdown


def cost_per_million(inputs: Inputs, scenario: Scenario, memory_mb: int, cold_cpu_s: float) -> dict[str, float]:
    per_request = {
        "Lambda compute": billed_seconds(inputs, scenario, memory_mb, cold_cpu_s) * memory_mb / 1024 * LAMBDA_GB_S_ARM,
        "Lambda requests": LAMBDA_REQUEST,
        "API Gateway (REST)": API_GATEWAY_REST_REQUEST,
        "DynamoDB": inputs.wru * DYNAMODB_WRU + inputs.rru * DYNAMODB_RRU,
        # Warm requests decrypt nothing; each cold instance decrypts the BYOK key it uses once.
        "KMS": (inputs.kms_calls + (COLD_START_RATE if scenario.byok else 0.0)) * KMS_REQUEST,
        "CloudWatch Logs": (
            inputs.log_bytes + inputs.log_lines * LOG_EVENT_OVERHEAD_B + LAMBDA_PLATFORM_LOG_B + access_log_bytes()
        )
        / 1e9
        * LOGS_INGEST_GB,
        "X-Ray": XRAY_SAMPLED * XRAY_TRACE,
        "data out": inputs.response_bytes / 1e9 * DATA_OUT_GB,
    }
    return {name: value * 1e6 for name, value in per_request.items()}


def spend_per_request(scenario: Scenario) -> Decimal:
    """What the request's tokens cost at list price (the BYOK customer pays it to the provider)."""
    sys.path.insert(0, str(REPO_ROOT / "layers" / "gateway"))
    from gateway.core.catalog import get_catalog

    model = get_catalog().model(PRICED_MODEL)
    if model is None:
        raise SystemExit(f"{PRICED_MODEL} is not in the catalog")
    prompt, completion = TOKENS[scenario.kind]
    return model.providers[0].cost(prompt, completion)


def choose_memory(inputs: Inputs, scenario: Scenario, cold_cpu_s: float, peak_rss_mb: float) -> tuple[int, str]:
    """The cheapest size that keeps the estimated cold start under COLD_START_LIMIT_S and the peak RSS under
    1/RSS_HEADROOM of the memory."""
    fitting = [
        m
        for m in MEMORY_SIZES
        if m >= RSS_HEADROOM * peak_rss_mb and cold_cpu_s * max(1.0, FULL_VCPU_MB / m) <= COLD_START_LIMIT_S
    ]
    if not fitting:
        return MEMORY_SIZES[-1], "no size meets both limits: the largest"
    best = min(fitting, key=lambda m: sum(cost_per_million(inputs, scenario, m, cold_cpu_s).values()))
    return best, "cheapest size meeting both limits"


def report(measured: dict[str, Any], colds: dict[str, dict[str, float]], memory_mb: int) -> str:
    inputs = {s.name: inputs_of(measured["scenarios"][s.name]) for s in SCENARIOS}
    chat_cold = colds["chat"]
    sections = [
        f"Prices: us-east-1, {PRICES_AS_OF} (assumptions; bench/cost.py lists each)",
        f"Design measured: {measured.get('design', 'build defaults')} (what make bench-scale calls the new design)",
        "Measured inputs per request (medians of time, means of counts; moto's AWS time replaced by "
        f"{DYNAMODB_CALL_S * 1000:.0f} ms per DynamoDB call)",
        format_table(
            [
                "",
                "CPU ms",
                "own wall ms",
                "after last byte ms",
                "DynamoDB calls",
                "RRU",
                "WRU",
                "KMS",
                "log bytes",
                "EMF blobs",
                "response bytes",
            ],
            [
                [
                    name,
                    f"{i.cpu_s * 1000:.2f}",
                    f"{i.overhead_wall_s * 1000:.2f}",
                    f"{i.after_last_byte_s * 1000:.2f}",
                    f"{i.dynamodb_calls:.2f}",
                    f"{i.rru:.2f}",
                    f"{i.wru:.2f}",
                    f"{i.kms_calls:.3f}",
                    f"{i.log_bytes:.0f}",
                    f"{i.emf_blobs:.2f}",
                    f"{i.response_bytes:.0f}",
                ]
                for name, i in inputs.items()
            ],
        ),
        "Cold start (fresh process, layer requirements only), median: "
        + "; ".join(
            f"{name} CPU {c['cpu_s'] * 1000:.0f} ms (import + first request), peak RSS {c['max_rss_mb']:.0f} MiB"
            for name, c in colds.items()
        )
        + f"; API Gateway access-log line {access_log_bytes()} bytes; warm process peak RSS "
        f"{measured['max_rss_mb']:.0f} MiB",
    ]
    size_rows = []
    for size in MEMORY_SIZES:
        cold_s = chat_cold["cpu_s"] * max(1.0, FULL_VCPU_MB / size)
        totals = [sum(cost_per_million(inputs[s.name], s, size, chat_cold["cpu_s"]).values()) for s in SCENARIOS]
        size_rows.append([f"{size}", f"{cold_s:.2f}", *(f"{t:.2f}" for t in totals)])
    sections += [
        f"Chat function by memory size, USD per million requests (upstream {NON_STREAM_SECONDS:.0f} s non-streamed, "
        f"{STREAM_SECONDS:.0f} s streamed; one vCPU at {FULL_VCPU_MB} MB, proportionally less below)",
        format_table(["MB", "est. cold start s", *(s.name for s in SCENARIOS)], size_rows),
    ]
    chosen, why = choose_memory(
        inputs["BYOK streamed 10 s"], SCENARIOS[2], chat_cold["cpu_s"], max(c["max_rss_mb"] for c in colds.values())
    )
    sections.append(
        f"Chosen MemorySize for chat and messages: {chosen} MB ({why}: estimated cold start <= "
        f"{COLD_START_LIMIT_S} s, memory >= {RSS_HEADROOM:.0f}x peak RSS); template.yaml has {memory_mb} MB"
    )
    rows = []
    breakdown_rows = []
    for scenario in SCENARIOS:
        parts = cost_per_million(inputs[scenario.name], scenario, memory_mb, chat_cold["cpu_s"])
        total = sum(parts.values())
        spend = float(spend_per_request(scenario)) * 1e6
        openrouter = OPENROUTER_BYOK_FEE * spend if scenario.byok else None
        vercel = VERCEL_BYOK_PER_REQUEST * 1e6 if scenario.byok else None
        rows.append(
            [
                scenario.name,
                f"{total:.2f}",
                f"{spend:.0f}",
                f"{openrouter:.2f}" if openrouter is not None else "-",
                f"{vercel:.2f}" if vercel is not None else "-",
            ]
        )
        breakdown_rows.append([scenario.name, *(f"{v:.3f}" for v in parts.values())])
    sections += [
        f"USD per million requests at {memory_mb} MB ({PRICED_MODEL}; tokens per request: "
        + ", ".join(f"{k} {p} in / {c} out" for k, (p, c) in TOKENS.items())
        + ")",
        format_table(
            [
                "",
                "this gateway on AWS",
                "token spend (customer's)",
                "OpenRouter BYOK fee (5 %)",
                "Vercel BYOK, fallback off",
            ],
            rows,
        ),
        format_table(["", *cost_per_million(inputs[SCENARIOS[0].name], SCENARIOS[0], memory_mb, 0.0)], breakdown_rows),
    ]
    verdicts: list[Verdict] = []
    for scenario in SCENARIOS:
        i = inputs[scenario.name]
        if scenario.stream:
            # at the template's size: the gateway's CPU stretched by the share of a vCPU that size gets
            extra = (billed_seconds(i, scenario, memory_mb, 0.0) - upstream_seconds(scenario)) * 1000
            verdicts.append(
                at_most(
                    f"{scenario.name}: billed time beyond the upstream's {STREAM_SECONDS:.0f} s at {memory_mb} MB "
                    "<= 1 %",
                    extra,
                    STREAM_SECONDS * 10,
                    "{:.1f} ms",
                )
            )
        verdicts.append(at_most(f"{scenario.name}: KMS calls per warm request = 0", i.kms_calls, 0, "{:.3f}"))
    verdicts.append(
        at_most(f"chat MemorySize is the measured choice ({chosen} MB)", abs(memory_mb - chosen), 0, "off by {:.0f} MB")
    )
    sections.append(format_table(["target", "measured", ""], [[v.target, v.measured, v.label] for v in verdicts]))
    return "\n\n".join(sections)


def default_log_shards() -> int:
    from gateway.core.settings import get_settings

    return get_settings().log_shards


def template_memory() -> int:
    from local.template import load_template

    return int(load_template()["Resources"]["ChatFunction"]["Properties"]["MemorySize"])


def scenarios_config(stack: BenchStack) -> list[dict[str, Any]]:
    from bench.events import api_event

    return [
        {
            "name": s.name,
            "raw_event": json.dumps(
                api_event(
                    "POST",
                    "/v1/chat/completions",
                    api_key=(stack.byok if s.byok else stack.shared).api_key,
                    body={"model": PRICED_MODEL, "messages": MESSAGES, "stream": s.stream},
                )
            ),
        }
        for s in SCENARIOS
    ]


def cold_figures(stack: BenchStack, runs: int) -> dict[str, dict[str, float]]:
    from bench.run import cold_cases

    cases = [c for c in cold_cases(stack, sys.executable) if c.label.startswith(("chat", "messages"))]
    figures = {}
    for result in cold.measure(cases, runs):
        name = result.label.split(":")[0]
        figures[name] = {
            "cpu_s": median([r["import_cpu_s"] + r["first_request_cpu_s"] for r in result.runs]),
            "max_rss_mb": median(result.series("max_rss_mb")),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-cost", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="measured requests per scenario")
    parser.add_argument("--warmup", type=int, default=10, help="discarded warm-up requests per scenario")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per function")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        measure(json.load(sys.stdin))
        return 0

    lambda_layer.ensure()
    with quiet.output_to(LOG) as (_, progress):
        print(f"everything but this report goes to {LOG.relative_to(REPO_ROOT)}", file=progress)
        stack = start_stack()
        try:
            from bench.events import function_dir
            from bench.run import _run_json
            from bench.scale import designs

            design = designs(int(os.environ.get("LOG_SHARDS") or 0) or default_log_shards())[1]
            print(f"warm requests: the four scenarios, interleaved, design {design.label()}", file=progress)
            measured = _run_json(
                [sys.executable, "-m", "bench.cost", "--child"],
                {
                    "function_dir": function_dir("POST", "/v1/chat/completions"),
                    "scenarios": scenarios_config(stack),
                    "requests": args.requests,
                    "warmup": args.warmup,
                    "sim_url": stack.sim_url,
                },
                {**child_env(stack.env), **design.env},
            )
            measured["design"] = design.label()
            print("cold starts", file=progress)
            colds = cold_figures(stack, args.cold_runs)
        finally:
            stack.stop()
    print(report(measured, colds, template_memory()))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"measured": measured, "cold": colds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
