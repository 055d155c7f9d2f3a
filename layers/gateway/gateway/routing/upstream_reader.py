"""One upstream answer, read as it arrives: the first stage of the relay (``gateway.routing.relay``).

``UpstreamReader`` starts one daemon thread per attempt. The thread sends the request and reads the status line;
then the *relay's own thread* reads the body while it decides whether the attempt commits, so the bytes that
carry the first delta are decoded where they arrive, with no hand-off between threads on the way to the client's
first byte (waking a waiting thread costs ~25 us, more on a loaded machine). Meanwhile the reader thread keeps
the relay's time limit: at the first-byte or request deadline it shuts the socket, which ends the blocked read.
Once the stream has committed and its first chunks are out, ``hand_over`` gives the body back to the thread,
which puts each read on a small bounded queue; the relay waits on it with a timeout (``: keep-alive`` comments,
the deadline) and can stop the read at any moment (a client that went away) without tearing an httpx stream from
another thread. The httpx stream is opened and closed on the reader thread, inside one ``with``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import queue
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from gateway.providers import transport

QUEUE_DEPTH = 16  # upstream reads in flight between the reader thread and the relay
_PUT_POLL_S = 0.05
_ARM_SLACK_S = 0.001  # a limit this much earlier than the one the thread waits for is not worth waking it


@dataclass(frozen=True)
class _Status:
    code: int
    body: bytes  # the error body for a non-2xx answer, else empty
    headers: Mapping[str, str] = field(default_factory=dict)  # of a non-2xx answer (retry-after)


@dataclass(frozen=True)
class _Data:
    data: bytes


@dataclass(frozen=True)
class _End:
    pass


@dataclass(frozen=True)
class _Error:
    error: BaseException


_Item = _Status | _Data | _End | _Error


class UpstreamReader:
    """Sends ``upstream`` on a daemon thread; ``next`` hands over what arrived (see the module docstring)."""

    def __init__(self, upstream: transport.UpstreamRequest, timeout: float) -> None:
        # A SimpleQueue (C-implemented, the fastest handoff between threads) bounded by a semaphore of free slots.
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._free = threading.Semaphore(QUEUE_DEPTH)
        self._stopped = threading.Event()
        self._wake = threading.Event()  # the thread re-reads its state: handed over, stopped, a new limit
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._delivery = transport.Delivery()
        self._body: Iterator[bytes] | None = None  # the 2xx body, read by the relay until ``hand_over``
        self._here = False  # the relay reads the body on its own thread
        self._handed_over = False
        self._reading = False  # the relay is inside a read of the body
        self._cut_at = math.inf  # when the thread cuts that read (monotonic)
        self._armed_at = math.inf  # the limit the thread is waiting for
        self._cut = False  # the thread cut the relay's read at its limit
        # The thread runs in the attempt's context: the transport sends only within an attempt.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, upstream, timeout), name="upstream-reader", daemon=True
        )
        self._thread.start()

    def _run(self, upstream: transport.UpstreamRequest, timeout: float) -> None:
        try:
            self._read(upstream, timeout)
        finally:
            with self._lock:
                self._socket = None  # the connection is back in the pool (or closed): never shut it from here on

    def _read(self, upstream: transport.UpstreamRequest, timeout: float) -> None:
        try:
            with transport.stream(upstream, timeout, self._delivery) as response:
                network = response.extensions.get("network_stream")
                with self._lock:
                    self._socket = network.get_extra_info("socket") if network is not None else None
                    if self._stopped.is_set():
                        return
                status = response.status_code
                if not 200 <= status < 300:
                    body = response.read()
                    with self._lock:
                        self._socket = None  # read whole: the connection goes back to the pool intact
                    self._put(_Status(status, body, dict(response.headers)))
                    return
                self._body = response.iter_bytes()  # set before the status is queued: the relay reads it next
                self._put(_Status(status, b""))
                if not self._keep_time():
                    return
                for data in self._body:
                    if self._stopped.is_set() or not self._put(_Data(data)):
                        return
                with self._lock:
                    self._socket = None  # read to its end: the connection goes back to the pool intact
            self._put(_End())
        except BaseException as exc:  # handed to the relay, which classifies it
            self._put(_Error(exc))

    def _keep_time(self) -> bool:
        """While the relay reads the body: cut its read at the limit it gave. True once the body is handed over."""
        while True:
            with self._lock:
                if self._stopped.is_set():
                    return False
                if self._handed_over:
                    return True
                now = time.monotonic()
                if self._reading and now >= self._cut_at and not self._cut:
                    self._cut = True
                    self._shut()  # ends the relay's blocked recv
                self._armed_at = self._cut_at if self._reading and not self._cut else math.inf
                wait = None if self._armed_at == math.inf else self._armed_at - now
            self._wake.wait(wait)
            self._wake.clear()

    def _put(self, item: _Item) -> bool:
        """Queue ``item``, waiting while the relay is behind; False once the relay has stopped reading."""
        while not self._stopped.is_set():
            if self._free.acquire(timeout=_PUT_POLL_S):
                self._queue.put(item)
                # Hand the GIL to the relay now: it is waking for this item, and would otherwise wait for it
                # while this thread runs httpx's read path up to its next blocking recv (~45 us a chunk).
                time.sleep(0)
                return True
        return False

    @property
    def body_sent(self) -> bool:
        """Whether the whole request body went out: from then on the upstream has the prompt."""
        return self._delivery.body_sent

    def next(self, timeout: float) -> _Item | None:
        """The next item, or None when nothing arrived within ``timeout`` seconds."""
        if self._here:
            return self._read_here(timeout)
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        self._free.release()
        if isinstance(item, _Status) and self._body is not None:
            self._here = True  # a 2xx status: the body is the relay's to read, until ``hand_over``
        return item

    def _read_here(self, timeout: float) -> _Item | None:
        """One read of the body on the relay's thread, cut by the reader thread after ``timeout`` seconds."""
        if timeout <= 0 or self._body is None:
            return None
        with self._lock:
            self._cut_at, self._reading = time.monotonic() + timeout, True
            arm = self._cut_at < self._armed_at - _ARM_SLACK_S
        if arm:
            self._wake.set()
        item: _Item
        try:
            data = next(self._body, None)
            item = _End() if data is None else _Data(data)
        except Exception as exc:  # classified by the relay, unless the cut caused it
            item = _Error(exc)
        with self._lock:
            self._reading = False
            if isinstance(item, _End):
                self._socket = None  # read to its end: the connection goes back to the pool intact
            return None if self._cut else item

    def hand_over(self) -> None:
        """The relay has committed and sent what it read: the reader thread reads the rest onto the queue."""
        if self._here:
            self._here = False
            with self._lock:
                self._handed_over = True
            self._wake.set()

    def close(self) -> None:
        """Stop reading: the reader thread ends and the upstream connection is shut, mid-body or not."""
        with self._lock:
            self._stopped.set()
            self._shut()
        self._wake.set()

    def _shut(self) -> None:
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv; the connection is discarded
