"""The Lambda Runtime API (``2018-06-01``) over the standard library's HTTP client: the next invocation, a
streamed or whole answer, and error reports (see ``gateway.http.lambda_runtime`` for the loop that uses it).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

INTEGRATION_RESPONSE_TYPE = "application/vnd.awslambda.http-integration-response"
API_VERSION = "2018-06-01"


RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"


ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"


XRAY_ERROR_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"


class RuntimeApiError(Exception):
    """The Runtime API refused a call or went away: the execution environment is ending."""


@dataclass(frozen=True)
class Invocation:
    request_id: str
    event: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str | None
    client_context: str | None
    cognito_identity: str | None
    tenant_id: str | None


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # Each chunk is written the moment it exists; Nagle's algorithm would hold small ones back.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ResponseStream:
    """One streamed ``/response`` POST: ``write`` sends a chunk now, ``finish`` ends the body."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection

    def write(self, data: bytes, timeout: float | None = None) -> None:
        """Send ``data`` now; with ``timeout``, a send blocked longer (the reader stalled) raises TimeoutError."""
        if data:  # a zero-length chunk would end the body
            self._set_timeout(timeout)
            self._connection.send(b"%X\r\n%b\r\n" % (len(data), data))

    def _set_timeout(self, timeout: float | None) -> None:
        sock = self._connection.sock
        if sock is not None:
            sock.settimeout(timeout)

    def finish(self, error: dict[str, Any] | None = None) -> None:
        """End the body; with ``error``, through the error trailers. Raises RuntimeApiError if it was refused."""
        trailers = b""
        if error is not None:
            encoded = base64.b64encode(json.dumps(error).encode("utf-8"))
            trailers = b"%s: %s\r\n%s: %s\r\n" % (
                ERROR_TYPE_HEADER.encode("ascii"),
                str(error["errorType"]).encode("ascii", "replace"),
                ERROR_BODY_TRAILER.encode("ascii"),
                encoded,
            )
        self._set_timeout(None)  # the kept-alive connection waits for /next without a timeout
        self._connection.send(b"0\r\n" + trailers + b"\r\n")
        _expect(self._connection, "response", http.HTTPStatus.ACCEPTED)


class RuntimeApiClient:
    """The Lambda Runtime API at ``address`` (``AWS_LAMBDA_RUNTIME_API``), over one kept-alive connection."""

    def __init__(self, address: str) -> None:
        # No timeout: /next blocks until there is an event, and the process may be frozen while it waits.
        self._connection = _Connection(address, timeout=None)

    def next_invocation(self) -> Invocation:
        try:
            self._connection.request("GET", f"/{API_VERSION}/runtime/invocation/next")
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._connection.close()
            raise RuntimeApiError(f"next invocation: {type(exc).__name__}") from None
        if response.status != http.HTTPStatus.OK:
            raise RuntimeApiError(f"next invocation: HTTP {response.status}")
        headers = response.headers
        return Invocation(
            request_id=headers.get("Lambda-Runtime-Aws-Request-Id", ""),
            event=body,
            deadline_ms=int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            function_arn=headers.get("Lambda-Runtime-Invoked-Function-Arn", ""),
            trace_id=headers.get("Lambda-Runtime-Trace-Id"),
            client_context=headers.get("Lambda-Runtime-Client-Context"),
            cognito_identity=headers.get("Lambda-Runtime-Cognito-Identity"),
            tenant_id=headers.get("Lambda-Runtime-Aws-Tenant-Id"),
        )

    def open_stream(self, request_id: str, content_type: str = INTEGRATION_RESPONSE_TYPE) -> ResponseStream:
        connection = self._connection
        try:
            connection.putrequest("POST", _invocation_path(request_id, "response"), skip_accept_encoding=True)
            connection.putheader(RESPONSE_MODE_HEADER, "streaming")
            connection.putheader("Transfer-Encoding", "chunked")
            connection.putheader("Trailer", f"{ERROR_TYPE_HEADER}, {ERROR_BODY_TRAILER}")
            connection.putheader("Content-Type", content_type)
            connection.endheaders()
        except (OSError, http.client.HTTPException):
            connection.close()
            raise
        return ResponseStream(connection)

    def post_response(self, request_id: str, body: bytes) -> None:
        self._post(_invocation_path(request_id, "response"), body, {"Content-Type": "application/json"})

    def post_error(self, request_id: str, error: dict[str, Any], cause: dict[str, Any] | None = None) -> None:
        headers = _error_headers(error)
        encoded_cause = json_bytes(cause).decode("utf-8") if cause is not None else ""
        if encoded_cause and len(encoded_cause) < MAX_XRAY_ERROR_CAUSE_BYTES:
            headers[XRAY_ERROR_CAUSE_HEADER] = encoded_cause
        self._post(_invocation_path(request_id, "error"), json_bytes(error), headers)

    def post_init_error(self, error: dict[str, Any]) -> None:
        self._post(f"/{API_VERSION}/runtime/init/error", json_bytes(error), _error_headers(error))

    def reset(self) -> None:
        """Drop the connection (after a failed write); the next call opens a fresh one."""
        self._connection.close()

    def _post(self, path: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            self._connection.request("POST", path, body=body, headers=dict(headers))
        except (OSError, http.client.HTTPException) as exc:
            self._connection.close()
            raise RuntimeApiError(f"{path}: {type(exc).__name__}") from None
        _expect(self._connection, path, http.HTTPStatus.ACCEPTED)


def _invocation_path(request_id: str, action: str) -> str:
    return f"/{API_VERSION}/runtime/invocation/{quote(request_id, safe='')}/{action}"


def _expect(connection: http.client.HTTPConnection, what: str, status: int) -> None:
    try:
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise RuntimeApiError(f"{what}: {type(exc).__name__}") from None
    if response.status != status:
        raise RuntimeApiError(f"{what}: HTTP {response.status}")


# AWS's Python runtime client leaves the cause out when it would make a header of a megabyte or more.
MAX_XRAY_ERROR_CAUSE_BYTES = 1024 * 1024


# The content type Lambda's Node.js runtime sets for HttpResponseStream: the prelude + delimiter + body format.


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _error_headers(error: Mapping[str, Any]) -> dict[str, str]:
    return {"Content-Type": "application/json", ERROR_TYPE_HEADER: str(error["errorType"])}
