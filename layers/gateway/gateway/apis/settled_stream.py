"""The base of every streamed answer's body: the committed attempt's events relayed as SSE bytes, one at a time,
and the stream settled (billed and recorded) once its last byte has gone out or the client has gone.

A front door's stream says only how its events are written: ``encode`` one event, ``generated_chars``, how much
generated text it carries (counted before it is encoded, so an event that reports usage, such as a final one,
sees itself in the estimate a stream cut short is billed by), the ``keepalive`` bytes while the upstream is silent,
the ``error_event`` after a break (no fallback once committed), the ``epilogue`` after the last event, and the
prompt's size (``prompt_chars``). ``close()``, which the server calls after the last byte or when the client went
away, stops the upstream read and runs ``on_end`` with how the stream ``Ended``; nothing talks to AWS before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.core.observability import logger
from gateway.routing import relay
from gateway.security import redact

CLIENT_GONE = "client disconnected before the end of the stream"
CLIENT_STALLED = "client did not read the stream before the request deadline"
CHARS_PER_TOKEN = 4  # the estimate used only when an upstream stream ended before reporting its usage


@dataclass(frozen=True)
class Ended:
    """How a committed stream ended, for billing and the request record."""

    usage: dict[str, int]  # the upstream's usage, else an estimate from what was relayed
    failure: str | None  # why it ended early (upstream break, client gone); None when complete
    chunks: int  # chunk events sent


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN) if chars > 0 else 0


def describe_failure(error: Exception, live: relay.LiveStream) -> str:
    """What a break after the commit says (stream error event, attempt record), redacted with the attempt's
    secrets."""
    try:
        failure = relay.failure_of(error)
    except Exception:
        return "internal error"
    return redact.redact(failure.message, live.secrets)


class SettledStream:
    """An iterator of SSE bytes; ``close()`` (once, idempotent) stops the upstream read and settles."""

    keepalive: bytes = b": keep-alive\n\n"

    def __init__(self, live: relay.LiveStream, on_end: Callable[[Ended], None]) -> None:
        self._live = live
        self._on_end = on_end
        self._generated = 0  # characters of generated text relayed so far
        self._chunks = 0
        self._ended: Ended | None = None
        self._settled = False
        self._events = self._sse()

    # --- what a front door says ------------------------------------------------------------------------------
    def encode(self, event: dict[str, Any]) -> bytes:
        """One event's SSE bytes."""
        raise NotImplementedError

    def generated_chars(self, event: dict[str, Any]) -> int:
        """The characters of generated text an event carries."""
        raise NotImplementedError

    def error_event(self, failure: str) -> bytes:
        raise NotImplementedError

    def epilogue(self, usage: dict[str, int]) -> Iterable[bytes]:
        return ()

    def prompt_chars(self) -> int:
        raise NotImplementedError

    # --- the relay and its settlement ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._events)

    @property
    def deadline(self) -> float:
        """The request deadline (``time.monotonic()``): the server ends the answer there, read or not."""
        return self._live.deadline

    def _sse(self) -> Generator[bytes, None, None]:
        try:
            for event in self._live.deltas():
                if event is relay.KEEPALIVE:
                    yield self.keepalive
                    continue
                self._generated += self.generated_chars(event)
                data = self.encode(event)
                self._chunks += 1
                yield data
        except Exception as exc:  # the upstream broke after the commit: no fallback any more
            self._ended = Ended(self._usage(), describe_failure(exc, self._live), self._chunks)
            yield self.error_event(self._ended.failure or "")
            return
        finally:
            self._live.close()
        usage = self._usage()
        self._ended = Ended(usage, None, self._chunks)
        yield from self.epilogue(usage)

    def close(self) -> None:
        if self._settled:
            return
        self._settled = True
        self._events.close()  # a client that went away: the generator's finally stops the upstream read
        self._live.close()  # and if it went before the first byte, the generator never ran: stopped here
        gone = CLIENT_STALLED if time.monotonic() >= self._live.deadline else CLIENT_GONE
        ended = self._ended or Ended(self._usage(), gone, self._chunks)
        try:
            self._on_end(ended)
        except Exception as exc:  # the answer has been delivered: never fail it, leave a trace
            logger.error("streamed answer settlement failed", extra={"error_type": type(exc).__name__})

    def _usage(self) -> dict[str, int]:
        """The upstream's usage, else an estimate: a stream cut short is still billed for what it produced."""
        reported = self._live.usage
        if reported is not None:
            return reported
        prompt, completion = estimate_tokens(self.prompt_chars()), estimate_tokens(self._generated)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
