"""The one upstream HTTP connection pool per process.

Redirects are never followed (a redirect could carry credentials to another host) and nothing here logs a
URL's query or a header. Timeouts are per call: the routing loop passes what is left of the request deadline.

The pool is shared by every customer's requests, so it must hold no per-customer state: pooled connections
carry none (each request sends its own auth headers), and cookies an upstream sets are refused, never stored
(httpx would otherwise replay one customer's session cookie on the next customer's request to that host).

Every upstream call is made inside an attempt (``routing.run_attempt``, which enters ``attempt()``): ``send``
and ``stream`` refuse to run outside one, so no route can reach a provider past the attempt's timeout policy,
error handling and redactor.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

_IN_ATTEMPT: ContextVar[bool] = ContextVar("in_attempt", default=False)


class OutsideAttempt(RuntimeError):
    """An upstream call made outside ``routing.run_attempt``: a bug, never a provider's answer."""


class attempt:
    """The scope of one attempt: upstream calls are allowed within it (and in threads started from it with
    its context copied, as the stream reader is). A class, not a generator: it runs once per attempt."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _IN_ATTEMPT.set(True)

    def __exit__(self, *exc: object) -> None:
        _IN_ATTEMPT.reset(self._token)


def _check_attempt() -> None:
    if not _IN_ATTEMPT.get():
        raise OutsideAttempt("upstream calls are made only through routing.run_attempt")


@dataclass(frozen=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


@functools.cache
def client() -> httpx.Client:
    return new_client()


def new_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=60),
        timeout=httpx.Timeout(30.0, connect=5.0),
        headers={"user-agent": "byok-gateway/0.1"},
    )


def _timeout(seconds: float) -> httpx.Timeout:
    seconds = max(seconds, 0.001)
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def _sending(request: UpstreamRequest, timeout: float) -> dict[str, Any]:
    """What every upstream request is sent with: its headers and body, and the attempt's timeout."""
    return {"headers": request.headers, "content": request.content, "timeout": _timeout(timeout)}


def send(request: UpstreamRequest, timeout: float) -> httpx.Response:
    """Send and read the whole body. Raises httpx.TimeoutException / httpx.TransportError."""
    _check_attempt()
    return client().request(request.method, request.url, **_sending(request, timeout))


class Delivery:
    """Whether a request's whole body has gone out on the wire (httpcore's trace of the connection): an attempt
    cut after that has been received by the upstream, one cut before it (no connection, refused) has not."""

    def __init__(self) -> None:
        self.body_sent = False

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith(".send_request_body.complete"):  # http11. or http2.
            self.body_sent = True


@contextmanager
def stream(request: UpstreamRequest, timeout: float, delivery: Delivery | None = None) -> Iterator[httpx.Response]:
    _check_attempt()
    trace = {"trace": delivery.trace} if delivery is not None else None
    with client().stream(request.method, request.url, **_sending(request, timeout), extensions=trace) as response:
        yield response


FAN_OUT = 16  # upstream calls of one attempt in flight at once (a batch split at a provider's per-call limit)


@functools.cache
def _fan_out_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=FAN_OUT, thread_name_prefix="upstream-fan-out")


def _send_by(request: UpstreamRequest, deadline: float) -> httpx.Response:
    return send(request, deadline - time.monotonic())


def send_all(requests: list[UpstreamRequest], deadline: float) -> list[httpx.Response]:
    """Send every request (at most ``FAN_OUT`` at once), each within what is left of ``deadline`` (monotonic),
    and return the answers in request order. Stops at the first non-2xx answer, which it returns alone (the
    attempt has failed; the calls still queued are not sent, the ones already sent are waited for, so no call
    of an attempt outlives it). Raises what ``send`` raises."""
    if len(requests) == 1:
        return [send(requests[0], deadline - time.monotonic())]
    pool = _fan_out_pool()
    # Each call runs in the attempt's context (a copy each: one context cannot run in two threads at once).
    futures = [pool.submit(contextvars.copy_context().run, _send_by, request, deadline) for request in requests]
    try:
        for future in as_completed(futures):
            response = future.result()
            if not 200 <= response.status_code < 300:
                return [response]
        return [future.result() for future in futures]
    finally:
        for future in futures:
            future.cancel()
        wait(futures)  # the calls already on the wire end within the deadline; their answers are not needed
