"""What the Lambda streaming runtime loop costs: per relayed chunk, and at cold start.

``.venv/bin/python -m bench.lambda_runtime`` streams 10,000 SSE-sized chunks through ``gateway.http.lambda_runtime``
to the tests' fake Runtime API over real HTTP on 127.0.0.1 and reports, per chunk, the time between the body
yielding it and the loop asking for the next one (the loop's whole work for that chunk: framing and one socket
write). It then times, in fresh interpreters, importing the loop alone, the chat function's module alone, and
both, since the loop runs in front of the chat handler on every cold start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from bench.stack import REPO_ROOT
from bench.stats import median, percentile
from local.handlers import ensure_layer_importable

CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"token"},"finish_reason":null}]}\n\n'
)


def relay(chunks: int) -> list[float]:
    """Microseconds the loop spent on each chunk."""
    ensure_layer_importable()
    from gateway.http import lambda_runtime, runtime_api
    from gateway.http.streaming import StreamedResponse
    from tests.fake_runtime_api import FakeRuntimeApi

    spent: list[float] = []

    def body() -> Iterator[bytes]:
        for _ in range(chunks):
            handed = time.perf_counter_ns()
            yield CHUNK
            spent.append((time.perf_counter_ns() - handed) / 1000)

    api = FakeRuntimeApi().start()

    def serve() -> None:
        with contextlib.suppress(runtime_api.RuntimeApiError):
            client = runtime_api.RuntimeApiClient(api.address)
            lambda_runtime.serve(client, lambda event, context: StreamedResponse(200, {}, body()))

    threading.Thread(target=serve, daemon=True).start()
    try:
        invocation = api.invoke({}).wait(timeout=300)
        assert invocation.integration_response()[1] == CHUNK * chunks
    finally:
        api.stop()
    return spent


def import_ms(statement: str, runs: int) -> float:
    """Median wall time of ``statement`` in fresh interpreters, with the chat function's code and the layer."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "functions" / "chat"), str(REPO_ROOT / "layers" / "gateway")]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per import measurement")
    args = parser.parse_args()

    spent = relay(args.chunks)
    print(f"relay, {args.chunks} chunks of {len(CHUNK)} B, loop time per chunk:")
    print(f"  p50 {percentile(spent, 50):.1f} us   p99 {percentile(spent, 99):.1f} us   max {max(spent):.1f} us")
    loop = import_ms("import gateway.http.lambda_runtime", args.runs)
    chat = import_ms("import app", args.runs)
    both = import_ms("import gateway.http.lambda_runtime; import app", args.runs)
    print(f"cold imports, median of {args.runs} fresh interpreters:")
    print(f"  loop alone {loop:.1f} ms   chat app alone {chat:.1f} ms   loop + chat app {both:.1f} ms")
    print(f"  the loop's marginal cost in front of the chat handler: {both - chat:+.1f} ms")


if __name__ == "__main__":
    main()
