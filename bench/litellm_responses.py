"""LiteLLM's side of ``make bench``'s Responses section, run with the LiteLLM environment's interpreter:
``litellm.Router.responses`` (OpenAI's own ``/responses`` for the openai deployment, LiteLLM's Responses-to-chat
bridge for the anthropic one) to the same simulator, with the same probes as ``bench.litellm_side``.

``python -m bench.litellm_responses warm`` prints per-request times like ``bench.litellm_side warm``;
``python -m bench.litellm_responses stream`` the TTFT and per-chunk relay overheads of ``stream=True``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.litellm_side import _quiet, make_router
from bench.probes import Probe, StreamProbe, install_httpx, install_stream_httpx, silence_stdout

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
            relays = []
            for moment in outs:
                arrived = probe.arrived_before(moment)
                if arrived is None:
                    raise SystemExit(f"litellm responses {name}: a delta left before any upstream byte arrived")
                relays.append(moment - arrived)
            if index < config["warmup"]:
                continue
            figures[name]["ttft_overhead_s"].append(relays[0])
            figures[name]["chunk_overheads_s"].extend(relays[1:])
    return {"scenarios": figures}


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of the price list
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    config = json.load(sys.stdin)
    results = silence_stdout()
    if mode == "warm":
        figures = warm(config)
    elif mode == "stream":
        figures = stream(config)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected warm or stream")
    from importlib.metadata import version

    json.dump({**figures, "version": version("litellm")}, results)
    results.close()


if __name__ == "__main__":
    main()
