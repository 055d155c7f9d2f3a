"""Where a request's time goes: wrappers around httpx's transport and botocore's client, counted per request.

Both sides of the benchmark (ours and LiteLLM) install the same httpx probe, so "upstream wait" means the
same thing for each: the time inside ``httpx.HTTPTransport.handle_request``, with the response body read
there too (httpx would otherwise read it later, outside the transport). The botocore probe times every AWS
API call (``BaseClient._make_api_call``: parameter validation, marshalling, signing, the HTTP round trip and
parsing) and, inside it, the wire time alone (``Endpoint._send``). AWS calls made on other threads (the routing
signals worker re-reading health in the background) are counted apart, as ``background``: they are not on the
request's path. Only stdlib is imported at module level:
the LiteLLM environment has no botocore, and the cold-start child must not import anything early.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class Probe:
    """Accumulators of the request in flight; ``begin`` clears them. Not thread-safe: one request at a time."""

    upstream_s: float = 0.0
    upstream_calls: int = 0
    aws_s: float = 0.0
    aws_wire_s: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)  # "service.Operation" -> count
    reads_before_upstream: int | None = None
    writes_before_upstream: int | None = None
    background: int = 0  # AWS calls made on other threads while this request ran
    _in_http: bool = False
    _in_aws: bool = False
    _thread: int = 0

    def begin(self) -> None:
        self.upstream_s = self.aws_s = self.aws_wire_s = 0.0
        self.upstream_calls = 0
        self.calls = Counter()
        self.reads_before_upstream = None
        self.writes_before_upstream = None
        self.background = 0
        self._thread = threading.get_ident()

    def on_request_thread(self) -> bool:
        return self._thread in (0, threading.get_ident())

    @property
    def dynamodb_reads(self) -> int:
        return sum(n for name, n in self.calls.items() if _operation(name, "dynamodb") in DYNAMODB_READS)

    @property
    def dynamodb_writes(self) -> int:
        return sum(n for name, n in self.calls.items() if _operation(name, "dynamodb") in DYNAMODB_WRITES)

    @property
    def kms_calls(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith("kms."))

    def sample(self) -> dict[str, Any]:
        """This request's figures, JSON-ready."""
        return {
            "upstream_s": self.upstream_s,
            "upstream_calls": self.upstream_calls,
            "aws_s": self.aws_s,
            "aws_wire_s": self.aws_wire_s,
            "reads": self.dynamodb_reads,
            "writes": self.dynamodb_writes,
            "kms": self.kms_calls,
            "reads_before_upstream": self.dynamodb_reads
            if self.reads_before_upstream is None
            else self.reads_before_upstream,
            "writes_before_upstream": self.dynamodb_writes
            if self.writes_before_upstream is None
            else self.writes_before_upstream,
            "calls": dict(self.calls),
            "background": self.background,
        }


def _operation(name: str, service: str) -> str | None:
    prefix, _, operation = name.partition(".")
    return operation if prefix == service else None


def install_httpx(probe: Probe) -> None:
    """Time every outermost ``HTTPTransport.handle_request`` including reading the body."""
    import httpx

    original = httpx.HTTPTransport.handle_request

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if probe._in_http:
            return original(self, request)
        if probe.upstream_calls == 0:
            probe.reads_before_upstream = probe.dynamodb_reads
            probe.writes_before_upstream = probe.dynamodb_writes
        probe._in_http = True
        started = time.perf_counter()
        try:
            response = original(self, request)
            raw = response.stream
            body = b"".join(raw)  # type: ignore[arg-type]
            close = getattr(raw, "close", None)
            if close is not None:
                close()
            response.stream = httpx.ByteStream(body)
            return response
        finally:
            probe.upstream_s += time.perf_counter() - started
            probe.upstream_calls += 1
            probe._in_http = False

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]


def install_botocore(probe: Probe) -> None:
    """Time and count every outermost AWS API call, and the HTTP round trips inside it."""
    from botocore.client import BaseClient
    from botocore.endpoint import Endpoint

    make_api_call = BaseClient._make_api_call
    send = Endpoint._send

    def timed_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if not probe.on_request_thread():
            probe.background += 1
            return make_api_call(self, operation_name, api_params)
        if probe._in_aws:
            return make_api_call(self, operation_name, api_params)
        probe._in_aws = True
        started = time.perf_counter()
        try:
            return make_api_call(self, operation_name, api_params)
        finally:
            probe.aws_s += time.perf_counter() - started
            probe.calls[f"{self.meta.service_model.service_name}.{operation_name}"] += 1
            probe._in_aws = False

    def timed_send(self: Endpoint, request: Any) -> Any:
        if not probe.on_request_thread():
            return send(self, request)
        started = time.perf_counter()
        try:
            return send(self, request)
        finally:
            probe.aws_wire_s += time.perf_counter() - started

    BaseClient._make_api_call = timed_call
    Endpoint._send = timed_send


def max_rss_mb() -> float:
    """Peak resident set size of this process, in MiB (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def silence_stdout() -> Any:
    """Send fd 1 to /dev/null (Powertools' JSON log lines and EMF metrics still get formatted and written,
    as in Lambda) and return a text stream on the original stdout for the results."""
    import os
    import sys

    sys.stdout.flush()
    results = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return results


@dataclass
class StreamProbe:
    """Arrival times of upstream response bytes and start times of AWS calls, for streamed requests.

    Unlike ``install_httpx``, nothing is read ahead: each chunk of the upstream body is timestamped when the
    transport hands it on, on whichever thread reads it. ``begin`` clears both lists."""

    arrivals: list[float] = field(default_factory=list)
    aws_calls: list[float] = field(default_factory=list)
    recording: bool = True

    def begin(self) -> None:
        self.arrivals = []
        self.aws_calls = []

    def arrived_before(self, moment: float) -> float | None:
        """The arrival time of the last upstream chunk received at or before ``moment``."""
        latest = None
        for arrival in self.arrivals:
            if arrival > moment:
                break
            latest = arrival
        return latest


def install_stream_httpx(probe: StreamProbe) -> None:
    """Timestamp every chunk the httpx transport hands to its reader (both sides use HTTPTransport)."""
    import httpx

    original = httpx.HTTPTransport.handle_request

    class TimedStream(httpx.SyncByteStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __iter__(self) -> Any:
            for chunk in self._inner:
                if probe.recording:
                    probe.arrivals.append(time.perf_counter())
                yield chunk

        def close(self) -> None:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = original(self, request)
        response.stream = TimedStream(response.stream)
        return response

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]


def install_botocore_times(probe: StreamProbe) -> None:
    """Record when every outermost AWS API call starts."""
    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call

    def timed_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if probe.recording:
            probe.aws_calls.append(time.perf_counter())
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = timed_call
