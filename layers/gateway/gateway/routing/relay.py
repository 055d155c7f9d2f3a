"""Streamed attempts: upstream bytes -> the adapter's decoder -> OpenAI chunk deltas, one at a time.

The chain, each stage a small piece with its own state:

1. ``UpstreamReader`` (``gateway.routing.upstream_reader``): one background thread per attempt sends the
   request; the relay reads the body on its own thread until it commits (the thread keeps its time limit), then
   the thread reads the rest onto a small bounded queue, so the relay can wait for the next bytes with a timeout
   (``: keep-alive`` comments, the request deadline) and stop the read at any moment (a client that went away).
2. ``open_stream``: reads until the attempt *commits*: its first content, tool-call or reasoning delta, or its
   end. Anything that goes wrong before that is an ordinary failed attempt (the caller falls back); nothing has
   been sent to the client yet.
3. ``LiveStream.deltas``: the committed stream: the chunks read while committing, then each decoded chunk as
   its bytes arrive, with ``KEEPALIVE`` markers when the upstream is silent for the keep-alive interval.

Nothing here buffers an answer: memory is bounded by the queue depth and one decoder event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.core.observability import logger
from gateway.providers import AttemptFailed, UnreadableResponse, transport
from gateway.providers.base import StreamDecoder
from gateway.routing.upstream_reader import UpstreamReader, _Data, _End, _Error, _Status
from gateway.security.redact import NO_SECRETS, Secrets

KEEPALIVE = object()  # yielded by LiveStream.deltas when the upstream has been silent for the interval


class StreamTimeout(Exception):
    """The request or attempt deadline passed while the committed stream was still open."""


def is_substantive(chunk: dict[str, Any]) -> bool:
    """Whether a chunk commits the stream: a content, tool-call or reasoning delta, or a finish reason."""
    for choice in chunk.get("choices") or []:
        if choice.get("finish_reason"):
            return True
        if any(value for key, value in (choice.get("delta") or {}).items() if key != "role"):
            return True
    return False


@dataclass
class LiveStream:
    """A committed streamed attempt."""

    reader: UpstreamReader
    decoder: StreamDecoder
    status: int
    head: list[dict[str, Any]]  # the chunks read while committing, the first content delta last
    finished: bool  # the upstream stream ended (decoder closed) while committing
    deadline: float
    keepalive_s: float
    secrets: Secrets = NO_SECRETS  # the attempt's, for what a break after the commit says (``scrub.redact``)
    # What waits until the first chunks are out (or the stream closes unread): the client's first byte does not.
    deferred: Callable[[], None] | None = None
    _closed: bool = field(default=False, init=False)

    @property
    def usage(self) -> dict[str, int] | None:
        return self.decoder.usage

    def deltas(self) -> Iterator[Any]:
        """Chunk deltas (and ``KEEPALIVE``) to the end of the upstream stream. Raises ``StreamTimeout``,
        ``AttemptFailed``, ``UnreadableResponse`` or an httpx error when the upstream breaks."""
        try:
            yield from self.head
            self.head = []
            if not self.finished:
                self.reader.hand_over()  # the first chunks are out: the reader thread reads the rest
            self._run_deferred()
            if self.finished:
                return
            while True:
                now = time.monotonic()
                if now >= self.deadline:
                    raise StreamTimeout
                item = self.reader.next(min(self.keepalive_s, self.deadline - now))
                if item is None:
                    if time.monotonic() < self.deadline:
                        yield KEEPALIVE
                    continue
                if isinstance(item, _Data):
                    yield from self.decoder.feed(item.data)
                elif isinstance(item, _End):
                    yield from self.decoder.close()
                    return
                elif isinstance(item, _Error):
                    raise item.error
                else:
                    raise UnreadableResponse("upstream stream status repeated")
        finally:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.reader.close()
            self._run_deferred()

    def _run_deferred(self) -> None:
        work, self.deferred = self.deferred, None
        if work is None:
            return
        try:
            work()
        except Exception as exc:  # bookkeeping after the commit must not break an answer already under way
            logger.error("deferred stream work failed", extra={"error_type": type(exc).__name__})


@dataclass
class OpenFailure:
    """Why an attempt failed before it committed (a stream) or answered whole: what the attempt record says."""

    outcome: str  # "error" | "timeout" | "connection_error"
    status: int | None
    message: str
    error_body: bytes | None = None  # an upstream non-2xx answer, for the adapter to classify
    error_headers: Mapping[str, str] = field(default_factory=dict)  # and its headers (retry-after)
    first_byte_cut: bool = False  # the first-byte timeout cut it (not the deadline)
    body_sent: bool = False  # the upstream had received the whole request body when it failed
    answering: bool = False  # the upstream had begun its 2xx answer (status line) when it failed


@dataclass(frozen=True)
class Answer:
    """A non-streamed upstream answer, read whole."""

    status: int
    body: bytes
    headers: Mapping[str, str]


FIRST_BYTE_TIMEOUT_MESSAGE = "no first byte within the first-byte timeout"


def read_answer(
    upstream: transport.UpstreamRequest,
    *,
    deadline: float,
    first_byte_deadline: float | None,
    reader_factory: Callable[[transport.UpstreamRequest, float], UpstreamReader] = UpstreamReader,
) -> Answer | OpenFailure:
    """A non-streamed attempt through the same reader: its status line by the first-byte deadline, its whole
    body by the deadline; an ``OpenFailure`` (as for a stream) when either passes or the connection breaks. A
    2xx answer cut mid-body has no status: it was never had."""
    reader = reader_factory(upstream, max(deadline - time.monotonic(), 0.001))
    limit = deadline if first_byte_deadline is None else min(deadline, first_byte_deadline)
    status: _Status | None = None
    parts: list[bytes] = []
    try:
        while True:
            item = reader.next(limit - time.monotonic())
            if item is None:
                if status is None and first_byte_deadline is not None and first_byte_deadline <= deadline:
                    failure = OpenFailure("timeout", None, FIRST_BYTE_TIMEOUT_MESSAGE, first_byte_cut=True)
                else:
                    failure = OpenFailure("timeout", None, "upstream timed out")
                return _delivered(failure, reader)
            if isinstance(item, _Status):
                if not 200 <= item.code < 300:
                    return Answer(item.code, item.body, item.headers)
                status, limit = item, deadline
            elif isinstance(item, _Data):
                parts.append(item.data)
            elif isinstance(item, _End) and status is not None:
                return Answer(status.code, b"".join(parts), status.headers)
            elif isinstance(item, _Error):
                failure = _failure(item.error, None)
                failure.answering = status is not None
                return _delivered(failure, reader)
    finally:
        reader.close()


def _delivered(failure: OpenFailure, reader: UpstreamReader) -> OpenFailure:
    failure.body_sent = reader.body_sent
    return failure


def open_stream(
    decoder: StreamDecoder,
    upstream: transport.UpstreamRequest,
    *,
    deadline: float,
    first_byte_deadline: float | None,
    keepalive_s: float,
    commits: Callable[[dict[str, Any]], bool] = is_substantive,
    reader_factory: Callable[[transport.UpstreamRequest, float], UpstreamReader] = UpstreamReader,
) -> LiveStream | OpenFailure:
    """Start the upstream stream and read it up to its commit point (see the module docstring); ``commits``
    says which decoded event is that point (the API's codec decides: chat chunks, Anthropic events)."""
    reader = reader_factory(upstream, max(deadline - time.monotonic(), 0.001))
    limit = deadline if first_byte_deadline is None else min(deadline, first_byte_deadline)
    status: int | None = None
    head: list[dict[str, Any]] = []
    committed = False
    try:
        while True:
            item = reader.next(limit - time.monotonic())
            if item is None:
                if first_byte_deadline is not None and first_byte_deadline <= deadline:
                    failure = OpenFailure("timeout", status, "no first delta within the first-byte timeout")
                    failure.first_byte_cut = True
                    return _delivered(failure, reader)
                return _delivered(OpenFailure("timeout", status, "upstream timed out"), reader)
            if isinstance(item, _Status):
                status = item.code
                if not 200 <= item.code < 300:
                    return OpenFailure("error", item.code, "", error_body=item.body, error_headers=item.headers)
                continue
            if isinstance(item, _Error):
                failure = _failure(item.error, status)
                failure.answering = status is not None
                return _delivered(failure, reader)
            chunks = decoder.feed(item.data) if isinstance(item, _Data) else decoder.close()
            head.extend(chunks)
            finished = isinstance(item, _End)
            if status is not None and (finished or any(commits(chunk) for chunk in chunks)):
                committed = True
                return LiveStream(reader, decoder, status, head, finished, deadline, keepalive_s)
    except (AttemptFailed, UnreadableResponse) as exc:
        return _delivered(_failure(exc, status), reader)
    finally:
        if not committed:
            reader.close()


def _failure(error: BaseException, status: int | None) -> OpenFailure:
    if isinstance(error, AttemptFailed):
        return OpenFailure(error.outcome, error.status_code or status, error.message)
    if isinstance(error, UnreadableResponse):
        return OpenFailure("error", status, "unreadable upstream stream")
    if isinstance(error, httpx.TimeoutException):
        return OpenFailure("timeout", status, "upstream timed out")
    if isinstance(error, httpx.TransportError | httpx.StreamError | OSError):
        return OpenFailure("connection_error", status, f"connection failed ({type(error).__name__})")
    raise error


def failure_of(error: BaseException) -> OpenFailure:
    """How a break after the commit is recorded (the attempt becomes ``stream_interrupted``)."""
    if isinstance(error, StreamTimeout):
        return OpenFailure("timeout", None, "upstream stream timed out")
    return _failure(error, None)
