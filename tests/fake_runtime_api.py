"""A stand-in for the Lambda Runtime API (2018-06-01) on 127.0.0.1, for tests of the streaming runtime loop.

It follows the documented protocol, as the runtime loop sees it in a Lambda execution environment:
``GET /runtime/invocation/next`` blocks until the test queues an event and answers it with the
``Lambda-Runtime-*`` headers; ``POST /runtime/invocation/{id}/response`` takes either a buffered JSON body or,
with ``Lambda-Runtime-Function-Response-Mode: streaming``, a chunked body that it reads chunk by chunk as it
arrives (each one is visible to the test at once) and whose trailers may carry
``Lambda-Runtime-Function-Error-Type`` / ``Lambda-Runtime-Function-Error-Body``; ``/error`` and ``/init/error``
take the error document. Each accepted call is answered 202; a request id that is unknown or already answered
is a 400, as Lambda answers it.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API = "/2018-06-01/runtime"
DELIMITER = b"\x00" * 8
_STOP = object()


@dataclass
class Invocation:
    """One event the test queued, and everything the runtime sent back for it."""

    request_id: str
    event: Any
    headers: dict[str, str]
    mode: str | None = None  # "streaming", "buffered" or "error" once the runtime has answered
    request_headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    error_type: str | None = None
    cut_after: int | None = None  # drop the connection after this many chunks, as when the client goes away
    cut: threading.Event = field(default_factory=threading.Event)
    # stop reading (without closing) after this many chunks until ``unstall`` is set, as a client that stalls
    stall_after: int | None = None
    unstall: threading.Event = field(default_factory=threading.Event)
    _arrived: queue.Queue[bytes] = field(default_factory=queue.Queue)
    _done: threading.Event = field(default_factory=threading.Event)

    def next_chunk(self, timeout: float = 10) -> bytes:
        """The next chunk of the streamed body as it arrived on the wire; fails after ``timeout`` seconds."""
        try:
            return self._arrived.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no chunk of {self.request_id} arrived within {timeout} s") from None

    def wait(self, timeout: float = 10) -> Invocation:
        if not self._done.wait(timeout):
            raise AssertionError(f"the runtime did not finish {self.request_id} within {timeout} s")
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def integration_response(self) -> tuple[dict[str, Any], bytes]:
        """API Gateway's reading of a streamed body: the JSON prelude, then everything after the 8 NUL bytes."""
        head, found, rest = self.body.partition(DELIMITER)
        assert found, "the streamed body has no 8-NUL delimiter after its prelude"
        prelude = json.loads(head)
        assert isinstance(prelude, dict)
        return prelude, rest

    def trailer_error(self) -> dict[str, Any] | None:
        encoded = self.trailers.get("lambda-runtime-function-error-body")
        if encoded is None:
            return None
        decoded = json.loads(base64.b64decode(encoded))
        assert isinstance(decoded, dict)
        return decoded


class FakeRuntimeApi:
    def __init__(self, function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-chat") -> None:
        self.function_arn = function_arn
        self.init_error: dict[str, Any] | None = None
        self.init_error_type: str | None = None
        self.init_failed = threading.Event()
        self._pending: queue.Queue[Any] = queue.Queue()
        self._invocations: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-runtime-api", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeRuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down; a runtime blocked on /next sees its connection closed, as when Lambda ends the sandbox."""
        for _ in range(4):
            self._pending.put(_STOP)
        self._server.shutdown()
        self._server.server_close()

    def invoke(
        self,
        event: Any,
        *,
        timeout_s: float = 60,
        cut_after: int | None = None,
        stall_after: int | None = None,
        trace_id: str | None = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        extra_headers: dict[str, str] | None = None,
    ) -> Invocation:
        """Queue one event for the runtime's next ``/next`` call (``extra_headers``: more ``Lambda-Runtime-*``)."""
        request_id = str(uuid.uuid4())
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + timeout_s) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Content-Type": "application/json",
        }
        if trace_id is not None:
            headers["Lambda-Runtime-Trace-Id"] = trace_id
        headers.update(extra_headers or {})
        invocation = Invocation(
            request_id=request_id, event=event, headers=headers, cut_after=cut_after, stall_after=stall_after
        )
        with self._lock:
            self._invocations[request_id] = invocation
        self._pending.put(invocation)
        return invocation

    def _claim(self, request_id: str) -> Invocation | None:
        """The invocation a /response or /error is for, if it is known and not answered yet."""
        with self._lock:
            invocation = self._invocations.get(request_id)
            if invocation is None or invocation.mode is not None:
                return None
            invocation.mode = "claimed"
            return invocation


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime that goes away mid-call (a test killing its process) is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_class(api: FakeRuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path != f"{API}/invocation/next":
                self._reply(404, {"errorMessage": "unknown path", "errorType": "NotFound"})
                return
            invocation = api._pending.get()
            if invocation is _STOP:
                self.close_connection = True
                return
            body = json.dumps(invocation.event).encode("utf-8")
            self.send_response(200)
            for name, value in invocation.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_POST(self) -> None:
            parts = self.path.split("/")
            if self.path == f"{API}/init/error":
                api.init_error = json.loads(self._read_body())
                api.init_error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                api.init_failed.set()
                self._reply(202, {"status": "OK"})
                return
            if len(parts) != 6 or "/".join(parts[:4]) != f"{API}/invocation" or parts[5] not in ("response", "error"):
                self._reply(404, {"errorMessage": "unknown path", "errorType": "NotFound"})
                return
            invocation = api._claim(parts[4])
            if invocation is None:
                self._read_body()
                self._reply(400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
                return
            invocation.request_headers = {k.lower(): v for k, v in self.headers.items()}
            if parts[5] == "error":
                invocation.error = json.loads(self._read_body())
                invocation.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                invocation.mode = "error"
            elif self.headers.get("Lambda-Runtime-Function-Response-Mode") == "streaming":
                assert self.headers.get("Transfer-Encoding") == "chunked", "a streamed response must be chunked"
                if not self._read_chunked(invocation):
                    invocation.mode = "cut"
                    invocation._done.set()
                    return
                invocation.mode = "streaming"
            else:
                body = self._read_body()
                invocation.chunks.append(body)
                invocation.mode = "buffered"
            self._reply(202, {"status": "OK"})
            invocation._done.set()

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding") == "chunked":
                raise AssertionError("only /response may be chunked")
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _read_chunked(self, invocation: Invocation) -> bool:
            """Read the chunked body as it arrives; False when the connection was cut on purpose."""
            for _ in itertools.count():
                if invocation.cut_after is not None and len(invocation.chunks) >= invocation.cut_after:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    invocation.cut.set()
                    return False
                if invocation.stall_after is not None and len(invocation.chunks) >= invocation.stall_after:
                    invocation.unstall.wait(30)
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return False
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = self.rfile.read(size)
                assert self.rfile.read(2) == b"\r\n", "a chunk must end with CRLF"
                invocation.chunks.append(data)
                invocation._arrived.put(data)
            while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                invocation.trailers[name.strip().lower()] = value.strip()
            return True

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            encoded = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)
            self.wfile.flush()

    return Handler
