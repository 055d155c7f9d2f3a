"""``make bench``'s Responses section (issue 20): ``POST /v1/responses`` against LiteLLM's ``Router.responses``
in the same run, to the same simulator.

Warm (one answer) rows, interleaved request by request in one process (``bench.responses_side warm``): BYOK
openai (OpenAI's own ``/responses``, the body passed through) with ``store: false`` and stored, BYOK Claude
(translated onto Anthropic's Messages API) with ``store: false``, and a BYOK Claude turn that continues a stored
GPT turn by ``previous_response_id``. LiteLLM: its openai deployment (``/responses`` too) and its anthropic one
(its Responses-to-chat bridge). Streamed rows (``stream: true``, the simulator pacing 40 text deltas 2 ms
apart): TTFT overhead, and where a stored turn's write falls against the upstream's and the client's last byte.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any

from bench.stack import MESSAGES, BenchStack, child_env
from bench.stats import Verdict, at_most, format_table, median, ms, overheads, percentile, ratio

ROUTE = "POST", "/v1/responses"
INSTRUCTIONS = " ".join(m["content"] for m in MESSAGES if m["role"] == "system")
INPUT = " ".join(m["content"] for m in MESSAGES if m["role"] == "user")
OPENAI, CLAUDE = "openai/gpt-5-mini", "anthropic/claude-sonnet-4.5"
P99_LIMIT_MS = 5.0
TTFT_P99_LIMIT_MS = 2.0
PACING = {"chunks": 40, "delay": 0.002}

# name, model, store, continues a stored turn, LiteLLM deployment compared with
WARM_ROWS = (
    ("BYOK openai/gpt-5-mini, store false", OPENAI, False, False, "openai"),
    ("BYOK openai/gpt-5-mini, stored", OPENAI, True, False, "openai"),
    ("BYOK claude-sonnet-4.5 (translated), store false", CLAUDE, False, False, "anthropic"),
    ("BYOK claude-sonnet-4.5, previous_response_id turn", CLAUDE, False, True, "anthropic"),
)
STREAM_ROWS = (
    ("stream BYOK openai/gpt-5-mini, store false", OPENAI, False, False, "openai"),
    ("stream BYOK openai/gpt-5-mini, stored", OPENAI, True, False, "openai"),
    ("stream BYOK claude-sonnet-4.5 (translated), store false", CLAUDE, False, False, "anthropic"),
)
WINDOWS = ("before_upstream", "while_upstream", "after_upstream_before_client_end", "after_client_end")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--responses-requests", type=int, default=300, help="measured requests per Responses row")
    parser.add_argument(
        "--responses-stream-requests", type=int, default=100, help="measured streams per streamed Responses row"
    )


def _pacing(sim_url: str, method: str, body: dict[str, Any] | None = None) -> None:
    request = urllib.request.Request(  # noqa: S310 - the local simulator's http URL
        f"{sim_url}/_sim/pacing",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local simulator
        answer.read()


def _scenarios(stack: BenchStack, rows: tuple[tuple[str, str, bool, bool, str], ...], stream: bool) -> Any:
    from bench.events import api_event

    return [
        {
            "name": name,
            "expect_byok": True,
            "store": store,
            "continues": continues,
            "event": api_event(
                *ROUTE,
                api_key=stack.byok.api_key,
                body={"model": model, "input": INPUT, "instructions": INSTRUCTIONS, "store": store}
                | ({"stream": True} if stream else {}),
            ),
        }
        for name, model, store, continues, _ in rows
    ]


def measure(stack: BenchStack, args: argparse.Namespace, interpreter: str) -> dict[str, Any]:
    from bench.events import api_event, function_dir
    from bench.run import _run_json, litellm_deployments, litellm_env_vars

    env = child_env(stack.env)
    first_turn = api_event(
        *ROUTE, api_key=stack.byok.api_key, body={"model": OPENAI, "input": INPUT, "instructions": INSTRUCTIONS}
    )
    ours = {"function_dir": function_dir(*ROUTE), "first_turn": first_turn}
    theirs = {"deployments": litellm_deployments(stack), "input": INPUT, "instructions": INSTRUCTIONS}
    warm = {"requests": args.responses_requests, "warmup": args.warmup}
    streamed = {"requests": args.responses_stream_requests, "warmup": args.stream_warmup}
    command = [sys.executable, "-m", "bench.responses_side"]
    litellm = [interpreter, "-m", "bench.litellm_responses"]
    _pacing(stack.sim_url, "DELETE")  # whole answers, as the simulator gives them unpaced
    scenarios = _scenarios(stack, WARM_ROWS, False)
    results = {
        "warm": {
            "ours": _run_json([*command, "warm"], {**ours, **warm, "scenarios": scenarios}, env),
            "litellm": _run_json([*litellm, "warm"], {**theirs, **warm}, litellm_env_vars()),
        }
    }
    for provider in ("openai", "anthropic"):
        _pacing(stack.sim_url, "POST", {"provider": provider, **PACING})
    try:
        scenarios = _scenarios(stack, STREAM_ROWS, True)
        results["stream"] = {
            "ours": _run_json([*command, "stream"], {**ours, **streamed, "scenarios": scenarios}, env),
            "litellm": _run_json([*litellm, "stream"], {**theirs, **streamed}, litellm_env_vars()),
        }
    finally:
        _pacing(stack.sim_url, "DELETE")
    return results


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _window_mean(figures: dict[str, Any], what: str) -> float:
    return _mean([calls.get(what, 0) for calls in figures["calls"]])


def warm_report(results: dict[str, Any]) -> tuple[str, list[Verdict]]:
    ours, theirs = results["ours"]["scenarios"], results["litellm"]["scenarios"]
    rows: list[list[str]] = []
    call_rows: list[list[str]] = []
    verdicts: list[Verdict] = []
    litellm_p50 = {}
    for name, figures in theirs.items():
        series = overheads(figures["total_s"], figures["upstream_s"])
        litellm_p50[name] = percentile(series, 50)
        rows.append(
            [f"LiteLLM Router.responses {name}", "-", ms(litellm_p50[name]), ms(percentile(series, 99)), "-", "-"]
        )
    for name, _, _, _, compared in WARM_ROWS:
        figures = ours[name]
        excl = overheads(figures["total_s"], figures["upstream_s"], figures["aws_s"])
        incl = overheads(figures["total_s"], figures["upstream_s"])
        p50_ratio = ratio(percentile(excl, 50), litellm_p50[compared])
        rows.insert(
            len(call_rows),
            [
                f"ours {name}",
                ms(percentile(incl, 50)),
                ms(percentile(excl, 50)),
                ms(percentile(excl, 99)),
                ms(median(figures["aws_s"])),
                f"{p50_ratio:.2f}",
            ],
        )
        operations = sorted({op for calls in figures["calls"] for op in calls})
        call_rows.append(
            [
                f"ours {name}",
                f"{max(figures['read_before']):.0f}",
                f"{max(figures['write_before']):.0f}",
                f"{max(figures['kms_before']):.0f}",
                f"{_mean(figures['read_after']):.2f}",
                f"{_mean(figures['write_after']):.2f}",
                f"{_mean(figures['kms_after']):.2f}",
                ", ".join(f"{op} {_mean([c.get(op, 0) for c in figures['calls']]):.2f}" for op in operations),
            ]
        )
        verdicts += [
            at_most(f"responses {name}: p50 excl. AWS <= 0.5 x LiteLLM {compared}", p50_ratio, 0.5, "{:.2f}x"),
            at_most(f"responses {name}: p99 excl. AWS <= 5 ms", percentile(excl, 99) * 1000, P99_LIMIT_MS, "{:.2f} ms"),
        ]
    plain, stored = ours[WARM_ROWS[0][0]], ours[WARM_ROWS[1][0]]
    added_writes = _mean(stored["write_before"]) + _mean(stored["write_after"])
    added_writes -= _mean(plain["write_before"]) + _mean(plain["write_after"])
    fresh, continued = ours[WARM_ROWS[2][0]], ours[WARM_ROWS[3][0]]
    verdicts += [
        at_most("responses stored turn: writes added (DynamoDB + S3) <= 1", added_writes, 1, "{:.2f}"),
        at_most(
            "responses stored turn: writes added before the upstream = 0",
            max(stored["write_before"]) - max(plain["write_before"]),
            0,
            "{:.0f}",
        ),
        at_most(
            "responses previous_response_id turn: reads added before the upstream <= 1",
            max(continued["read_before"]) - max(fresh["read_before"]),
            1,
            "{:.0f}",
        ),
    ]
    text = "\n\n".join(
        [
            "Responses API, warm overhead per request, ms = handler (or Router.responses) time - upstream wait "
            f"[- AWS time]; {len(plain['total_s'])} requests per row, interleaved",
            format_table(["", "p50 incl AWS", "p50 excl AWS", "p99 excl AWS", "AWS p50", "p50 / LiteLLM"], rows),
            "Responses API, AWS calls per request around the upstream call (DynamoDB and S3 reads and writes, KMS)",
            format_table(
                [
                    "",
                    "reads before (max)",
                    "writes before (max)",
                    "KMS before (max)",
                    "reads after",
                    "writes after",
                    "KMS after",
                    "operations (mean per request)",
                ],
                call_rows,
            ),
        ]
    )
    return text, verdicts


def stream_report(results: dict[str, Any]) -> tuple[str, list[Verdict]]:
    ours, theirs = results["ours"]["scenarios"], results["litellm"]["scenarios"]
    rows: list[list[str]] = []
    verdicts: list[Verdict] = []
    for label, figures in [*((f"ours {n}", ours[n]) for n, *_ in STREAM_ROWS), *theirs.items()]:
        ttft, chunks = figures["ttft_overhead_s"], figures["chunk_overheads_s"]
        cells = [ms(percentile(ttft, 50), 3), ms(percentile(ttft, 99), 3), ms(percentile(chunks, 50), 3)]
        if "calls" in figures:
            cells += [f"{_window_mean(figures, f'write:{w}'):.2f}" for w in WINDOWS]
        else:
            cells += ["-"] * len(WINDOWS)
        rows.append([label if label.startswith("ours") else f"LiteLLM Router.responses {label}", *cells])
    for name, *_ in STREAM_ROWS:
        verdicts.append(
            at_most(
                f"responses {name}: TTFT overhead p99 <= 2 ms",
                percentile(ours[name]["ttft_overhead_s"], 99) * 1000,
                TTFT_P99_LIMIT_MS,
                "{:.3f} ms",
            )
        )
    plain, stored = ours[STREAM_ROWS[0][0]], ours[STREAM_ROWS[1][0]]

    def added(windows: tuple[str, ...]) -> float:
        return sum(_window_mean(stored, f"write:{w}") - _window_mean(plain, f"write:{w}") for w in windows)

    verdicts += [
        at_most("responses stream stored turn: writes added <= 1", added(WINDOWS), 1, "{:.2f}"),
        at_most(
            "responses stream stored turn: writes added before the upstream's last byte = 0",
            added(WINDOWS[:2]),
            0,
            "{:.2f}",
        ),
        at_most(
            "responses stream stored turn: writes added before the client's last byte = 0",
            added(WINDOWS[:3]),
            0,
            "{:.2f}",
        ),
    ]
    text = "\n\n".join(
        [
            "Responses API streamed (40 text deltas 2 ms apart): overhead, ms, of a text delta leaving the gateway "
            "- the upstream bytes carrying it arriving; DynamoDB + S3 writes per stream by when they start "
            f"({len(plain['ttft_overhead_s'])} streams per row, interleaved)",
            format_table(
                [
                    "",
                    "TTFT p50",
                    "TTFT p99",
                    "per chunk p50",
                    "writes before upstream",
                    "while upstream streams",
                    "after upstream's last byte, before client's",
                    "after client's last byte",
                ],
                rows,
            ),
        ]
    )
    return text, verdicts


def report(results: dict[str, Any]) -> tuple[str, list[Verdict]]:
    warm_text, warm_verdicts = warm_report(results["warm"])
    stream_text, stream_verdicts = stream_report(results["stream"])
    return f"{warm_text}\n\n{stream_text}", warm_verdicts + stream_verdicts
