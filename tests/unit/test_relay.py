"""gateway.routing.relay from recorded bytes: where a stream commits, how a break before it is reported, and the
keep-alive marker while a committed upstream is silent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.providers.openai_compat import OpenAIStreamDecoder
from gateway.providers.transport import UpstreamRequest
from gateway.routing import relay

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
HELLO = b'data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n'
STOP = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


class FakeReader:
    """Hands over scripted items; ``None`` in the script is a read that times out."""

    def __init__(self, items: list[Any]) -> None:
        self.items: Iterator[Any] = iter(items)
        self.closed = False
        self.body_sent = True

    def next(self, timeout: float) -> Any:
        item = next(self.items, None)
        if item is None:
            time.sleep(min(max(timeout, 0), 0.01))
        return item

    def hand_over(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def opened(items: list[Any], **kw: Any) -> tuple[relay.LiveStream | relay.OpenFailure, FakeReader]:
    reader = FakeReader(items)
    result = relay.open_stream(
        OpenAIStreamDecoder("openai"),
        UpstreamRequest("POST", "http://upstream.invalid"),
        deadline=kw.pop("deadline", time.monotonic() + 5),
        first_byte_deadline=kw.pop("first_byte_deadline", None),
        keepalive_s=kw.pop("keepalive_s", 5),
        reader_factory=lambda *_: reader,  # type: ignore[arg-type,return-value]
    )
    return result, reader


@pytest.mark.parametrize(
    ("chunk", "commits"),
    [
        ({"choices": [{"delta": {"role": "assistant", "content": ""}}]}, False),
        ({"choices": [{"delta": {"content": "Hi"}}]}, True),
        ({"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]}, True),
        ({"choices": [{"delta": {"reasoning_content": "hmm"}}]}, True),
        ({"choices": [{"delta": {}, "finish_reason": "stop"}]}, True),
        ({"choices": []}, False),
    ],
)
def test_what_commits_a_stream(chunk: dict[str, Any], commits: bool) -> None:
    assert relay.is_substantive(chunk) is commits


def test_the_stream_commits_on_its_first_content_delta_with_what_came_before() -> None:
    live, reader = opened(
        [relay._Status(200, b""), relay._Data(ROLE), relay._Data(HELLO), relay._Data(STOP), relay._End()]
    )
    assert isinstance(live, relay.LiveStream)
    assert [c["choices"][0]["delta"] for c in live.head] == [{"role": "assistant", "content": ""}, {"content": "Hello"}]
    assert not reader.closed  # the committed stream owns the reader now
    deltas = list(live.deltas())
    assert len(deltas) == 3 and deltas[-1]["choices"][0]["finish_reason"] == "stop"  # STOP read after the commit
    assert reader.closed


def test_a_break_after_the_role_chunk_is_a_failed_attempt_not_a_commit() -> None:
    failure, reader = opened(
        [relay._Status(200, b""), relay._Data(ROLE), relay._Error(httpx.RemoteProtocolError("peer closed"))]
    )
    assert isinstance(failure, relay.OpenFailure)
    assert (failure.outcome, failure.status) == ("connection_error", 200)
    assert reader.closed


def test_an_error_status_carries_its_body_for_the_adapter() -> None:
    failure, _ = opened([relay._Status(429, b'{"error":{"message":"slow down"}}')])
    assert isinstance(failure, relay.OpenFailure)
    assert (failure.status, failure.error_body) == (429, b'{"error":{"message":"slow down"}}')


def test_no_first_delta_before_the_first_byte_deadline_is_a_timeout() -> None:
    failure, reader = opened([relay._Status(200, b""), relay._Data(ROLE)], first_byte_deadline=time.monotonic() + 0.05)
    assert isinstance(failure, relay.OpenFailure)
    assert failure.outcome == "timeout" and "first-byte" in failure.message
    assert reader.closed


def answered(items: list[Any], **kw: Any) -> tuple[relay.Answer | relay.OpenFailure, FakeReader]:
    reader = FakeReader(items)
    result = relay.read_answer(
        UpstreamRequest("POST", "http://upstream.invalid"),
        deadline=kw.pop("deadline", time.monotonic() + 5),
        first_byte_deadline=kw.pop("first_byte_deadline", None),
        reader_factory=lambda *_: reader,  # type: ignore[arg-type,return-value]
    )
    return result, reader


def test_a_non_streamed_answer_is_read_whole() -> None:
    answer, reader = answered([relay._Status(200, b""), relay._Data(b'{"a":'), relay._Data(b"1}"), relay._End()])
    assert answer == relay.Answer(200, b'{"a":1}', {})
    assert reader.closed


def test_a_non_streamed_answer_without_its_first_byte_is_cut_after_its_body_was_sent() -> None:
    failure, reader = answered([], first_byte_deadline=time.monotonic() + 0.05)
    assert isinstance(failure, relay.OpenFailure)
    assert (failure.outcome, failure.first_byte_cut, failure.body_sent) == ("timeout", True, True)
    assert reader.closed


def test_a_non_streamed_body_past_the_deadline_is_a_deadline_timeout_not_a_first_byte_cut() -> None:
    failure, _ = answered(
        [relay._Status(200, b""), relay._Data(b"{")],
        deadline=time.monotonic() + 0.1,
        first_byte_deadline=time.monotonic() + 0.05,
    )
    assert isinstance(failure, relay.OpenFailure)
    assert (failure.outcome, failure.status, failure.first_byte_cut) == ("timeout", None, False)


def test_a_silent_committed_upstream_yields_keep_alive_markers() -> None:
    live, _ = opened(
        [relay._Status(200, b""), relay._Data(HELLO), None, None, relay._Data(STOP), relay._End()], keepalive_s=0.01
    )
    assert isinstance(live, relay.LiveStream)
    items = list(live.deltas())
    assert items.count(relay.KEEPALIVE) == 2
    assert items[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_committed_stream_past_its_deadline_raises() -> None:
    live, _ = opened([relay._Status(200, b""), relay._Data(HELLO)], deadline=time.monotonic() + 0.05, keepalive_s=1)
    assert isinstance(live, relay.LiveStream)
    with pytest.raises(relay.StreamTimeout):
        list(live.deltas())


def test_deferred_work_runs_once_the_first_chunks_are_out_not_before() -> None:
    live, _ = opened([relay._Status(200, b""), relay._Data(ROLE + HELLO), relay._Data(STOP), relay._End()])
    assert isinstance(live, relay.LiveStream)
    ran: list[int] = []
    live.deferred = lambda: ran.append(len(ran))
    deltas = live.deltas()
    assert next(deltas)["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert next(deltas)["choices"][0]["delta"] == {"content": "Hello"}  # the first content delta is out
    assert ran == []
    assert next(deltas)["choices"][0]["finish_reason"] == "stop"
    assert ran == [0]
    list(deltas)
    live.close()
    assert ran == [0]  # once


def test_deferred_work_still_runs_when_the_stream_closes_unread() -> None:
    live, reader = opened([relay._Status(200, b""), relay._Data(HELLO)])
    assert isinstance(live, relay.LiveStream)
    ran: list[str] = []
    live.deferred = lambda: ran.append("observed")
    live.close()
    assert ran == ["observed"] and reader.closed


def test_deferred_work_that_fails_does_not_break_the_committed_stream() -> None:
    live, _ = opened([relay._Status(200, b""), relay._Data(HELLO), relay._Data(STOP), relay._End()])
    assert isinstance(live, relay.LiveStream)

    def broken() -> None:
        raise RuntimeError("signals unavailable")

    live.deferred = broken
    deltas = list(live.deltas())
    assert deltas[-1]["choices"][0]["finish_reason"] == "stop"
