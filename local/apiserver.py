"""The HTTP API on a local port: each request goes through ``local.apigw.Router`` to the real handlers.

Used by ``make dev`` and by the tests' ``api`` fixture. The access log names method, path (never the query),
status and latency; request bodies and headers, Authorization included, never reach it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import urlsplit

from local.apigw import MAX_PAYLOAD_BYTES, HttpRequest, HttpResponse, Router, gateway_error, payload_too_large

_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_PARSE_ERRORS = {
    431: ("request header fields too large", "request_header_fields_too_large"),
    414: ("request URI too long", "request_uri_too_long"),
    400: ("malformed HTTP request", "bad_request"),
    505: ("HTTP version not supported", "http_version_not_supported"),
}
_LAST_CHUNK = b"0\r\n\r\n"
# RFC 9112: Content-Length = 1*DIGIT; chunk-size = 1*HEXDIG, then optional chunk extensions. Python's int()
# would also take "+49", "4_9", " 49", "0x49" and non-ASCII digits, which another parser reads differently.
_DIGITS = re.compile(r"[0-9]{1,19}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")
_MAX_FRAMING_LINE = 4096  # a chunk-size line with its extensions, or one trailer field
_MAX_TRAILERS = 64
IDLE_TIMEOUT_S = 60.0  # a keep-alive connection with no request in flight is closed after this long
SHUTDOWN_POLL_S = 0.1  # how often serve_forever checks for stop(): make dev stops well within 5 s of SIGTERM
logger = logging.getLogger(__name__)


class _BadRequestBody(ValueError):
    pass


class _PayloadTooLarge(ValueError):
    pass


class _NotImplementedCoding(ValueError):
    """A transfer coding other than chunked (gzip, compress, deflate): the server does not decode them."""


class ApiServer:
    """``ApiServer(host, port).start()`` serves the template's routes; port 0 picks a free port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        router: Router | None = None,
        access_log: TextIO | None = sys.stderr,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self._idle_timeout_s = idle_timeout_s
        self._host = host
        self._port = port
        self._router = router
        self._access_log = access_log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ApiServer:
        if self._server is not None:
            raise RuntimeError("API server already started")
        router = self._router or Router.from_template()
        self._server = _Server((self._host, self._port), router, self._access_log, self._idle_timeout_s)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), name="api-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("API server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default of 5 resets bursts of concurrent clients
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], router: Router, access_log: TextIO | None, idle_timeout_s: float
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.router = router
        self.access_log = access_log
        self.log_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers otherwise wait ~40 ms for delayed ACKs
    server: _Server

    def setup(self) -> None:
        super().setup()
        # A socket timeout: a connection that sends nothing for this long (between keep-alive requests, or
        # mid-request) is closed by the stdlib's request loop instead of holding a thread forever; a client that
        # stops reading a response for as long is gone too.
        self.connection.settimeout(self.server.idle_timeout_s)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the stdlib answers a request it cannot parse (a header line over 64 KiB, too many headers, a
        malformed request line), in the gateway's JSON error shape with a request id instead of its HTML page.
        Its own message is not used: it can quote the request line."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # a refused request line says nothing of the client: answer with headers
        known = _PARSE_ERRORS.get(code)
        text, error_code = known if known else ("the request could not be parsed", "bad_request")
        response = gateway_error(code, text, "invalid_request_error", error_code, str(uuid.uuid4()))
        try:
            self._send(response)
        except _CLIENT_GONE:
            return
        self._log(code, time.monotonic())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Replaced by ``_log``: the stdlib line would include the query string."""

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the stdlib's error lines quote the raw request line."""

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            try:
                body = self._read_body()
            except _PayloadTooLarge:
                self.close_connection = True  # the unread body cannot be skipped safely
                response = payload_too_large(str(uuid.uuid4()))
            except _BadRequestBody as exc:
                self.close_connection = True
                response = gateway_error(400, str(exc), "invalid_request_error", "bad_request", str(uuid.uuid4()))
            except _NotImplementedCoding:
                self.close_connection = True
                text = "only the chunked transfer coding is supported"
                response = gateway_error(501, text, "invalid_request_error", "not_implemented", str(uuid.uuid4()))
            else:
                request = HttpRequest(
                    method=self.command,
                    target=self.path,
                    headers=list(self.headers.items()),
                    body=body,
                    source_ip=self.client_address[0],
                )
                response = self.server.router.handle(request)
            self._send(response)
        except _CLIENT_GONE:
            self.close_connection = True
            return
        self._log(response.status, started)

    def _read_body(self) -> bytes:
        """The request body, framed as RFC 9112 section 6 says; anything ambiguous is refused, never guessed
        (a request smuggled past one parser is read differently by the next)."""
        codings = [
            coding.strip().lower()
            for value in self.headers.get_all("transfer-encoding") or []
            for coding in value.split(",")
            if coding.strip()
        ]
        lengths = self.headers.get_all("content-length") or []
        if codings:
            if lengths:
                raise _BadRequestBody("a request must not send both Content-Length and Transfer-Encoding")
            if codings[-1] != "chunked" or codings.count("chunked") > 1:
                raise _BadRequestBody("Transfer-Encoding must end with chunked, once")
            if len(codings) > 1:
                raise _NotImplementedCoding
            return self._read_chunked()
        if not lengths:
            return b""
        if len({value.strip() for value in lengths}) > 1 or not _DIGITS.fullmatch(lengths[0].strip()):
            raise _BadRequestBody("invalid Content-Length header")
        length = int(lengths[0])
        if length > MAX_PAYLOAD_BYTES:
            raise _PayloadTooLarge
        return self._read_exactly(length)

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) != size:
            raise _BadRequestBody("the request body ended early")
        return data

    def _read_line(self) -> bytes:
        """One line of the chunked framing, without its CRLF (a bare LF is accepted, as RFC 9112 allows)."""
        line = self.rfile.readline(_MAX_FRAMING_LINE + 1)
        if not line.endswith(b"\n") or len(line) > _MAX_FRAMING_LINE:
            raise _BadRequestBody("invalid chunked request body")
        return line.rstrip(b"\n").removesuffix(b"\r")

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            match = _CHUNK_SIZE.fullmatch(self._read_line())
            if match is None:
                raise _BadRequestBody("invalid chunk size in a chunked request body")
            size = int(match.group(1), 16)
            if size == 0:
                break
            if len(body) + size > MAX_PAYLOAD_BYTES:
                raise _PayloadTooLarge
            body += self._read_exactly(size)
            if self._read_line() != b"":
                raise _BadRequestBody("a chunk's data must end with CRLF")
        for _ in range(_MAX_TRAILERS + 1):
            if self._read_line() == b"":
                return bytes(body)
        raise _BadRequestBody("too many trailer fields")

    def _send(self, response: HttpResponse) -> None:
        if response.stream is not None:
            self._send_stream(response)
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)
        self.wfile.flush()

    def _send_stream(self, response: HttpResponse) -> None:
        """Status and headers, then each body item as one HTTP chunk, flushed as soon as it is produced.
        The stream is closed in every case: after the last chunk, when the client went away mid-stream (the
        write fails), when the client stopped reading until the request deadline (the write times out there), or
        when the producer itself failed (the connection is then cut without a last chunk)."""
        from gateway.http.streaming import write_timeout

        streamed = response.stream
        assert streamed is not None
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            if self.command != "HEAD":
                try:
                    for item in streamed.body:
                        if item:
                            # A client that stops reading blocks the write; never past the request deadline.
                            self.connection.settimeout(write_timeout(streamed.deadline))
                            self.wfile.write(b"%X\r\n%s\r\n" % (len(item), item))
                            self.wfile.flush()
                except _CLIENT_GONE:
                    raise
                except TimeoutError:
                    self.close_connection = True  # the deadline passed with the client not reading: cut it
                    return
                except Exception as exc:  # the function failed mid-body: what API Gateway does is cut the stream
                    logger.error("streamed body failed: %s", type(exc).__name__, exc_info=exc)
                    self.close_connection = True
                    return
            self.wfile.write(_LAST_CHUNK)
            self.wfile.flush()
        finally:
            self.connection.settimeout(self.timeout)  # the keep-alive connection's own timeout again
            streamed.close()

    def _log(self, status: int, started: float) -> None:
        stream = self.server.access_log
        if stream is None:
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        path = urlsplit(getattr(self, "path", "")).path  # unset when the request line itself was refused
        line = f"{self.client_address[0]} {self.command} {path} {status} {elapsed_ms:.0f}ms\n"
        with self.server.log_lock:
            stream.write(line)
            stream.flush()
