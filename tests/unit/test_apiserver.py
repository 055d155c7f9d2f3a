"""The dev server's answers to requests the stdlib HTTP parser refuses: the gateway's JSON error shape."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from local.apigw import Router
from local.apiserver import ApiServer


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    api = ApiServer(host="127.0.0.1", port=0, router=Router.from_template(stage="test"), access_log=None).start()
    yield api
    api.stop()


def raw_exchange(server: ApiServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_a_100_kb_authorization_header_gets_a_json_431_with_a_request_id(server: ApiServer) -> None:
    secret = "gwk_0123456789abcdef_" + "s" * 100_000
    request = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n\r\n".encode()

    status, headers, body = raw_exchange(server, request)

    assert status == 431
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_header_fields_too_large")
    assert "s" * 20 not in body.decode()


def test_a_malformed_request_line_gets_a_json_400(server: ApiServer) -> None:
    status, headers, body = raw_exchange(server, b"GET /v1/models HTTP/1.x\r\n\r\n")

    assert status == 400
    assert headers["x-request-id"] and json.loads(body)["error"]["code"] == "bad_request"
