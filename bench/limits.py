"""``make bench``'s API-key limits section (issue 23): what a budget and a rate limit on the calling key cost.

The same chat requests as the warm section's BYOK and shared openai rows, each sent with the account's key as
created (no limits) and with an ordinary key that has a monthly budget and a ``rate_limit_rpm`` (both far above
what the run spends, so every request is served), interleaved request by request in one process
(``bench.warm``: the chat function's real handler, the same probes). Per row: DynamoDB reads and writes before
the upstream call, and the warm overhead; the limited rows' overhead p50 is compared with the unlimited rows'
of the same run. Two more rows with the budget alone show what the rate limit's own write costs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.stack import MESSAGES, BenchStack, child_env
from bench.stats import Verdict, at_most, format_table, median, ms, overheads, percentile, ratio

CHAT = "POST", "/v1/chat/completions"
MODEL = "openai/gpt-5-mini"
# A budget of shared capacity (BYOK cost not included) and a rate limit that the run never reaches.
LIMITS: dict[str, Any] = {
    "limit": {"usd": "900", "period": "month", "include_byok": False},
    "rate_limit_rpm": 1_000_000,
}
OVERHEAD_LIMIT = 1.10  # limited p50 excl AWS <= 1.1 x the unlimited row's
BUDGET_ONLY = {"limit": LIMITS["limit"]}
ROWS = (  # name, BYOK account?, the key's limits (None: the account's own key, without any)
    ("BYOK openai, no limits", True, None),
    ("BYOK openai, budget + rate limit", True, LIMITS),
    ("BYOK openai, budget only", True, BUDGET_ONLY),
    ("shared openai, no limits", False, None),
    ("shared openai, budget + rate limit", False, LIMITS),
    ("shared openai, budget only", False, BUDGET_ONLY),
)
# The writes a limited key may make before the upstream: none on BYOK (a budget without include_byok holds
# nothing there), the credit hold alone on shared capacity (the budget's counter rides in it).
WRITES_BEFORE_UPSTREAM = {True: 0, False: 1}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limits-requests", type=int, default=300, help="measured requests per API-key limits row")


def limited_key(account_id: str, limits: dict[str, Any]) -> str:
    """An ordinary gateway key of the account with ``limits``, created through the API's own validation."""
    from gateway.apis import api_keys as gateway_keys
    from gateway.data import api_keys
    from gateway.http.resolver import parse_model

    body = {"name": "bench limited", **limits}
    settings = gateway_keys.settings(parse_model(body, gateway_keys.CreateApiKeyRequest))
    return api_keys.create_api_key(account_id, settings={**settings, "management": False})


def measure(stack: BenchStack, args: argparse.Namespace) -> dict[str, Any]:
    from bench.events import api_event, function_dir
    from bench.run import _run_json

    scenarios = []
    for name, byok, limits in ROWS:
        customer = stack.byok if byok else stack.shared
        api_key = customer.api_key if limits is None else limited_key(customer.account_id, limits)
        body = {"model": MODEL, "messages": MESSAGES}
        scenarios.append({"name": name, "expect_byok": byok, "event": api_event(*CHAT, api_key=api_key, body=body)})
    config = {
        "function_dir": function_dir(*CHAT),
        "scenarios": scenarios,
        "requests": args.limits_requests,
        "warmup": args.warmup,
    }
    return _run_json([sys.executable, "-m", "bench.warm"], config, child_env(stack.env))


def report(results: dict[str, Any]) -> tuple[str, list[Verdict]]:
    rows: list[list[str]] = []
    verdicts: list[Verdict] = []
    p50: dict[str, float] = {}
    for name, byok, limits in ROWS:
        figures = results["scenarios"][name]
        excl = overheads(figures["total_s"], figures["upstream_s"], figures["aws_s"])
        p50[name] = percentile(excl, 50)
        reads_before = max(figures["reads_before_upstream"])
        writes_before = max(figures["writes_before_upstream"])
        # A rate limit takes its slots in batches: one request of a batch writes, the others spend what it took
        writes_before_mean = sum(figures["writes_before_upstream"]) / len(figures["writes_before_upstream"])
        rows.append(
            [
                name,
                ms(p50[name]),
                ms(percentile(excl, 99)),
                ms(median(figures["aws_s"])),
                f"{reads_before:.0f}",
                f"{writes_before_mean:.3f} ({writes_before:.0f})",
                f"{sum(figures['writes']) / len(figures['writes']):.2f}",
            ]
        )
        if limits is None:
            continue
        route = ("BYOK" if byok else "shared") + ("" if limits is LIMITS else ", budget only")
        baseline = name.split(", ")[0] + ", no limits"
        verdicts += [
            at_most(f"limits {route}: DynamoDB reads before the upstream = 1", reads_before, 1, "max {:.0f}"),
            at_most(
                f"limits {route}: DynamoDB writes before the upstream <= {WRITES_BEFORE_UPSTREAM[byok]} a request "
                "(amortised, to 2 places)",
                round(writes_before_mean, 2),
                WRITES_BEFORE_UPSTREAM[byok],
                f"mean {{:.2f}} (max {writes_before:.0f})",
            ),
            at_most(
                f"limits {route}: warm overhead p50 excl AWS <= 1.1 x the same run without limits",
                ratio(p50[name], p50[baseline]),
                OVERHEAD_LIMIT,
                "{:.2f}x",
            ),
        ]
    text = "\n\n".join(
        [
            f"API-key limits: the same chat request with the account's key and with a key holding a budget "
            f"(${LIMITS['limit']['usd']}/month, shared capacity) and rate_limit_rpm {LIMITS['rate_limit_rpm']:,}; "
            f"{len(results['scenarios'][ROWS[0][0]]['total_s'])} requests per row, interleaved",
            format_table(
                [
                    "",
                    "p50 excl AWS",
                    "p99 excl AWS",
                    "AWS p50",
                    "reads before upstream (max)",
                    "writes before upstream, mean (max)",
                    "writes (mean)",
                ],
                rows,
            ),
        ]
    )
    return text, verdicts
