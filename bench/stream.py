"""Streaming figures of one side, in its own process: ours (``python -m bench.stream``, the chat function's
real ``lambda_handler`` returning a ``StreamedResponse``, and the messages function's for its scenarios) or
LiteLLM's (``bench.litellm_side stream``).

Per streamed request, with the simulator pacing its content chunks a little apart so each arrives in its own
read:

- time-to-first-token overhead: the moment the first content delta leaves the gateway (the body item is
  handed to the server, or LiteLLM's stream wrapper yields it) minus the arrival of the upstream bytes that
  carried it (the httpx transport handing them on);
- per-chunk relay overhead: the same for every later content delta;
- AWS calls between the upstream's first byte and the client's last byte (ours only: LiteLLM makes none).

Then peak memory of one 100-chunk and one 10,000-chunk answer (tracemalloc peak while it streams, and the
growth of the process's max RSS), to show whether memory grows with the answer's length.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.probes import StreamProbe, install_botocore_times, install_stream_httpx, max_rss_mb, silence_stdout

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMING_PACING = {"chunks": 40, "delay": 0.002}
MEMORY_CHUNKS = (100, 10_000)
# One stream: yields (moment the item left, whether it carried content); the caller consumes it fully.
Consume = Callable[[dict[str, Any]], Iterator[tuple[float, bool]]]


def arm_pacing(sim_url: str, providers: list[str], **pacing: Any) -> None:
    """Pace every provider's streams from now on (the most recently armed pacing wins)."""
    for provider in providers:
        request = urllib.request.Request(  # noqa: S310 - the local simulator's http URL
            f"{sim_url}/_sim/pacing",
            data=json.dumps({"provider": provider, **pacing}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local simulator
            answer.read()


def measure(consume: Consume, scenario: dict[str, Any], probe: StreamProbe) -> dict[str, Any]:
    """One streamed request's figures."""
    probe.begin()
    outs: list[float] = []
    last_out = 0.0
    for moment, has_content in consume(scenario):
        last_out = moment
        if has_content:
            outs.append(moment)
    if not outs or not probe.arrivals:
        raise SystemExit(f"{scenario['name']}: the stream carried no content")
    relays = []
    for moment in outs:
        arrived = probe.arrived_before(moment)
        if arrived is None:
            raise SystemExit(f"{scenario['name']}: a delta left before any upstream byte arrived")
        relays.append(moment - arrived)
    first_in = probe.arrivals[0]
    return {
        "ttft_overhead_s": relays[0],
        "chunk_overheads_s": relays[1:],
        "aws_calls_while_streaming": sum(1 for t in probe.aws_calls if first_in <= t <= last_out),
        "content_chunks": len(outs),
    }


def run(
    consume: Consume, scenarios: list[dict[str, Any]], config: dict[str, Any], probe: StreamProbe
) -> dict[str, Any]:
    arm_pacing(config["sim_url"], config["providers"], **TIMING_PACING)
    figures: dict[str, dict[str, list[Any]]] = {
        s["name"]: {"ttft_overhead_s": [], "chunk_overheads_s": [], "aws_calls_while_streaming": []} for s in scenarios
    }
    for index in range(config["warmup"] + config["requests"]):
        for scenario in scenarios:  # interleaved, so drift on a shared machine hits every scenario alike
            sample = measure(consume, scenario, probe)
            if sample["content_chunks"] != TIMING_PACING["chunks"]:
                raise SystemExit(f"{scenario['name']}: {sample['content_chunks']} content chunks, not 40")
            if index < config["warmup"]:
                continue
            series = figures[scenario["name"]]
            series["ttft_overhead_s"].append(sample["ttft_overhead_s"])
            series["chunk_overheads_s"].extend(sample["chunk_overheads_s"])
            series["aws_calls_while_streaming"].append(sample["aws_calls_while_streaming"])
    memory = {}
    for chunks in MEMORY_CHUNKS:
        arm_pacing(config["sim_url"], config["providers"], chunks=chunks)
        rss_before = max_rss_mb()
        probe.recording = False  # its own timestamp lists would grow with the answer
        tracemalloc.start()
        content_chunks = sum(1 for _, has_content in consume(scenarios[0]) if has_content)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if content_chunks != chunks:
            raise SystemExit(f"memory run: {content_chunks} content chunks, not {chunks}")
        memory[str(chunks)] = {"traced_peak_mib": peak / (1024 * 1024), "rss_growth_mib": max_rss_mb() - rss_before}
    return {"scenarios": figures, "memory": memory, "max_rss_mb": max_rss_mb()}


# What marks an SSE item that carries content: a chat chunk's content delta, or an Anthropic content_block_delta.
CHAT_CONTENT = (b'"content":"', b'"content":""')
MESSAGES_CONTENT = (b'"type":"content_block_delta"', b"\x00")


def our_consumer(function_dir: str) -> Consume:
    from bench.warm import load_handler

    handlers = {function_dir: load_handler(function_dir)}  # puts the layer on sys.path, as Lambda does
    from gateway.http.streaming import StreamedResponse

    def consume(scenario: dict[str, Any]) -> Iterator[tuple[float, bool]]:
        directory = scenario.get("function_dir", function_dir)
        handler = handlers.get(directory) or handlers.setdefault(directory, load_handler(directory))
        marker, not_content = MESSAGES_CONTENT if scenario.get("api") == "messages" else CHAT_CONTENT
        result = handler(json.loads(scenario["raw_event"]), None)
        if not isinstance(result, StreamedResponse) or result.status_code != 200:
            raise SystemExit(f"{scenario['name']}: not a streamed 200: {str(result)[:300]}")
        if result.headers.get("x-gateway-byok") != ("true" if scenario["expect_byok"] else "false"):
            raise SystemExit(f"{scenario['name']}: served by the wrong credential: {result.headers}")
        try:
            for item in result.body:
                moment = time.perf_counter()
                yield moment, marker in item and not_content not in item
        finally:
            result.close()  # what the server does after the last byte: billing and the request record

    return consume


def main() -> None:
    config = json.load(sys.stdin)
    results = silence_stdout()
    consume = our_consumer(config["function_dir"])
    probe = StreamProbe()
    install_stream_httpx(probe)
    install_botocore_times(probe)
    scenarios = [{**s, "raw_event": json.dumps(s["event"])} for s in config["scenarios"]]
    json.dump(run(consume, scenarios, config, probe), results)
    results.close()


if __name__ == "__main__":
    main()
