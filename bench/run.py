"""``make bench``: what the gateway adds to a request and how fast a cold function answers, against LiteLLM.

Everything runs on this machine: the provider simulator and the AWS emulation (moto) in their own processes,
our chat function in one process, LiteLLM's Router in another (its own venv), cold starts in fresh ones.
``make bench ARGS="--requests 2000 --profile"``; ``--help`` lists the options. Figures go to stdout as tables
and to ``.bench/results.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench import cold, lambda_layer, limits, litellm_env, quiet, responses
from bench.stack import MESSAGES, REPO_ROOT, BenchStack, child_env, start_stack
from bench.stats import Verdict, at_most, format_table, median, ms, overheads, percentile, ratio

RESULTS = REPO_ROOT / ".bench" / "results.json"
LOG = REPO_ROOT / ".bench" / "run.log"
PROFILE = REPO_ROOT / ".bench" / "profile.txt"
CHAT = "POST", "/v1/chat/completions"
MESSAGES_ROUTE = "POST", "/v1/messages"
P99_LIMIT_S = 0.010
EXTRA_SECTIONS = ("responses", "limits")  # bench/responses.py, bench/limits.py


@dataclass(frozen=True)
class Scenario:
    name: str  # ours
    model: str
    byok: bool
    litellm: str  # the LiteLLM deployment it is compared with


SCENARIOS = (
    Scenario("BYOK openai/gpt-5-mini", "openai/gpt-5-mini", True, "openai"),
    Scenario("shared openai/gpt-5-mini", "openai/gpt-5-mini", False, "openai"),
    Scenario("BYOK anthropic/claude-sonnet-4.5", "anthropic/claude-sonnet-4.5", True, "anthropic"),
)
# The same BYOK Claude request through the Anthropic front door (its own function, same routing core),
# against the same LiteLLM deployment.
MESSAGES_SCENARIOS = (
    Scenario("BYOK anthropic/claude-sonnet-4.5 via /v1/messages", "anthropic/claude-sonnet-4.5", True, "anthropic"),
)
# A 16-input batch through /v1/embeddings (its own function, same routing core), against LiteLLM's
# ``Router.embedding`` to the same simulator.
EMBEDDINGS_ROUTE = "POST", "/v1/embeddings"
EMBEDDING_INPUTS = [f"Passage {i}: the gateway routes each request to the customer's own key first." for i in range(16)]
EMBEDDINGS_SCENARIOS = (
    Scenario(
        "BYOK openai/text-embedding-3-small via /v1/embeddings, 16 inputs",
        "openai/text-embedding-3-small",
        True,
        "openai-embeddings",
    ),
)
ANTHROPIC_MESSAGES = [m for m in MESSAGES if m["role"] != "system"]
ANTHROPIC_SYSTEM = " ".join(m["content"] for m in MESSAGES if m["role"] == "system")


def litellm_deployments(stack: BenchStack) -> list[dict[str, str]]:
    url = stack.sim_url
    return [
        {"name": "openai", "model": "openai/gpt-5-mini", "api_base": f"{url}/openai/v1", "api_key": "sk-bench-ll-1"},
        {
            "name": "anthropic",
            "model": "anthropic/claude-sonnet-4-5-20250929",
            "api_base": f"{url}/anthropic",
            "api_key": "sk-ant-bench-ll-1",
        },
    ]


def litellm_embedding_deployments(stack: BenchStack) -> list[dict[str, str]]:
    url = stack.sim_url
    return [
        {
            "name": "openai-embeddings",
            "model": "openai/text-embedding-3-small",
            "api_base": f"{url}/openai/v1",
            "api_key": "sk-bench-ll-1",
        }
    ]


def _run_json(command: list[str], config: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, input=json.dumps(config), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-2:])} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def warm_ours(stack: BenchStack, args: argparse.Namespace) -> dict[str, Any]:
    from bench.events import api_event, function_dir

    scenarios = [
        {
            "name": s.name,
            "expect_byok": s.byok,
            "event": api_event(
                *CHAT,
                api_key=(stack.byok if s.byok else stack.shared).api_key,
                body={"model": s.model, "messages": MESSAGES},
            ),
        }
        for s in SCENARIOS
    ]
    # The Messages function's requests, interleaved with chat's in the same process (same drift, same AWS).
    body = {"max_tokens": 256, "system": ANTHROPIC_SYSTEM, "messages": ANTHROPIC_MESSAGES}
    scenarios += [
        {
            "name": s.name,
            "expect_byok": s.byok,
            "function_dir": function_dir(*MESSAGES_ROUTE),
            "event": api_event(
                *MESSAGES_ROUTE,
                api_key=(stack.byok if s.byok else stack.shared).api_key,
                body={"model": s.model, **body},
            ),
        }
        for s in MESSAGES_SCENARIOS
    ]
    scenarios += [
        {
            "name": s.name,
            "expect_byok": s.byok,
            "function_dir": function_dir(*EMBEDDINGS_ROUTE),
            "event": api_event(
                *EMBEDDINGS_ROUTE,
                api_key=(stack.byok if s.byok else stack.shared).api_key,
                # base64, as the openai SDK (and LangChain through it) asks by default
                body={"model": s.model, "input": EMBEDDING_INPUTS, "encoding_format": "base64"},
            ),
        }
        for s in EMBEDDINGS_SCENARIOS
    ]
    config = {
        "function_dir": function_dir(*CHAT),
        "scenarios": scenarios,
        "requests": args.requests,
        "warmup": args.warmup,
        "profile": str(PROFILE) if args.profile else None,
        "profile_requests": args.requests // 2,
    }
    return _run_json([sys.executable, "-m", "bench.warm"], config, child_env(stack.env))


STREAM_SCENARIOS = SCENARIOS  # the same three routes, with "stream": true
TTFT_P99_LIMIT_S = 0.005
CHUNK_P99_LIMIT_S = 0.001


def stream_ours(stack: BenchStack, args: argparse.Namespace) -> dict[str, Any]:
    from bench.events import api_event, function_dir

    scenarios = [
        {
            "name": s.name,
            "expect_byok": s.byok,
            "event": api_event(
                *CHAT,
                api_key=(stack.byok if s.byok else stack.shared).api_key,
                body={"model": s.model, "messages": MESSAGES, "stream": True},
            ),
        }
        for s in STREAM_SCENARIOS
    ]
    # The BYOK Claude stream through /v1/messages, interleaved with chat's in the same process.
    body = {"max_tokens": 256, "system": ANTHROPIC_SYSTEM, "messages": ANTHROPIC_MESSAGES, "stream": True}
    scenarios += [
        {
            "name": s.name,
            "expect_byok": s.byok,
            "api": "messages",
            "function_dir": function_dir(*MESSAGES_ROUTE),
            "event": api_event(
                *MESSAGES_ROUTE,
                api_key=(stack.byok if s.byok else stack.shared).api_key,
                body={"model": s.model, **body},
            ),
        }
        for s in MESSAGES_SCENARIOS
    ]
    config = {
        "function_dir": function_dir(*CHAT),
        "scenarios": scenarios,
        "requests": args.stream_requests,
        "warmup": args.stream_warmup,
        "sim_url": stack.sim_url,
        "providers": ["openai", "anthropic"],
    }
    return _run_json([sys.executable, "-m", "bench.stream"], config, child_env(stack.env))


def stream_litellm(stack: BenchStack, args: argparse.Namespace, interpreter: str) -> dict[str, Any]:
    config = {
        "deployments": litellm_deployments(stack),
        "messages": MESSAGES,
        "requests": args.stream_requests,
        "warmup": args.stream_warmup,
        "sim_url": stack.sim_url,
        "providers": ["openai", "anthropic"],
    }
    return _run_json([interpreter, "-m", "bench.litellm_side", "stream"], config, litellm_env_vars())


def stream_report(ours: dict[str, Any], theirs: dict[str, Any], requests: int) -> tuple[str, list[Verdict]]:
    rows: list[list[str]] = []
    verdicts: list[Verdict] = []

    def row(label: str, figures: dict[str, Any]) -> list[str]:
        ttft, chunks = figures["ttft_overhead_s"], figures["chunk_overheads_s"]
        aws = figures.get("aws_calls_while_streaming")
        return [
            label,
            ms(percentile(ttft, 50), 3),
            ms(percentile(ttft, 99), 3),
            ms(percentile(chunks, 50), 3),
            ms(percentile(chunks, 99), 3),
            f"{max(aws):.0f}" if aws else "-",
        ]

    for scenario in (*STREAM_SCENARIOS, *MESSAGES_SCENARIOS):
        mine = ours["scenarios"][scenario.name]
        other = theirs["scenarios"][scenario.litellm]
        rows.append(row(f"ours {scenario.name}", mine))
        ttft_ratio = ratio(percentile(mine["ttft_overhead_s"], 50), percentile(other["ttft_overhead_s"], 50))
        verdicts += [
            at_most(f"stream {scenario.name}: TTFT overhead p50 <= 0.5 x LiteLLM", ttft_ratio, 0.5, "{:.2f}x"),
            at_most(
                f"stream {scenario.name}: TTFT overhead p99 <= 5 ms",
                percentile(mine["ttft_overhead_s"], 99) * 1000,
                TTFT_P99_LIMIT_S * 1000,
                "{:.3f} ms",
            ),
            at_most(
                f"stream {scenario.name}: per-chunk relay overhead p99 <= 1 ms",
                percentile(mine["chunk_overheads_s"], 99) * 1000,
                CHUNK_P99_LIMIT_S * 1000,
                "{:.3f} ms",
            ),
            at_most(
                f"stream {scenario.name}: AWS calls between upstream first byte and client last byte = 0",
                max(mine["aws_calls_while_streaming"]),
                0,
                "max {:.0f}",
            ),
        ]
    for name, figures in theirs["scenarios"].items():
        rows.append(row(f"LiteLLM Router {name}", figures))
    memory_rows = [
        [
            side,
            *(f"{figures['memory'][str(n)]['traced_peak_mib']:.2f}" for n in (100, 10_000)),
            f"{figures['memory']['10000']['rss_growth_mib']:.1f}",
        ]
        for side, figures in (("ours", ours), ("LiteLLM", theirs))
    ]
    growth = ours["memory"]["10000"]["traced_peak_mib"] - ours["memory"]["100"]["traced_peak_mib"]
    verdicts.append(
        at_most("stream memory flat in length: traced peak 10,000 - 100 chunks <= 1 MiB", growth, 1.0, "{:.2f} MiB")
    )
    text = "\n\n".join(
        [
            f"Streaming overhead, ms = a content delta leaving the gateway - the upstream bytes carrying it arriving; "
            f"{requests} streams of 40 chunks per row, interleaved",
            format_table(
                ["", "TTFT p50", "TTFT p99", "per chunk p50", "per chunk p99", "AWS calls mid-stream (max)"], rows
            ),
            "Memory while one answer streams (tracemalloc peak, MiB) by answer length",
            format_table(["", "100 chunks", "10,000 chunks", "max RSS growth at 10,000, MiB"], memory_rows),
        ]
    )
    return text, verdicts


def litellm_env_vars() -> dict[str, str]:
    return {**child_env({}), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def warm_litellm(stack: BenchStack, args: argparse.Namespace, interpreter: str) -> dict[str, Any]:
    config = {
        "deployments": litellm_deployments(stack),
        "embedding_deployments": litellm_embedding_deployments(stack),
        "messages": MESSAGES,
        "inputs": EMBEDDING_INPUTS,
        "requests": args.requests,
        "warmup": args.warmup,
    }
    return _run_json([interpreter, "-m", "bench.litellm_side", "warm"], config, litellm_env_vars())


# The measured functions that Lambda starts through the layer's runtime loop (``AWS_LAMBDA_EXEC_WRAPPER`` in
# template.yaml); the others run on the managed runtime.
RUNTIME_LOOP = frozenset({"chat", "messages"})


def cold_cases(stack: BenchStack, interpreter: str) -> list[cold.ColdCase]:
    from bench.events import api_event, function_dir

    byok = stack.byok
    chat_body = {"model": "openai/gpt-5-mini", "messages": MESSAGES}
    requests = [
        ("chat", *CHAT, byok.api_key, chat_body),
        (
            "messages",
            *MESSAGES_ROUTE,
            byok.api_key,
            {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 256, "messages": ANTHROPIC_MESSAGES},
        ),
        ("keys", "GET", "/v1/byok/keys", byok.api_key, None),
        ("key_test", "POST", f"/v1/byok/keys/{byok.key_ids['openai']}/test", byok.api_key, None),
        ("logs", "GET", "/v1/logs?limit=20", byok.api_key, None),
        ("public", "GET", "/v1/models", byok.api_key, None),
    ]
    env = child_env(stack.env)
    site_dir = lambda_layer.ensure()
    cases = [
        cold.ColdCase(
            label=f"{label}: {method} {target.split('?')[0]}",
            command=[sys.executable, "-S", "-m", "bench.cold_child"],
            config={
                "function_dir": function_dir(method, target.split("?")[0]),
                "site_dir": site_dir,
                "event": api_event(method, target, api_key=api_key, body=body),
                "runtime_loop": label in RUNTIME_LOOP,
            },
            env=env,
        )
        for label, method, target, api_key, body in requests
    ]
    cases.append(
        cold.ColdCase(
            label="LiteLLM: import litellm, Router, first request",
            command=[interpreter, "-m", "bench.litellm_side", "cold"],
            config={"deployments": litellm_deployments(stack)[:1], "messages": MESSAGES},
            env=litellm_env_vars(),
        )
    )
    return cases


# --- report ---------------------------------------------------------------------------------------------------


def _overhead_series(figures: dict[str, list[float]]) -> dict[str, list[float]]:
    totals, upstream = figures["total_s"], figures["upstream_s"]
    series = {"incl": overheads(totals, upstream)}
    if "aws_s" in figures:
        series["excl"] = overheads(totals, upstream, figures["aws_s"])
        series["excl_wire"] = overheads(totals, upstream, figures["aws_wire_s"])
    else:  # LiteLLM makes no AWS calls: the three figures coincide
        series["excl"] = series["excl_wire"] = series["incl"]
    return series


def warm_report(ours: dict[str, Any], theirs: dict[str, Any], requests: int, warmup: int) -> tuple[str, list[Verdict]]:
    rows: list[list[str]] = []
    ratio_rows: list[list[str]] = []
    calls_rows: list[list[str]] = []
    verdicts: list[Verdict] = []
    litellm_series = {name: _overhead_series(f) for name, f in theirs["scenarios"].items()}
    for scenario in (*SCENARIOS, *MESSAGES_SCENARIOS, *EMBEDDINGS_SCENARIOS):
        figures = ours["scenarios"][scenario.name]
        mine = _overhead_series(figures)
        rows.append(
            [
                f"ours {scenario.name}",
                ms(percentile(mine["incl"], 50)),
                ms(percentile(mine["incl"], 99)),
                ms(percentile(mine["excl"], 50)),
                ms(percentile(mine["excl"], 99)),
                ms(percentile(mine["excl_wire"], 50)),
                ms(median(figures["aws_s"])),
                ms(median(figures["upstream_s"])),
            ]
        )
        other = litellm_series[scenario.litellm]
        p50_ratio = ratio(percentile(mine["excl"], 50), percentile(other["excl"], 50))
        ratio_rows.append(
            [
                f"{scenario.name} / LiteLLM {scenario.litellm}",
                f"{p50_ratio:.2f}",
                f"{ratio(percentile(mine['excl'], 99), percentile(other['excl'], 99)):.2f}",
                f"{ratio(percentile(mine['incl'], 50), percentile(other['incl'], 50)):.2f}",
                f"{ratio(percentile(mine['incl'], 99), percentile(other['incl'], 99)):.2f}",
            ]
        )
        calls_rows.append(
            [
                f"ours {scenario.name}",
                f"{sum(figures['reads']) / len(figures['reads']):.3f}",
                f"{max(figures['reads_before_upstream']):.0f}",
                f"{sum(figures['reads_before_upstream']) / len(figures['reads']):.3f}",
                f"{sum(figures['writes']) / len(figures['writes']):.3f}",
                f"{sum(figures['writes_before_upstream']) / len(figures['writes']):.3f}",
                f"{sum(figures['kms']):.0f}",
                f"{sum(figures.get('background', [0])):.0f}",
            ]
        )
        verdicts += [
            at_most(f"{scenario.name}: p50 excl. AWS <= 0.5 x LiteLLM", p50_ratio, 0.5, "{:.2f}x"),
            at_most(
                f"{scenario.name}: p99 excl. AWS <= 10 ms",
                percentile(mine["excl"], 99) * 1000,
                P99_LIMIT_S * 1000,
                "{:.2f} ms",
            ),
            at_most(f"{scenario.name}: KMS calls on warm requests = 0", sum(figures["kms"]), 0, "{:.0f}"),
            at_most(
                f"{scenario.name}: DynamoDB reads before the upstream call <= 1 (every request)",
                max(figures["reads_before_upstream"]),
                1,
                "max {:.0f}",
            ),
        ]
    for name, series in litellm_series.items():
        figures = theirs["scenarios"][name]
        rows.append(
            [
                f"LiteLLM Router {name}",
                ms(percentile(series["incl"], 50)),
                ms(percentile(series["incl"], 99)),
                ms(percentile(series["excl"], 50)),
                ms(percentile(series["excl"], 99)),
                ms(percentile(series["excl_wire"], 50)),
                "-",
                ms(median(figures["upstream_s"])),
            ]
        )
    text = "\n\n".join(
        [
            f"Warm overhead per request, ms = handler (or Router) time - upstream wait [- AWS time]; "
            f"{requests} requests per row after {warmup} warm-up, interleaved",
            format_table(
                [
                    "",
                    "p50 incl AWS",
                    "p99 incl AWS",
                    "p50 excl AWS",
                    "p99 excl AWS",
                    "p50 excl AWS wire",
                    "AWS p50",
                    "upstream p50",
                ],
                rows,
            ),
            format_table(
                ["ours / LiteLLM", "p50 excl AWS", "p99 excl AWS", "p50 incl AWS", "p99 incl AWS"], ratio_rows
            ),
            "AWS calls per warm request (botocore level)",
            format_table(
                [
                    "",
                    "DynamoDB reads",
                    "reads before upstream (max)",
                    "(mean)",
                    "DynamoDB writes",
                    "writes before upstream (mean)",
                    "KMS calls (total)",
                    "background AWS calls (total)",
                ],
                calls_rows,
            ),
        ]
    )
    return text, verdicts


def cold_report(results: list[cold.ColdRuns]) -> tuple[str, list[Verdict]]:
    rows = []
    for result in results:
        ours = "aws_s" in result.runs[0]
        total = [i + f for i, f in zip(result.series("import_s"), result.series("first_request_s"), strict=True)]
        rows.append(
            [
                result.label,
                ms(median(result.series("import_s")), 0),
                ms(median(result.series("first_request_s")), 0),
                ms(median(result.series("aws_s")), 0) if ours else "-",
                ms(median(total), 0),
                ms(median(result.series("wall_s")), 0),
                f"{median(result.series('max_rss_mb')):.0f}",
            ]
        )
    litellm = results[-1]
    litellm_import = median(litellm.series("import_s"))
    lines = []
    verdicts = []
    for api in ("chat", "messages"):
        runs = next(r for r in results if r.label.startswith(api))
        cold_s = median([i + f for i, f in zip(runs.series("import_s"), runs.series("first_request_s"), strict=True)])
        share = ratio(cold_s, litellm_import)
        lines.append(f"{api} cold start (import + first request) / LiteLLM import alone: {share:.2f}")
        if "import_cpu_s" in litellm.runs[0]:  # CPU time: steadier than wall time on a loaded machine
            cpu_s = median(
                [i + f for i, f in zip(runs.series("import_cpu_s"), runs.series("first_request_cpu_s"), strict=True)]
            )
            cpu_share = ratio(cpu_s, median(litellm.series("import_cpu_s")))
            lines.append(f"{api} the same in CPU time: {cpu_share:.2f}")
        verdicts.append(at_most(f"{api} cold start <= 0.15 x LiteLLM's import alone", share, 0.15, "{:.2f}x"))
    text = "\n\n".join(
        [
            f"Cold start, ms, median of {len(litellm.runs)} fresh processes (process = spawn to exit, seen by the "
            "parent); ours on the layer's requirements alone (python -S), as Lambda loads them",
            format_table(
                ["", "import", "first request", "of it AWS", "import + first", "process", "max RSS MiB"], rows
            ),
            "\n".join(lines),
        ]
    )
    return text, verdicts


def verdict_table(verdicts: list[Verdict]) -> str:
    return format_table(["target", "measured", ""], [[v.target, v.measured, v.label] for v in verdicts])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="measured warm requests per scenario")
    parser.add_argument("--warmup", type=int, default=50, help="discarded warm-up requests per scenario")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per cold-start case")
    parser.add_argument("--profile", action="store_true", help=f"cProfile our warm requests into {PROFILE}")
    parser.add_argument("--skip-cold", action="store_true", help="no cold starts")
    parser.add_argument("--stream-requests", type=int, default=200, help="measured streams per scenario")
    parser.add_argument("--stream-warmup", type=int, default=10, help="discarded warm-up streams per scenario")
    parser.add_argument("--only-stream", action="store_true", help="streaming figures only")
    responses.add_arguments(parser)
    limits.add_arguments(parser)
    parser.add_argument(
        "--only",
        action="append",
        choices=(*EXTRA_SECTIONS, "cold"),
        help="only this section (repeatable); the Responses API and API-key limits sections run in every full run",
    )
    args = parser.parse_args(argv)
    extras = [s for s in args.only if s != "cold"] if args.only else ([] if args.only_stream else list(EXTRA_SECTIONS))
    cold_wanted = "cold" in (args.only or []) or not (args.skip_cold or args.only_stream or args.only)

    interpreter = str(litellm_env.ensure())
    ours: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    cold_results: list[cold.ColdRuns] = []
    ours_stream: dict[str, Any] = {}
    theirs_stream: dict[str, Any] = {}
    extra_results: dict[str, Any] = {}
    with quiet.output_to(LOG) as (_, progress):
        print(f"everything but this report goes to {LOG.relative_to(REPO_ROOT)}", file=progress)
        print("starting the simulator and the AWS emulation, provisioning", file=progress)
        stack = start_stack()
        try:
            if "responses" in extras:
                print("Responses API: ours and LiteLLM, warm and streamed", file=progress)
                extra_results["responses"] = responses.measure(stack, args, interpreter)
            if "limits" in extras:
                print("API-key limits: with and without", file=progress)
                extra_results["limits"] = limits.measure(stack, args)
            if not (args.only_stream or args.only):
                print("warm run: ours", file=progress)
                ours = warm_ours(stack, args)
                print("warm run: LiteLLM", file=progress)
                theirs = warm_litellm(stack, args, interpreter)
            if not args.only:
                print("streaming run: ours", file=progress)
                ours_stream = stream_ours(stack, args)
                print("streaming run: LiteLLM", file=progress)
                theirs_stream = stream_litellm(stack, args, interpreter)
            if cold_wanted:
                print("cold starts", file=progress)
                cold_results = cold.measure(cold_cases(stack, interpreter), args.cold_runs)
        finally:
            stack.stop()

    sections: list[str] = []
    verdicts: list[Verdict] = []
    if ours:
        warm_text, verdicts = warm_report(ours, theirs, args.requests, args.warmup)
        sections.append(warm_text)
    if ours_stream:
        stream_text, stream_verdicts = stream_report(ours_stream, theirs_stream, args.stream_requests)
        sections.append(stream_text)
        verdicts += stream_verdicts
    for name, section in (("responses", responses), ("limits", limits)):
        if name in extra_results:
            extra_text, extra_verdicts = section.report(extra_results[name])
            sections.append(extra_text)
            verdicts += extra_verdicts
    if cold_results:
        cold_text, cold_verdicts = cold_report(cold_results)
        sections.append(cold_text)
        verdicts += cold_verdicts
    if ours:
        sections.append(
            "Peak memory (max RSS) after the warm run: chat (+ messages) function process "
            f"{ours['max_rss_mb']:.0f} MiB, "
            f"LiteLLM process {theirs['max_rss_mb']:.0f} MiB (litellm {theirs['version']})"
        )
    sections.append(verdict_table(verdicts))
    if args.profile:
        sections.append(f"profile of our warm requests: {PROFILE.relative_to(REPO_ROOT)}")
    print("\n\n".join(sections))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "ours": ours,
                "litellm": theirs,
                "stream": {"ours": ours_stream, "litellm": theirs_stream},
                "cold": [{"label": r.label, "runs": r.runs} for r in cold_results],
                **extra_results,
                "verdicts": [v.__dict__ for v in verdicts],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
