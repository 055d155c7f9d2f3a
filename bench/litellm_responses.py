"""LiteLLM's side of ``make bench``'s Responses section, run with the LiteLLM environment's interpreter:
``litellm.Router.responses`` (OpenAI's own ``/responses`` for the openai deployment, LiteLLM's Responses-to-chat
bridge for the anthropic one) to the same simulator, with the same probes as ``bench.litellm_side``.

Only the stdlib and ``bench`` modules that import only the stdlib are loaded before litellm.
``python -m bench.litellm_responses warm`` prints per-request times like ``bench.litellm_side warm``;
``python -m bench.litellm_responses stream`` the TTFT and per-chunk relay overheads of ``stream=True``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.litellm_side import _quiet, make_router
from bench.probes import Probe, StreamProbe, install_httpx, install_stream_httpx
from bench.responses_side import relays, serve

CONTENT_EVENT = "response.output_text.delta"


def _text(response: Any) -> str:
    parts = []
    for item in getattr(response, "output", None) or []:
        for part in getattr(item, "content", None) or []:
            parts.append(getattr(part, "text", "") or "")
    return "".join(parts)


def warm(config: dict[str, Any]) -> dict[str, Any]:
    import litellm

    _quiet(litellm)
    router = make_router(config["deployments"])
    probe = Probe()
    install_httpx(probe)
    names = [d["name"] for d in config["deployments"]]
    figures: dict[str, dict[str, list[float]]] = {n: {"total_s": [], "upstream_s": []} for n in names}
    for index in range(config["warmup"] + config["requests"]):
        for name in names:
            probe.begin()
            started = time.perf_counter()
            response = router.responses(model=name, input=config["input"], instructions=config["instructions"])
            total = time.perf_counter() - started
            if "Hello" not in _text(response):
                raise SystemExit(f"litellm responses {name}: unexpected answer {str(response)[:300]}")
            if index < config["warmup"]:
                continue
            figures[name]["total_s"].append(total)
            figures[name]["upstream_s"].append(probe.upstream_s)
    return {"scenarios": figures}


def stream(config: dict[str, Any]) -> dict[str, Any]:
    import litellm

    _quiet(litellm)
    router = make_router(config["deployments"])
    probe = StreamProbe()
    install_stream_httpx(probe)
    names = [d["name"] for d in config["deployments"]]
    figures: dict[str, dict[str, list[float]]] = {n: {"ttft_overhead_s": [], "chunk_overheads_s": []} for n in names}
    for index in range(config["warmup"] + config["requests"]):
        for name in names:
            probe.begin()
            outs = []
            events = router.responses(
                model=name, input=config["input"], instructions=config["instructions"], stream=True
            )
            for event in events:
                moment = time.perf_counter()
                if getattr(event, "type", None) == CONTENT_EVENT:
                    outs.append(moment)
            if not outs:
                raise SystemExit(f"litellm responses {name}: the stream carried no text")
            delays = relays(f"litellm responses {name}", outs, probe)
            if index < config["warmup"]:
                continue
            figures[name]["ttft_overhead_s"].append(delays[0])
            figures[name]["chunk_overheads_s"].extend(delays[1:])
    return {"scenarios": figures}


def main() -> None:
    from importlib.metadata import version

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of the price list
    serve({"warm": warm, "stream": stream}, version=lambda: version("litellm"))


if __name__ == "__main__":
    main()
