"""The body of a streamed chat answer: the committed attempt's chunk deltas -> ``chat.completion.chunk`` SSE
events, one event per delta, as they arrive.

``ChatStream`` is what ``StreamedResponse.body`` iterates. It never holds more than the event being encoded.
Billing and the request record run in ``close()``, which the server calls after the last byte has gone out
or when the client went away, so no AWS call sits between the upstream's first byte and the client's last,
and a client that disconnects still pays for (and sees in its logs) what was generated until then.

After the commit a break cannot fall back any more: the client gets one ``data: {"error": ...}`` event in the
OpenAI error shape and no ``[DONE]``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.apis.chat.schema import ChatRequest
from gateway.core.observability import logger
from gateway.routing import relay
from gateway.security import redact

DONE = b"data: [DONE]\n\n"
KEEPALIVE_COMMENT = b": keep-alive\n\n"
CLIENT_GONE = "client disconnected before the end of the stream"
CLIENT_STALLED = "client did not read the stream before the request deadline"
CHARS_PER_TOKEN = 4  # the estimate used only when an upstream stream ended before reporting its usage


@dataclass(frozen=True)
class Ended:
    """How a committed stream ended, for billing and the request record."""

    usage: dict[str, int]  # the upstream's usage, else an estimate from what was relayed
    failure: str | None  # why it ended early (upstream break, client gone); None when complete
    chunks: int  # chunk events sent


def _data(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _delta_chars(delta: dict[str, Any]) -> int:
    """Characters of generated text in one delta (content, reasoning, tool names and arguments)."""
    total = 0
    for key, value in delta.items():
        if isinstance(value, str) and key != "role":
            total += len(value)
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    total += sum(len(v) for v in function.values() if isinstance(v, str))
    return total


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN) if chars > 0 else 0


class SettledStream:
    """An iterator of SSE bytes; ``close()`` (once, idempotent) stops the upstream read and settles.

    Shared by both APIs' stream bodies (``ChatStream`` here, ``MessagesStream`` for Anthropic's events): a
    subclass sets ``_live``, ``_on_end`` and ``_events`` (its SSE generator, which sets ``_ended`` when the
    stream ends) and says how to estimate usage when the upstream never reported it.
    """

    _live: relay.LiveStream
    _on_end: Callable[[Ended], None]
    _events: Generator[bytes, None, None]
    _ended: Ended | None = None
    _settled: bool = False
    _chunks: int = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    @property
    def deadline(self) -> float:
        """The request deadline (``time.monotonic()``): the server ends the answer there, read or not."""
        return self._live.deadline

    def __next__(self) -> bytes:
        return next(self._events)

    def close(self) -> None:
        if self._settled:
            return
        self._settled = True
        self._events.close()  # a client that went away: the generator's finally stops the upstream read
        gone = CLIENT_STALLED if time.monotonic() >= self._live.deadline else CLIENT_GONE
        ended = self._ended or Ended(self._usage(), gone, self._chunks)
        try:
            self._on_end(ended)
        except Exception as exc:  # the answer has been delivered: never fail it, leave a trace
            logger.error("streamed answer settlement failed", extra={"error_type": type(exc).__name__})

    def _usage(self) -> dict[str, int]:
        raise NotImplementedError


class ChatStream(SettledStream):
    """The chat completion's stream body: ``chat.completion.chunk`` events, then ``[DONE]``."""

    def __init__(
        self,
        *,
        live: relay.LiveStream,
        request: ChatRequest,
        request_id: str,
        provider: str,
        public_usage: Callable[[dict[str, int]], dict[str, Any]],
        on_end: Callable[[Ended], None],
        model: str | None = None,  # the model that served, as the request named it (default: ``model``)
    ) -> None:
        self._live = live
        self._request = request
        self._public_usage = public_usage  # usage as the last chunk shows it, with is_byok and cost
        self._on_end = on_end
        self._base = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model or request.model,
            "provider": provider,
        }
        self._generated_chars = 0
        self._chunks = 0
        self._ended = None
        self._settled = False
        self._events = self._sse()

    def _sse(self) -> Generator[bytes, None, None]:
        try:
            for delta in self._live.deltas():
                if delta is relay.KEEPALIVE:
                    yield KEEPALIVE_COMMENT
                    continue
                yield self._chunk(delta)
        except Exception as exc:  # the upstream broke after the commit: no fallback any more
            self._ended = Ended(self._usage(), describe_failure(exc, self._live), self._chunks)
            yield _data(
                {
                    "error": {
                        "message": f"upstream stream from {self._base['provider']} broke: {self._ended.failure}",
                        "type": "upstream_error",
                        "code": "stream_interrupted",
                        "param": None,
                    }
                }
            )
            return
        finally:
            self._live.close()
        usage = self._usage()
        self._ended = Ended(usage, None, self._chunks)
        options = self._request.stream_options
        if options is not None and options.include_usage:
            yield _data({**self._base, "choices": [], "usage": self._public_usage(usage)})
        yield DONE

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        chunk = {**self._base, **delta}
        for choice in chunk.get("choices") or []:
            choice_delta = choice.get("delta") or {}
            self._generated_chars += _delta_chars(choice_delta)
            if self._chunks == 0:
                choice["delta"] = {"role": "assistant", **choice_delta}
        self._chunks += 1
        return _data(chunk)

    def _usage(self) -> dict[str, int]:
        """The upstream's usage, else an estimate: a stream cut short is still billed for what it produced."""
        reported = self._live.usage
        if reported is not None:
            return reported
        prompt_chars = sum(len(json.dumps(m.model_dump(exclude_none=True))) for m in self._request.messages)
        prompt, completion = estimate_tokens(prompt_chars), estimate_tokens(self._generated_chars)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def describe_failure(error: Exception, live: relay.LiveStream) -> str:
    """What a break after the commit says (stream error event, attempt record), redacted with the attempt's
    secrets."""
    try:
        failure = relay.failure_of(error)
    except Exception:
        return "internal error"
    return redact.redact(failure.message, live.secrets)
