"""The body of a streamed Responses answer: the committed attempt's semantic events -> SSE, as they arrive.

OpenAI's events pass through as OpenAI sent them; a translated target's come from ``translate.EventEncoder``.
Either way this body numbers them (``sequence_number`` from 0, the gateway's own), puts the gateway's
response object (its ``resp_`` id, the model as the request named it, the provider, usage with ``is_byok`` and
``cost``) into every event that carries one, and keeps the conversation when the response is stored: once
the upstream's last event is in, one write, before the final event goes out (so a client that continues at
once finds it). While the upstream is silent the client gets ``: keep-alive`` comments. A break after the
commit ends the stream with one ``response.failed`` event whose response carries the error. Billing and the
request record run in ``close()`` (``chat_stream.SettledStream``), after the last byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from gateway import relay
from gateway.apis.responses.schema import ResponsesCall
from gateway.chat_stream import KEEPALIVE_COMMENT, Ended, SettledStream, describe_failure, estimate_tokens

FINAL_EVENTS = ("response.completed", "response.incomplete")
Finalize = Callable[[dict[str, Any], dict[str, int]], dict[str, Any]]


def sse(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def commits(event: dict[str, Any]) -> bool:
    """Whether a Responses event commits the stream: generated text, arguments or reasoning, a tool call
    begun (built-in tools included), or the end of the response."""
    kind = event.get("type", "")
    if kind.endswith(".delta") or kind in FINAL_EVENTS:
        return True
    if kind == "response.output_item.added":
        return (event.get("item") or {}).get("type") not in ("message", "reasoning")
    return False


def _generated_chars(event: dict[str, Any]) -> int:
    delta = event.get("delta")
    return len(delta) if isinstance(delta, str) else 0


class ResponsesStream(SettledStream):
    def __init__(
        self,
        *,
        live: relay.LiveStream,
        call: ResponsesCall,
        shell: dict[str, Any],
        finalize: Finalize,
        on_end: Callable[[Ended], None],
    ) -> None:
        self._live = live
        self._call = call
        self._shell = shell  # the gateway's response object before any output (id, model, provider...)
        self._finalize = finalize  # the final response: usage priced, stored when asked; given the upstream's
        self._on_end = on_end
        self._sequence = 0
        self._generated = 0
        self._chunks = 0
        self._ended = None
        self._settled = False
        self._events = self._sse()

    def _sse(self) -> Generator[bytes, None, None]:
        try:
            for event in self._live.deltas():
                if event is relay.KEEPALIVE:
                    yield KEEPALIVE_COMMENT
                    continue
                yield self._event(event)
        except Exception as exc:  # the upstream broke after the commit: no fallback any more
            self._ended = Ended(self._usage(), describe_failure(exc), self._chunks)
            message = f"upstream stream from {self._shell['provider']} broke: {self._ended.failure}"
            error = {"code": "stream_interrupted", "message": message}
            failed = {**self._shell, "status": "failed", "error": error}
            yield self._numbered({"type": "response.failed", "response": failed})
            return
        finally:
            self._live.close()
        self._ended = Ended(self._usage(), None, self._chunks)

    def _event(self, event: dict[str, Any]) -> bytes:
        self._generated += _generated_chars(event)
        self._chunks += 1
        upstream = event.get("response")
        if isinstance(upstream, dict):
            if event.get("type") in FINAL_EVENTS:
                response = self._finalize(upstream, self._usage())
            else:
                response = {**upstream, **self._shell, "status": upstream.get("status", "in_progress")}
                response["output"] = upstream.get("output") or []
            event = {**event, "response": response}
        return self._numbered(event)

    def _numbered(self, event: dict[str, Any]) -> bytes:
        event = {**event, "sequence_number": self._sequence}
        self._sequence += 1
        return sse(event)

    def _usage(self) -> dict[str, int]:
        """The upstream's usage, else an estimate: a stream cut short is still billed for what it produced."""
        reported = self._live.usage
        if reported is not None:
            return reported
        prompt = estimate_tokens(len(json.dumps(self._call.conversation())))
        completion = estimate_tokens(self._generated)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
