"""gateway.routing.upstream_reader over a real socket: the relay reads a 2xx body on its own thread until it
hands it over (no thread hand-off before the first byte goes out), the reader thread cuts that read at the limit
the relay gave, and after ``hand_over`` the rest arrives through the queue."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from gateway.providers import transport
from gateway.routing.upstream_reader import UpstreamReader, _Data, _End, _Status

HOLD_S = 10.0  # how long the upstream stalls when a test does not release it


class Upstream:
    """One HTTP/1.1 answer, chunked: its status and first chunk at once, the second when released."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/stream"

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            conn.sendall(head + _chunk(b"first"))
            if self.release.wait(HOLD_S):
                conn.sendall(_chunk(b"second") + b"0\r\n\r\n")
                time.sleep(0.5)  # let the client read it all before the connection goes


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.release.set()
    server.server.close()


@contextmanager
def reading_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The thread that reads each chunk of the upstream body, in order."""
    readers: list[int] = []
    original = httpx.Response.iter_bytes

    def iter_bytes(self: httpx.Response, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for data in original(self, *args, **kwargs):
            readers.append(threading.get_ident())
            yield data

    monkeypatch.setattr(httpx.Response, "iter_bytes", iter_bytes)
    yield readers


def _open(url: str) -> UpstreamReader:
    with transport.attempt():  # the reader thread copies the attempt's context, as in run_attempt
        return UpstreamReader(transport.UpstreamRequest("POST", url, {}, b"{}"), timeout=HOLD_S * 2)


def test_the_relay_reads_the_body_itself_until_it_hands_the_rest_over(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    with reading_threads(monkeypatch) as readers:
        reader = _open(upstream.url)
        try:
            assert reader.next(5) == _Status(200, b"")
            assert reader.next(5) == _Data(b"first")
            reader.hand_over()
            upstream.release.set()
            assert reader.next(5) == _Data(b"second")
            assert reader.next(5) == _End()
        finally:
            reader.close()
    me = threading.get_ident()
    assert readers[0] == me  # the bytes of the first delta were read where they are decoded and sent
    assert readers[1] != me  # the rest by the reader thread, so the relay can wait with a timeout


def test_a_read_on_the_relays_thread_is_cut_at_the_limit_it_gave(upstream: Upstream) -> None:
    reader = _open(upstream.url)
    try:
        assert reader.next(5) == _Status(200, b"")
        assert reader.next(5) == _Data(b"first")
        started = time.monotonic()
        assert reader.next(0.2) is None  # the upstream is stalled: the reader thread shut the read at the limit
        assert time.monotonic() - started < HOLD_S / 2
    finally:
        reader.close()
