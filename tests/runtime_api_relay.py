"""A relay between a Lambda runtime and a real Runtime API (AWS's Runtime Interface Emulator), that sees every call.

The emulator collects a streamed answer before it returns it, so its caller cannot tell a loop that streams from
one that buffers. The relay sits where the runtime expects the Runtime API: each call goes on to the emulator
as it arrives, and a streamed ``/response`` goes on chunk by chunk, each chunk handed to the test (with its arrival
order and time) the moment it reaches the relay and before it is forwarded. What the emulator answered each call
is recorded too, so a test also proves the emulator accepted it.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Request headers a runtime sends that the relay passes on (Transfer-Encoding is re-created for chunked bodies).
_FORWARDED = (
    "Content-Type",
    "Lambda-Runtime-Function-Response-Mode",
    "Lambda-Runtime-Function-Error-Type",
    "Lambda-Runtime-Function-XRay-Error-Cause",
    "Trailer",
)


@dataclass(frozen=True)
class RelayedChunk:
    index: int
    data: bytes
    received_at: float  # time.monotonic() when the chunk reached the relay


@dataclass
class RelayedCall:
    """One runtime call after ``/next``: a ``/response`` (streamed or whole) or an ``/error``."""

    path: str
    headers: dict[str, str]
    body: bytes = b""
    trailers: dict[str, str] = field(default_factory=dict)
    chunks: queue.Queue[RelayedChunk | None] = field(default_factory=queue.Queue)
    upstream_status: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def next_chunk(self, timeout: float) -> RelayedChunk:
        """The next streamed chunk; raises queue.Empty when none reached the relay in ``timeout`` seconds."""
        chunk = self.chunks.get(timeout=timeout)
        if chunk is None:
            raise EOFError("the streamed body ended")
        return chunk


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime's pending ``/next`` fails when the emulator stops: the end of the environment, not a fault."""


class RuntimeApiRelay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: queue.Queue[RelayedCall] = queue.Queue()
        self._server = _Server(("127.0.0.1", 0), _handler_class(self))

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeApiRelay:
        threading.Thread(target=self._server.serve_forever, name="runtime-api-relay", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_call(self, timeout: float = 60) -> RelayedCall:
        return self.calls.get(timeout=timeout)

    def upstream_connection(self) -> http.client.HTTPConnection:
        host, _, port = self.upstream.rpartition(":")
        return http.client.HTTPConnection(host, int(port), timeout=None)


def _handler_class(relay: RuntimeApiRelay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            upstream = relay.upstream_connection()
            upstream.request("GET", self.path)
            response = upstream.getresponse()
            body = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "date", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            upstream.close()

        def do_POST(self) -> None:
            headers = {name: self.headers[name] for name in _FORWARDED if self.headers.get(name) is not None}
            call = RelayedCall(path=self.path, headers=headers)
            relay.calls.put(call)
            upstream = relay.upstream_connection()
            if self.headers.get("Transfer-Encoding") == "chunked":
                upstream.putrequest("POST", self.path, skip_accept_encoding=True)
                for name, value in headers.items():
                    upstream.putheader(name, value)
                upstream.putheader("Transfer-Encoding", "chunked")
                upstream.endheaders()
                self._relay_chunks(call, upstream)
            else:
                call.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.request("POST", self.path, body=call.body, headers=headers)
            response = upstream.getresponse()
            answer = response.read()
            upstream.close()
            call.upstream_status = response.status
            call.done.set()
            self.send_response(response.status)
            self.send_header("Content-Type", response.getheader("Content-Type") or "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def _relay_chunks(self, call: RelayedCall, upstream: http.client.HTTPConnection) -> None:
            index = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                call.body += data
                call.chunks.put(RelayedChunk(index=index, data=data, received_at=time.monotonic()))
                index += 1
                upstream.send(b"%X\r\n%b\r\n" % (size, data))
            trailer_lines = b""
            while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                call.trailers[name.strip().lower()] = value.strip()
                trailer_lines += line
            call.chunks.put(None)
            upstream.send(b"0\r\n" + trailer_lines + b"\r\n")

    return Handler
