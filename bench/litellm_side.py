"""LiteLLM's side of the benchmark, run with the LiteLLM environment's interpreter (``.bench/litellm-venv``).

``python -m bench.litellm_side warm`` reads a JSON configuration on stdin, routes the same requests as ours
through one ``litellm.Router`` to the same simulator and prints the same per-request figures as
``bench.warm``. ``python -m bench.litellm_side cold`` times ``import litellm`` and then building a Router and
serving its first request, in this fresh interpreter. Only the stdlib and ``bench.probes`` (stdlib at import)
are loaded before the timed part.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.probes import Probe, install_httpx, max_rss_mb, silence_stdout

SERIES = ("upstream_s", "upstream_calls")


def _quiet(litellm: Any) -> None:
    litellm.telemetry = False
    litellm.suppress_debug_info = True


def make_router(deployments: list[dict[str, Any]]) -> Any:
    from litellm import Router

    return Router(
        model_list=[
            {
                "model_name": d["name"],
                "litellm_params": {"model": d["model"], "api_base": d["api_base"], "api_key": d["api_key"]},
            }
            for d in deployments
        ]
    )


def check(name: str, response: Any) -> None:
    text = response.choices[0].message.content or ""
    if "Hello" not in text:
        raise SystemExit(f"litellm {name}: unexpected answer {text[:200]!r}")


def check_embeddings(name: str, response: Any, count: int) -> None:
    if len(response.data) != count:
        raise SystemExit(f"litellm {name}: {len(response.data)} embeddings for {count} inputs")


def warm(config: dict[str, Any]) -> dict[str, Any]:
    results = silence_stdout()
    import litellm

    _quiet(litellm)
    embedding = config.get("embedding_deployments", [])
    router = make_router([*config["deployments"], *embedding])
    probe = Probe()
    install_httpx(probe)
    messages, inputs = config["messages"], config.get("inputs", [])
    embedders = {d["name"] for d in embedding}
    names = [d["name"] for d in (*config["deployments"], *embedding)]
    figures: dict[str, dict[str, list[float]]] = {n: {"total_s": [], **{k: [] for k in SERIES}} for n in names}
    for index in range(config["warmup"] + config["requests"]):
        for name in names:
            probe.begin()
            started = time.perf_counter()
            if name in embedders:
                response = router.embedding(model=name, input=inputs)
                total = time.perf_counter() - started
                check_embeddings(name, response, len(inputs))
            else:
                response = router.completion(model=name, messages=messages)
                total = time.perf_counter() - started
                check(name, response)
            if index < config["warmup"]:
                continue
            sample = probe.sample()
            figures[name]["total_s"].append(total)
            for key in SERIES:
                figures[name][key].append(sample[key])
    from importlib.metadata import version

    json.dump({"scenarios": figures, "max_rss_mb": max_rss_mb(), "version": version("litellm")}, results)
    return figures


def stream(config: dict[str, Any]) -> None:
    """The streaming figures of ``bench.stream``, through ``Router.completion(stream=True)``."""
    from bench.probes import StreamProbe, install_stream_httpx
    from bench.stream import run

    results = silence_stdout()
    import litellm

    _quiet(litellm)
    router = make_router(config["deployments"])
    probe = StreamProbe()
    install_stream_httpx(probe)

    def consume(scenario: dict[str, Any]) -> Any:
        for chunk in router.completion(model=scenario["name"], messages=config["messages"], stream=True):
            moment = time.perf_counter()
            yield moment, bool(chunk.choices and chunk.choices[0].delta.content)

    scenarios = [{"name": d["name"]} for d in config["deployments"]]
    from importlib.metadata import version

    json.dump({**run(consume, scenarios, config, probe), "version": version("litellm")}, results)


def cold(config: dict[str, Any]) -> None:
    results = silence_stdout()
    started, started_cpu = time.perf_counter(), time.process_time()
    import litellm

    imported, imported_cpu = time.perf_counter(), time.process_time()
    _quiet(litellm)
    router = make_router(config["deployments"][:1])
    response = router.completion(model=config["deployments"][0]["name"], messages=config["messages"])
    served, served_cpu = time.perf_counter(), time.process_time()
    check("cold", response)
    json.dump(
        {
            "import_s": imported - started,
            "first_request_s": served - imported,
            "import_cpu_s": imported_cpu - started_cpu,
            "first_request_cpu_s": served_cpu - imported_cpu,
            "max_rss_mb": max_rss_mb(),
        },
        results,
    )


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of the price list
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    config = json.load(sys.stdin)
    if mode == "warm":
        warm(config)
    elif mode == "cold":
        cold(config)
    elif mode == "stream":
        stream(config)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected warm, cold or stream")


if __name__ == "__main__":
    main()
