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


def raw_exchange(server: ApiServer, request: bytes, *, half_close: bool = False) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        if half_close:  # the client has nothing more to send
            conn.shutdown(socket.SHUT_WR)
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


# --- request framing (RFC 9112 section 6): one reading, or a refusal -----------------------------------------


def chunked_request(
    size_line: str, data: bytes = b"{}", *, transfer_encoding: str = "chunked", extra: str = ""
) -> bytes:
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"Transfer-Encoding: {transfer_encoding}\r\n{extra}\r\n"
    )
    return head.encode() + size_line.encode("utf-8") + b"\r\n" + data + b"\r\n0\r\n\r\n"


def length_request(content_length: str, data: bytes = b"{}") -> bytes:
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"{content_length}\r\n"
    )
    return head.encode() + data


@pytest.mark.parametrize(
    "size_line",
    ["0x2", "4_9", "+2", "-1", "", " 2", "2 2", "\uff12", "0" * 17 + "2", "2;" + "e" * 5000, "g", "2\x00"],
    ids=[
        "0x",
        "underscore",
        "plus",
        "negative",
        "empty",
        "leading-space",
        "two-numbers",
        "fullwidth",
        "over-long",
        "over-long-extension",
        "not-hex",
        "nul",
    ],
)
def test_a_malformed_chunk_size_is_a_400(server: ApiServer, size_line: str) -> None:
    status, headers, body = raw_exchange(server, chunked_request(size_line))

    assert status == 400, body
    assert headers["x-request-id"] and json.loads(body)["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (chunked_request("2", transfer_encoding="xchunked"), 400),
        (chunked_request("2", transfer_encoding="chunked, gzip"), 400),
        (chunked_request("2", transfer_encoding="chunked, chunked"), 400),
        (chunked_request("2", transfer_encoding="identity"), 400),
        (chunked_request("2", extra="Transfer-Encoding: xchunked\r\n"), 400),
        (chunked_request("2", extra="Content-Length: 2\r\n"), 400),
        (chunked_request("2", transfer_encoding="gzip, chunked"), 501),
        (chunked_request("2", data=b"{}xx"), 400),  # the chunk is longer than its size says
        (length_request("Content-Length: +2\r\n"), 400),
        (length_request("Content-Length: 0x2\r\n"), 400),
        (length_request("Content-Length: 2_0\r\n"), 400),
        (length_request("Content-Length: -2\r\n"), 400),
        (length_request("Content-Length: 2\r\nContent-Length: 3\r\n"), 400),
    ],
    ids=[
        "xchunked",
        "chunked-not-last",
        "chunked-twice",
        "identity",
        "two-headers",
        "both-lengths",
        "gzip",
        "chunk-overrun",
        "length-plus",
        "length-hex",
        "length-underscore",
        "length-negative",
        "two-lengths",
    ],
)
def test_ambiguous_framing_is_refused(server: ApiServer, request_bytes: bytes, status: int) -> None:
    answer, headers, body = raw_exchange(server, request_bytes)

    assert answer == status, body
    assert headers["x-request-id"]


def test_a_body_shorter_than_its_content_length_is_a_400(server: ApiServer) -> None:
    status, _, body = raw_exchange(server, length_request("Content-Length: 10\r\n"), half_close=True)

    assert status == 400, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        chunked_request("2"),
        chunked_request("2;name=value"),
        chunked_request("0002"),
        chunked_request("A", data=b'{"a": 1} '),
        chunked_request("2", transfer_encoding="Chunked"),
        length_request("Content-Length: 2\r\n"),
        length_request("Content-Length: 2\r\nContent-Length: 2\r\n"),
    ],
    ids=["plain", "extension", "leading-zeros", "upper-hex", "coding-case", "length", "same-length-twice"],
)
def test_well_framed_bodies_reach_the_gateway(server: ApiServer, request_bytes: bytes) -> None:
    status, _, body = raw_exchange(server, request_bytes)

    assert status == 401, body  # parsed, then refused for the missing key


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    api = ApiServer(
        host="127.0.0.1", port=0, router=Router.from_template(stage="test"), access_log=None, idle_timeout_s=0.2
    ).start()
    try:
        with socket.create_connection(("127.0.0.1", api.port), timeout=30) as conn:
            # Given one answered request on a keep-alive connection
            conn.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = conn.makefile("rb")
            assert reader.readline().split()[1] == b"401"
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                length = int(value) if name.lower() == "content-length" else length
            reader.read(length)

            # When the client sends nothing more, then the server closes the connection (recv sees its end;
            # a server that kept it open would leave recv waiting until the 30 s socket timeout fails the test)
            assert reader.read(1) == b""
    finally:
        api.stop()
