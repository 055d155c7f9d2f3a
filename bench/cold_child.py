"""One cold start of one of our functions, in this fresh interpreter: import the handler, serve one request.

Run as ``python -S -m bench.cold_child`` with a JSON ``{"function_dir", "site_dir", "event"}`` on stdin; prints
the timings (wall and CPU) as JSON on the original stdout. Only the stdlib and ``bench.probes`` (stdlib-only at
import, as on LiteLLM's side) are imported first; the handler is loaded as the Lambda runtime loads it: the
function directory, the layer's code and the layer's requirements alone on ``sys.path`` (see
``bench.lambda_layer``), then ``import app``. The AWS probe is installed between the import and the request
(outside both timings) to split out the time the first request spent in AWS calls, including its KMS decrypt.
A function started by the layer's runtime loop (``"runtime_loop"``: chat, messages) is loaded as the loop loads
it: the loop's module imported, the garbage collector off until the first call returns
(``lambda_runtime.ending_cold_start``).
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time
from pathlib import Path

from bench.probes import silence_stdout

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    config = json.load(sys.stdin)
    results = silence_stdout()
    layer = [str(REPO_ROOT / "layers" / "gateway"), str(REPO_ROOT / config["site_dir"])]
    sys.path[:0] = [str(REPO_ROOT / config["function_dir"]), *layer]
    started, started_cpu = time.perf_counter(), time.process_time()
    if config.get("runtime_loop"):
        # Started by the layer's runtime loop (``AWS_LAMBDA_EXEC_WRAPPER``), as its ``main`` loads the handler.
        lambda_runtime = importlib.import_module("gateway.http.lambda_runtime")
        gc.disable()
        handler = lambda_runtime.ending_cold_start(importlib.import_module("app").lambda_handler)
    else:
        handler = importlib.import_module("app").lambda_handler
    imported, imported_cpu = time.perf_counter(), time.process_time()
    from bench.probes import Probe, install_botocore, install_httpx, max_rss_mb

    probe = Probe()
    install_botocore(probe)
    install_httpx(probe)
    probe.begin()
    before_request, before_request_cpu = time.perf_counter(), time.process_time()
    result = handler(config["event"], None)
    served, served_cpu = time.perf_counter(), time.process_time()
    status = result.get("statusCode")
    if status not in config.get("expect_status", [200]):
        raise SystemExit(f"{config['function_dir']}: status {status}: {str(result.get('body'))[:300]}")
    sample = probe.sample()
    json.dump(
        {
            "import_s": imported - started,
            "first_request_s": served - before_request,
            "import_cpu_s": imported_cpu - started_cpu,
            "first_request_cpu_s": served_cpu - before_request_cpu,
            "aws_s": sample["aws_s"],
            "upstream_s": sample["upstream_s"],
            "kms": sample["kms"],
            "max_rss_mb": max_rss_mb(),
            "modules": len(sys.modules),
        },
        results,
    )


if __name__ == "__main__":
    main()
