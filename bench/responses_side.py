"""Our side of ``make bench``'s Responses section, in its own process: the responses function's real
``lambda_handler`` (``python -m bench.responses_side warm`` or ``stream``), configuration as JSON on stdin,
figures as JSON on the original stdout.

Besides the times ``bench.warm`` takes (handler, upstream wait, AWS time), every AWS call the request's own
thread makes is recorded with where it fell around the upstream call, so a stored turn's write and a
``previous_response_id`` turn's read can be placed:

- ``warm`` (one answer, no stream): before the upstream call, or after it (the answer is then still being
  shaped, and the client gets it when the handler returns);
- ``stream``: before the upstream request; while the upstream streams (its first to its last byte); after
  the upstream's last byte but before the client's last byte; after the client's last byte (``close()``:
  billing and the request record). The first content delta's relay overhead (TTFT overhead) is taken as in
  ``bench.stream``: the event leaving the gateway minus the arrival of the upstream bytes that carried it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.probes import (
    DYNAMODB_READS,
    DYNAMODB_WRITES,
    Probe,
    StreamProbe,
    install_botocore,
    install_httpx,
    install_stream_httpx,
    silence_stdout,
)
from bench.warm import Handler, check, load_handler

S3_READS = frozenset({"GetObject", "HeadObject"})
S3_WRITES = frozenset({"PutObject", "DeleteObject"})
CONTENT = b'"type":"response.output_text.delta"'


def kind(name: str) -> str:
    """``read``, ``write``, ``kms`` or ``other`` for a ``service.Operation`` (DynamoDB and S3 are the stores)."""
    service, _, operation = name.partition(".")
    if service == "kms":
        return "kms"
    if (service == "dynamodb" and operation in DYNAMODB_READS) or (service == "s3" and operation in S3_READS):
        return "read"
    if (service == "dynamodb" and operation in DYNAMODB_WRITES) or (service == "s3" and operation in S3_WRITES):
        return "write"
    return "other"


def record_aws_calls(on_call: Callable[[str], None]) -> None:
    """Call ``on_call("service.Operation")`` at the start of every outermost AWS call of the main thread
    (installed over ``bench.probes``' timers, so it sees each call before they do)."""
    from botocore.client import BaseClient

    inner = BaseClient._make_api_call
    main = threading.get_ident()
    depth = threading.local()

    def recorded(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        outermost = threading.get_ident() == main and not getattr(depth, "n", 0)
        if outermost:
            on_call(f"{self.meta.service_model.service_name}.{operation_name}")
        depth.n = getattr(depth, "n", 0) + 1
        try:
            return inner(self, operation_name, api_params)
        finally:
            depth.n -= 1

    BaseClient._make_api_call = recorded


def _handlers(config: dict[str, Any]) -> Handler:
    return load_handler(config["function_dir"])


def _answer(result: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result["body"])
    return body


def first_response(handler: Handler, event: dict[str, Any]) -> str:
    """The id of a stored response made now, which the continuation rows name as ``previous_response_id``."""
    result = handler(event, None)
    check("the stored first turn", result, True)
    answer = _answer(result)
    if answer.get("store") is not True:
        raise SystemExit(f"the first turn was not stored: {str(answer)[:300]}")
    return str(answer["id"])


def _continued(scenario: dict[str, Any], previous: str) -> dict[str, Any]:
    if not scenario.get("continues"):
        return scenario["event"]
    event = dict(scenario["event"])
    body = json.loads(event["body"])
    event["body"] = json.dumps({**body, "previous_response_id": previous})
    return event


def warm(config: dict[str, Any]) -> dict[str, Any]:
    handler = _handlers(config)
    probe = Probe()
    install_httpx(probe)
    install_botocore(probe)
    phases: Counter[str] = Counter()

    def on_call(name: str) -> None:
        phase = "before" if probe.upstream_calls == 0 and not probe._in_http else "after"
        phases[f"{kind(name)}_{phase}"] += 1
        phases[name] += 1

    record_aws_calls(on_call)
    previous = first_response(handler, config["first_turn"])
    raw = {s["name"]: json.dumps(_continued(s, previous)) for s in config["scenarios"]}
    counted = ("read", "write", "kms")
    figures: dict[str, dict[str, list[Any]]] = {
        s["name"]: {
            "total_s": [],
            "upstream_s": [],
            "aws_s": [],
            "calls": [],
            **{f"{k}_{p}": [] for k in counted for p in ("before", "after")},
        }
        for s in config["scenarios"]
    }
    for index in range(config["warmup"] + config["requests"]):
        for scenario in config["scenarios"]:  # interleaved, so drift on a shared machine hits them alike
            name = scenario["name"]
            event = json.loads(raw[name])
            probe.begin()
            phases.clear()
            started = time.perf_counter()
            result = handler(event, None)
            total = time.perf_counter() - started
            check(name, result, scenario["expect_byok"])
            if _answer(result).get("store") is not scenario["store"]:
                raise SystemExit(f"{name}: answered store={_answer(result).get('store')}")
            if index < config["warmup"]:
                continue
            series = figures[name]
            series["total_s"].append(total)
            series["upstream_s"].append(probe.upstream_s)
            series["aws_s"].append(probe.aws_s)
            series["calls"].append({k: v for k, v in phases.items() if "." in k})
            for key in counted:
                for phase in ("before", "after"):
                    series[f"{key}_{phase}"].append(phases[f"{key}_{phase}"])
    return {"scenarios": figures}


@dataclass
class Timeline(StreamProbe):
    """One streamed request: ``StreamProbe``'s upstream byte arrivals, plus when the upstream request started
    and when each AWS call of the request's thread started, with its name."""

    upstream_start: float | None = None
    aws: list[tuple[float, str]] = field(default_factory=list)

    def begin(self) -> None:
        super().begin()
        self.upstream_start = None
        self.aws = []


def install_timeline(timeline: Timeline) -> None:
    import httpx

    install_stream_httpx(timeline)
    timed = httpx.HTTPTransport.handle_request

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if timeline.upstream_start is None:
            timeline.upstream_start = time.perf_counter()
        return timed(self, request)

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    record_aws_calls(lambda name: timeline.aws.append((time.perf_counter(), name)))


def relays(name: str, outs: list[float], probe: StreamProbe) -> list[float]:
    """Per text delta that left at ``outs``: how long after the upstream bytes carrying it arrived."""
    found = []
    for moment in outs:
        arrived = probe.arrived_before(moment)
        if arrived is None:
            raise SystemExit(f"{name}: a delta left before any upstream byte arrived")
        found.append(moment - arrived)
    return found


def serve(modes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]], **extra: Callable[[], Any]) -> None:
    """``python -m <module> MODE``: the mode's figures for the JSON configuration on stdin, as JSON on the
    original stdout (fd 1 itself goes to /dev/null); ``extra`` adds keys computed after the run."""
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in modes:
        raise SystemExit(f"unknown mode {mode!r}: expected {' or '.join(modes)}")
    config = json.load(sys.stdin)
    results = silence_stdout()
    figures = modes[mode](config)
    json.dump({**figures, **{key: compute() for key, compute in extra.items()}}, results)
    results.close()


WINDOWS = ("before_upstream", "while_upstream", "after_upstream_before_client_end", "after_client_end")


def stream_sample(handler: Handler, scenario: dict[str, Any], event: dict[str, Any], timeline: Timeline) -> Any:
    from gateway.http.streaming import StreamedResponse

    timeline.begin()
    result = handler(event, None)
    if not isinstance(result, StreamedResponse) or result.status_code != 200:
        raise SystemExit(f"{scenario['name']}: not a streamed 200: {str(result)[:300]}")
    if result.headers.get("x-gateway-byok") != ("true" if scenario["expect_byok"] else "false"):
        raise SystemExit(f"{scenario['name']}: served by the wrong credential: {result.headers}")
    outs: list[float] = []
    last_out = 0.0
    final = b""
    try:
        for item in result.body:
            last_out = time.perf_counter()
            if CONTENT in item:
                outs.append(last_out)
            final = item if item.startswith(b"event: response.") else final
    finally:
        result.close()
    if not outs or timeline.upstream_start is None or not timeline.arrivals:
        raise SystemExit(f"{scenario['name']}: the stream carried no content")
    if b"response.completed" not in final or (b'"store":true' in final) is not scenario["store"]:
        raise SystemExit(f"{scenario['name']}: unexpected final event {final[:300]!r}")
    bounds = (timeline.upstream_start, timeline.arrivals[-1], last_out)
    return relays(scenario["name"], outs, timeline), window_counts(timeline.aws, bounds)


def window_counts(calls: list[tuple[float, str]], bounds: tuple[float, float, float]) -> dict[str, int]:
    """AWS calls by kind and by operation in each of ``WINDOWS``, given by when they started against
    ``bounds``: the upstream request's start, the upstream's last byte, the client's last byte."""
    counts: Counter[str] = Counter()
    for started, name in calls:
        window = WINDOWS[sum(1 for bound in bounds if started > bound)]
        counts[f"{kind(name)}:{window}"] += 1
        counts[f"{name}:{window}"] += 1
    return dict(counts)


def stream(config: dict[str, Any]) -> dict[str, Any]:
    handler = _handlers(config)
    timeline = Timeline()
    install_timeline(timeline)
    previous = first_response(handler, config["first_turn"])
    raw = {s["name"]: json.dumps(_continued(s, previous)) for s in config["scenarios"]}
    figures: dict[str, dict[str, list[Any]]] = {
        s["name"]: {"ttft_overhead_s": [], "chunk_overheads_s": [], "calls": []} for s in config["scenarios"]
    }
    for index in range(config["warmup"] + config["requests"]):
        for scenario in config["scenarios"]:
            relays, counts = stream_sample(handler, scenario, json.loads(raw[scenario["name"]]), timeline)
            if index < config["warmup"]:
                continue
            series = figures[scenario["name"]]
            series["ttft_overhead_s"].append(relays[0])
            series["chunk_overheads_s"].extend(relays[1:])
            series["calls"].append(counts)
    return {"scenarios": figures}


def main() -> None:
    serve({"warm": warm, "stream": stream})


if __name__ == "__main__":
    main()
