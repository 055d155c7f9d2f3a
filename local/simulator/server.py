"""`ProviderSimulator`: a real HTTP server on 127.0.0.1 speaking each upstream provider's wire format."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.simulator.control import handle_control
from local.simulator.credentials import CredentialStore
from local.simulator.dispatch import Delivery, Dispatcher, Outcome
from local.simulator.errors import request_id_header
from local.simulator.faults import EchoForm, Fault, FaultBook
from local.simulator.inflight import CallsInFlight
from local.simulator.pacing import Dropped, Pacing, PacingBook, PacingHandle
from local.simulator.routes import match_route
from local.simulator.wire import Call, RecordedRequest, Reply, json_reply

API_KEY_PROVIDERS = frozenset({"openai", "deepseek", "anthropic", "google-ai-studio", "amazon-bedrock"})
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
SETTLE_ROUND_S = 0.1


class ProviderSimulator:
    """Start with `start()` (or `with ProviderSimulator().start() as sim:`); configure with accept_*/fail."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self._store = CredentialStore(strict)
        self._faults = FaultBook()
        self._requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._calls = CallsInFlight()
        self._pacings = PacingBook(self._calls)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._dispatcher: Dispatcher | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> ProviderSimulator:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._calls.start()
        self._server = _Server((host, port), _Handler, self)
        self._dispatcher = Dispatcher(self._store, self._faults, self._pacings, self.token_uri, self._calls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="provider-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._calls.stop()  # wakes requests parked in a timeout fault or a paced stream
        self._pacings.clear()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread, self._dispatcher = None, None, None

    def __enter__(self) -> ProviderSimulator:
        return self if self._server is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_uri(self) -> str:
        return token_uri(self.url)

    def upstream_env(self) -> dict[str, str]:
        return upstream_env(self.url)

    def accept_api_key(self, provider: str, api_key: str) -> None:
        if provider not in API_KEY_PROVIDERS:
            raise ValueError(f"{provider!r} does not take API keys; expected one of {sorted(API_KEY_PROVIDERS)}")
        self._store.accept_api_key(provider, api_key)

    def accept_aws(self, access_key_id: str, secret_access_key: str) -> None:
        self._store.accept_aws(access_key_id, secret_access_key)

    def accept_service_account(self, info: dict[str, Any]) -> None:
        self._store.accept_service_account(info)

    def fail(
        self,
        provider: str,
        *,
        status: int | None = None,
        mode: str = "status",
        credential: str | None = None,
        times: int | None = None,
        delay: float = 0.0,
        body: str | None = None,
        message: str | None = None,
        echo_credentials: bool = False,
        echo_form: EchoForm = "as_is",
        retry_after: str | None = None,
        dedicated_only: bool = False,
    ) -> None:
        """Arm a fault; see `faults.Fault`. The most recently armed matching fault wins."""
        self.arm(
            Fault(
                provider=provider,
                status=status,
                mode=mode,
                credential=credential,
                times=times,
                delay=delay,
                body=body,
                message=message,
                echo_credentials=echo_credentials,
                echo_form=echo_form,
                retry_after=retry_after,
                dedicated_only=dedicated_only,
            )
        )

    def arm(self, fault: Fault) -> None:
        self._faults.arm(fault)

    def pace(self, provider: str, **options: Any) -> PacingHandle:
        """Arm a stream pacing (see `pacing.Pacing`) and return its handle (``release()``, counters)."""
        return self._pacings.arm(Pacing(provider=provider, **options))

    def arm_pacing(self, pacing: Pacing) -> PacingHandle:
        return self._pacings.arm(pacing)

    def pacings(self, provider: str | None = None) -> list[PacingHandle]:
        return self._pacings.handles(provider)

    def clear_pacing(self) -> None:
        self._pacings.clear()

    def armed_faults(self) -> list[dict[str, Any]]:
        return self._faults.snapshot()

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def in_flight(self) -> int:
        """Provider calls read and not yet answered, control API calls aside (a call parked in a fault counts until
        it is answered, whether its client still waits or not)."""
        return self._calls.count

    def wait_idle(self, timeout: float) -> bool:
        """Whether no provider call was in flight within ``timeout`` seconds; at once when none is."""
        return self._calls.wait_idle(timeout)

    def settle(self, timeout: float) -> bool:
        """End what the calls in flight wait for (a timeout or slow fault's delay, a paced stream's delays and
        held chunks) and wait up to ``timeout`` seconds until none is in flight: each is answered and recorded
        now. Whether none is left. What a test's end needs so that none of its calls lands in the next test."""
        give_up = time.monotonic() + timeout
        while True:
            self._calls.release()  # again each round: a call may have arrived since the last
            self._pacings.release_all()
            left = give_up - time.monotonic()
            if self._calls.wait_idle(max(0.0, min(left, SETTLE_ROUND_S))):
                return True
            if left <= SETTLE_ROUND_S:
                self._calls.hold()  # the calls still in flight must not keep the next test's faults from parking
                return False

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def _record(self, recorded: RecordedRequest) -> None:
        with self._requests_lock:
            self._requests.append(recorded)

    def _dispatch(self, call: Call) -> tuple[str, Outcome]:
        if call.path.startswith("/_sim/"):
            return "_sim", Outcome(handle_control(self, call), None)
        route = match_route(call.method, call.path)
        if route is None or self._dispatcher is None:
            return "unknown", Outcome(json_reply(404, {"error": {"message": f"no provider at {call.path}"}}), None)
        return route.provider, self._dispatcher.dispatch(route, call)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for requests parked in a timeout fault

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], simulator: ProviderSimulator
    ) -> None:
        self.simulator = simulator
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers otherwise wait ~40 ms for delayed ACKs
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and `make dev` read the recorded requests instead."""

    def _serve(self) -> None:
        if self.path.startswith("/_sim/"):  # the control API: never in flight, settle() is one of its calls
            self._answer()
            return
        with self.server.simulator._calls.serving():
            self._answer()

    def _answer(self) -> None:
        try:
            call = self._read_call()
            provider, outcome = self.server.simulator._dispatch(call)
            if provider != "_sim":
                self._record(provider, call, outcome)
            self._deliver(provider, outcome)
        except _CLIENT_GONE:
            self.close_connection = True

    def _read_call(self) -> Call:
        split = urlsplit(self.path)
        raw_body = self._read_body()
        try:
            parsed: Any = json.loads(raw_body) if raw_body else None
        except ValueError:
            parsed = None
        return Call(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            raw_query=split.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=raw_body,
            json=parsed,
        )

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                pass  # trailers
            return bytes(body)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _record(self, provider: str, call: Call, outcome: Outcome) -> None:
        recorded = RecordedRequest(
            provider=provider,
            method=call.method,
            path=call.path,
            query=call.query,
            headers=call.headers,
            json=call.json,
            raw_body=call.raw_body,
            credential=outcome.credential,
            status=outcome.reply.status if outcome.reply is not None else None,
        )
        self.server.simulator._record(recorded)

    def _deliver(self, provider: str, outcome: Outcome) -> None:
        reply = outcome.reply
        if reply is None:
            self._close(reset=outcome.delivery is Delivery.RESET)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if provider != "_sim":
            self.send_header(*request_id_header(provider))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if outcome.delivery is Delivery.CUT:
            self._send_cut(reply)
        elif reply.stream is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self._send_stream(reply, outcome.pacing)
            return
        else:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        self.wfile.flush()

    def _send_stream(self, reply: Reply, pacing: PacingHandle | None) -> None:
        assert reply.stream is not None
        try:
            for chunk in reply.stream:
                self._write_chunk(chunk)
            self._write_chunk(b"")
        except Dropped:
            self._close(reset=False)
            return
        except _CLIENT_GONE:
            if pacing is not None:
                pacing.stream_ended("client_gone")
            raise
        if pacing is not None:
            pacing.stream_ended("finished")

    def _send_cut(self, reply: Reply) -> None:
        """Promise a whole body, send part of it, hang up."""
        if reply.stream is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._write_chunk(next(reply.stream, b""))
        else:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body[: len(reply.body) // 2])
        self.wfile.flush()
        self._close(reset=False)

    def _write_chunk(self, chunk: bytes) -> None:
        self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
        self.wfile.flush()

    def _close(self, reset: bool) -> None:
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)


def upstream_env(url: str) -> dict[str, str]:
    """The UPSTREAM_* variables (and the token endpoint allowlist) that send every provider to the simulator at
    ``url``: what a function in another process needs to reach a running simulator."""
    return {
        "UPSTREAM_OPENAI_URL": f"{url}/openai/v1",
        "UPSTREAM_DEEPSEEK_URL": f"{url}/deepseek",
        "UPSTREAM_ANTHROPIC_URL": f"{url}/anthropic/v1",
        "UPSTREAM_GOOGLE_AI_STUDIO_URL": f"{url}/google-ai-studio/v1beta",
        "UPSTREAM_AMAZON_BEDROCK_URL": f"{url}/bedrock",
        "UPSTREAM_GOOGLE_VERTEX_URL": f"{url}/vertex/v1",
        "GOOGLE_TOKEN_URI_ALLOWLIST": token_uri(url),
    }


def token_uri(url: str) -> str:
    """The simulator's Google OAuth token endpoint."""
    return f"{url}/google/token"
