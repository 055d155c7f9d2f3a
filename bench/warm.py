"""The warm run of our side, in its own process: one function's real ``lambda_handler`` (chat, or messages),
many requests.

Reads its configuration as JSON on stdin and writes the per-request figures as JSON on the original stdout;
fd 1 itself goes to /dev/null so the handler's Powertools log lines and EMF metrics are still formatted and
written (as in Lambda) without flooding the terminal. The handler is loaded the way the Lambda runtime loads
it (function directory and layer on ``sys.path``, ``import app``) and called with a fresh copy of a real API
Gateway proxy event each time: authentication, body parsing, the plan, the adapter, the log write and the
credit charge all run.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.probes import Probe, install_botocore, install_httpx, max_rss_mb, silence_stdout

REPO_ROOT = Path(__file__).resolve().parent.parent
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
SERIES = (
    "upstream_s",
    "aws_s",
    "aws_wire_s",
    "reads",
    "writes",
    "kms",
    "reads_before_upstream",
    "writes_before_upstream",
    "upstream_calls",
    "background",
)


def started_by_runtime_loop(function_dir: str) -> bool:
    """Whether template.yaml starts this function through the layer's runtime loop (``AWS_LAMBDA_EXEC_WRAPPER``)."""
    from local.template import load_template

    for resource in load_template()["Resources"].values():
        properties = resource.get("Properties") or {}
        if str(properties.get("CodeUri", "")).rstrip("/") == function_dir.rstrip("/"):
            variables = (properties.get("Environment") or {}).get("Variables") or {}
            return "AWS_LAMBDA_EXEC_WRAPPER" in variables
    return False


def load_handler(function_dir: str) -> Handler:
    """The function's ``lambda_handler``; each function's ``app.py`` gets its own module name, so several
    functions' handlers can share one process (their requests are then interleaved like the others). A function
    the layer's runtime loop starts is loaded as the loop loads it: the garbage collector off during the import,
    turned back on (after ``gc.freeze``) when the first call returns (``lambda_runtime.ending_cold_start``)."""
    layer = str(REPO_ROOT / "layers" / "gateway")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    runtime_loop = started_by_runtime_loop(function_dir)
    name = "app_" + Path(function_dir).name
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / function_dir / "app.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no handler module in {function_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if runtime_loop:
        gc.disable()
    spec.loader.exec_module(module)
    handler: Handler = module.lambda_handler
    if not runtime_loop:
        return handler
    from gateway.http.lambda_runtime import ending_cold_start

    first: list[Handler] = [ending_cold_start(handler)]

    def as_the_loop_calls(event: dict[str, Any], context: Any) -> dict[str, Any]:
        call = first.pop() if first else handler
        return call(event, context)

    return as_the_loop_calls


def check(name: str, result: dict[str, Any], expect_byok: bool) -> None:
    """Stop the run if a request did not do what the scenario claims (a failure would measure nothing)."""
    if result.get("statusCode") != 200:
        raise SystemExit(f"{name}: status {result.get('statusCode')}: {str(result.get('body'))[:300]}")
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (result.get("multiValueHeaders") or {}).items() if v})
    if "x-gateway-byok" in headers:  # the Messages API reports the route in headers only
        if (headers["x-gateway-byok"] == "true") is not expect_byok:
            raise SystemExit(f"{name}: expected BYOK={expect_byok}, got x-gateway-byok {headers['x-gateway-byok']}")
        return
    usage = json.loads(result["body"]).get("usage", {})
    if usage.get("is_byok") is not expect_byok:
        raise SystemExit(f"{name}: expected is_byok={expect_byok}, got usage {usage}")


def run(
    handlers: dict[str, Handler], scenarios: list[dict[str, Any]], requests: int, warmup: int, probe: Probe
) -> dict[str, Any]:
    """Interleave the scenarios request by request, so drift on a shared machine hits them alike."""
    raw = {s["name"]: json.dumps(s["event"]) for s in scenarios}
    figures: dict[str, dict[str, list[float]]] = {
        s["name"]: {"total_s": [], **{k: [] for k in SERIES}} for s in scenarios
    }
    for index in range(warmup + requests):
        for scenario in scenarios:
            name = scenario["name"]
            event = json.loads(raw[name])
            probe.begin()
            started = time.perf_counter()
            result = handlers[name](event, None)
            total = time.perf_counter() - started
            check(name, result, scenario["expect_byok"])
            if index < warmup:
                continue
            sample = probe.sample()
            series = figures[name]
            series["total_s"].append(total)
            for key in SERIES:
                series[key].append(sample[key])
    return figures


def profile(handlers: dict[str, Handler], scenarios: list[dict[str, Any]], requests: int, path: str) -> None:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    for scenario in scenarios:
        raw = json.dumps(scenario["event"])
        profiler.enable()
        for _ in range(requests):
            handlers[scenario["name"]](json.loads(raw), None)
        profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    Path(path).write_text(text.getvalue())


def main() -> None:
    config = json.load(sys.stdin)
    results = silence_stdout()
    handler = load_handler(config["function_dir"])
    handlers = {
        s["name"]: load_handler(s["function_dir"]) if "function_dir" in s else handler for s in config["scenarios"]
    }
    probe = Probe()
    install_httpx(probe)
    install_botocore(probe)
    figures = run(handlers, config["scenarios"], config["requests"], config["warmup"], probe)
    peak = max_rss_mb()
    if config.get("profile"):
        profile(handlers, config["scenarios"], config["profile_requests"], config["profile"])
    json.dump({"scenarios": figures, "max_rss_mb": peak}, results)
    results.close()


if __name__ == "__main__":
    main()
