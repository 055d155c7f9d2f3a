"""Claude on Bedrock (InvokeModel / InvokeModelWithResponseStream, CountTokens) and token counting on Anthropic
and Vertex, built on the Messages simulation of `anthropic_format` (the same answer, in each host's framing).

- InvokeModel: the body is the Anthropic body without `model` or `stream`, with
  `anthropic_version: bedrock-2023-05-31`; the answer is the Anthropic `message`.
- InvokeModelWithResponseStream: AWS event-stream frames, each a `chunk` event whose payload is
  `{"bytes": base64 of one Anthropic stream event}`; Bedrock sends no `ping` and adds
  `amazon-bedrock-invocationMetrics` to `message_stop`.
- CountTokens: `{"input": {"invokeModel": {"body": base64 InvokeModel body}}}` -> `{"inputTokens"}`, for a
  foundation model id (not a cross-region inference profile).
- Anthropic `/v1/messages/count_tokens` and Vertex `count-tokens:rawPredict`: `{"input_tokens"}`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from local.simulator import anthropic_format, bedrock_format
from local.simulator.eventstream import encode_event
from local.simulator.pacing import PacingHandle
from local.simulator.wire import Reply, json_reply

BEDROCK_VERSION = "bedrock-2023-05-31"
INFERENCE_PROFILE_PREFIXES = ("global.", "us.", "eu.", "apac.", "jp.", "au.")


def _answer(body: dict[str, Any], provider: str, model: str, stream: bool, pacing: PacingHandle | None = None) -> Reply:
    """The Messages simulation's answer for `body` (without the host's own fields) on `model`."""
    return anthropic_format.handle_messages({**body, "model": model, "stream": stream}, provider, pacing=pacing)


def _events(sse: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    buffer = b""
    for data in sse:
        buffer += data
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            for line in block.decode().splitlines():
                if line.startswith("data: "):
                    yield json.loads(line.removeprefix("data: "))


def handle_bedrock_invoke(body: Any, model: str, stream: bool, pacing: PacingHandle | None = None) -> Reply:
    if not isinstance(body, dict):
        return bedrock_format.error_reply(400, "Malformed input request, please reformat your input and try again.")
    if body.get("anthropic_version") != BEDROCK_VERSION:
        return bedrock_format.error_reply(400, f"anthropic_version: must be {BEDROCK_VERSION!r}")
    for extraneous in ("model", "stream"):
        if extraneous in body:
            return bedrock_format.error_reply(400, f"extraneous key [{extraneous}] is not permitted")
    inner = {k: v for k, v in body.items() if k not in ("anthropic_version", "anthropic_beta")}
    reply = _answer(inner, "amazon-bedrock", model, stream, pacing)
    if reply.status != 200:
        message = json.loads(reply.body).get("error", {}).get("message", "invalid request")
        return bedrock_format.error_reply(reply.status, f"Malformed input request: {message}")
    if reply.stream is None:
        return reply
    return Reply(status=200, content_type=bedrock_format.EVENT_STREAM_TYPE, stream=_frames(_events(reply.stream)))


def _frames(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    usage: dict[str, Any] = {}
    for event in events:
        if event["type"] == "ping":
            continue  # Bedrock sends no pings
        if event["type"] == "message_start":
            usage.update(event["message"].get("usage") or {})
        if event["type"] == "message_delta":
            usage.update(event.get("usage") or {})
        if event["type"] == "message_stop":
            metrics = {
                "inputTokenCount": usage.get("input_tokens", 0),
                "outputTokenCount": usage.get("output_tokens", 0),
                "invocationLatency": 1,
                "firstByteLatency": 1,
            }
            yield _chunk({**event, "amazon-bedrock-invocationMetrics": metrics})
            continue
        yield _chunk(event)


def _chunk(event: dict[str, Any]) -> bytes:
    return encode_event("chunk", {"bytes": base64.b64encode(json.dumps(event).encode()).decode()})


def input_tokens(body: Any, provider: str, model: str) -> int | Reply:
    """Every input token of a Messages body, cached or not, as the simulated answer would count them."""
    if not isinstance(body, dict):
        return anthropic_format.error_reply(400, "Request body must be a JSON object.")
    reply = _answer({**body, "max_tokens": 1}, provider, model, False)
    if reply.status != 200:
        return reply
    usage = json.loads(reply.body)["usage"]
    return int(
        sum(usage.get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    )


def handle_count_tokens(body: Any, provider: str) -> Reply:
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str) or not model:
        return anthropic_format.error_reply(400, "model: Field required")
    rest = {k: v for k, v in body.items() if k not in ("model", "anthropic_version")}
    counted = input_tokens(rest, provider, model)
    return counted if isinstance(counted, Reply) else json_reply(200, {"input_tokens": counted})


def handle_bedrock_count_tokens(body: Any, model: str) -> Reply:
    invoke = body.get("input", {}).get("invokeModel") if isinstance(body, dict) else None
    try:
        inner = json.loads(base64.b64decode(invoke["body"], validate=True)) if isinstance(invoke, dict) else None
    except (ValueError, KeyError, TypeError):
        inner = None
    if not isinstance(inner, dict) or inner.get("anthropic_version") != BEDROCK_VERSION:
        return bedrock_format.error_reply(400, "input.invokeModel.body must be a base64 InvokeModel request body")
    if model.startswith(INFERENCE_PROFILE_PREFIXES):
        return bedrock_format.error_reply(400, "The provided model identifier is invalid.")
    rest = {k: v for k, v in inner.items() if k not in ("anthropic_version", "anthropic_beta", "max_tokens")}
    counted = input_tokens(rest, "amazon-bedrock", model)
    if isinstance(counted, Reply):
        return bedrock_format.error_reply(400, counted.body.decode())
    return json_reply(200, {"inputTokens": counted})
