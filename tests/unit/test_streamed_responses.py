"""A handler's StreamedResponse through the dev server: passed through unread, sent chunked item by item,
closed after the last chunk and when the client goes away."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from gateway.http.streaming import StreamedResponse
from local.apigw import HttpRequest, Router, to_http_response
from local.apiserver import ApiServer
from local.handlers import LambdaContext
from local.template import Route

CHAT = Route("POST", "/v1/chat/completions", "ChatFunction", "functions/chat", None)


class Producer:
    """A streamed body that yields one item, then each further item only once the test allows it."""

    def __init__(self, items: int) -> None:
        self.items = items
        self.allowed = threading.Semaphore(0)
        self.closed = threading.Event()
        self.produced = 0

    def body(self) -> Iterator[bytes]:
        try:
            for index in range(self.items):
                if index and not self.allowed.acquire(timeout=10):
                    return
                self.produced += 1
                yield f"data: {index}\n\n".encode()
        finally:
            self.closed.set()


def serve(producer: Producer) -> ApiServer:
    def invoke(route: Route, event: dict[str, Any], context: LambdaContext) -> StreamedResponse:
        headers = {"content-type": "text/event-stream", "x-request-id": "req_1", "Content-Length": "3"}
        return StreamedResponse(200, headers, producer.body())

    return ApiServer(port=0, router=Router([CHAT], invoke), access_log=None).start()


def test_a_streamed_result_passes_through_the_router_unread() -> None:
    producer = Producer(3)
    response = Router([CHAT], lambda *_: StreamedResponse(201, {"a": "b"}, producer.body())).handle(
        HttpRequest("POST", "/v1/chat/completions")
    )
    assert response.stream is not None and response.status == 201
    assert producer.produced == 0  # nothing was read: the server sends it
    assert ("a", "b") in response.headers
    assert response.drain().body == b"data: 0\n\n" and producer.closed.is_set()  # the rest was never allowed


def test_hop_by_hop_headers_of_a_streamed_result_are_the_servers() -> None:
    response = to_http_response(StreamedResponse(200, {"Content-Length": "9", "x-a": "1"}, iter([b"x"])))
    assert [name.lower() for name, _ in response.headers] == ["x-a", "content-type"]


def test_each_item_goes_out_as_a_chunk_before_the_next_is_produced() -> None:
    producer = Producer(3)
    server = serve(producer)
    try:
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=5) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            lines = response.iter_lines()
            received = []
            for line in lines:
                if line:
                    received.append(line)
                    producer.allowed.release()  # the next item exists only after this one was read
        assert received == ["data: 0", "data: 1", "data: 2"]
        assert producer.closed.wait(5)
    finally:
        server.stop()


def test_a_client_that_goes_away_closes_the_stream() -> None:
    producer = Producer(1000)
    server = serve(producer)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
            client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert b"data: 0" in client.recv(4096) or b"data: 0" in client.recv(4096)
        for _ in range(20):  # the server notices on its next writes
            producer.allowed.release()
        assert producer.closed.wait(5)
        assert producer.produced < 1000
    finally:
        server.stop()
