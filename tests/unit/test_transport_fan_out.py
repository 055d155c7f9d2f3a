"""``transport.send_all``: a batch's calls go out together, come back in request order, and the first failed
answer stops the rest, once the calls already sent have ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.providers import transport


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A fake upstream that answers each call with its own path, 503 for /fail, after all of /slow-* arrive."""
    seen: list[str] = []
    arrived = threading.Barrier(3, timeout=5)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.startswith("/slow"):
            arrived.wait()  # three calls in flight at once, or this times out
        if request.url.path == "/fail":
            return httpx.Response(503, text="busy")
        return httpx.Response(200, text=request.url.path)

    client = transport.new_client(httpx.MockTransport(handle))
    monkeypatch.setattr(transport, "client", lambda: client)
    yield seen
    client.close()


def calls(*paths: str) -> list[transport.UpstreamRequest]:
    return [transport.UpstreamRequest("POST", f"https://upstream.test{p}") for p in paths]


def test_answers_come_back_in_request_order_from_parallel_calls(upstream: list[str]) -> None:
    with transport.attempt():  # as run_attempt sends them: every parallel call inside the attempt
        answers = transport.send_all(calls("/slow-3", "/slow-1", "/slow-2"), time.monotonic() + 5)

    assert [a.text for a in answers] == ["/slow-3", "/slow-1", "/slow-2"]


def test_a_failed_answer_is_returned_alone(upstream: list[str]) -> None:
    with transport.attempt():
        answers = transport.send_all(calls("/ok", "/fail"), time.monotonic() + 5)

    assert [(a.status_code, a.text) for a in answers] == [(503, "busy")]


def test_no_call_outlives_the_attempt_that_sent_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch whose first answer fails while the second call is still on the wire
    failed = threading.Event()
    ended: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fail":
            failed.set()
            return httpx.Response(401, text="bad key")
        assert failed.wait(timeout=5)  # answers only after the failure has reached send_all
        time.sleep(0.2)
        ended.append(request.url.path)
        return httpx.Response(200, text="late")

    client = transport.new_client(httpx.MockTransport(handle))
    monkeypatch.setattr(transport, "client", lambda: client)

    # When send_all returns the failure
    with transport.attempt():
        answers = transport.send_all(calls("/fail", "/late"), time.monotonic() + 5)

    # Then the late call had already ended: nothing of the attempt runs on (or reaches the upstream) after it
    assert [a.status_code for a in answers] == [401]
    assert ended == ["/late"]
    client.close()
