"""The incremental SSE parser: events come out whole whatever the byte boundaries."""

from __future__ import annotations

import pytest

from gateway.providers import UnreadableResponse
from gateway.providers.wire.sse import SseEvent, SseParser

STREAM = (
    ": keep-alive comment\r\n"
    "event: message_start\r\n"
    'data: {"a": "é"}\r\n'
    "\r\n"
    "data: line one\n"
    "data: line two\n"
    "\n"
    "event: ping\r"
    "data: {}\r"
    "\r"
    "data: tail-without-blank-line"
).encode()
EXPECTED = [
    SseEvent("message_start", '{"a": "é"}'),
    SseEvent("", "line one\nline two"),
    SseEvent("ping", "{}"),
    SseEvent("", "tail-without-blank-line"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_survive_any_split(size: int) -> None:
    parser = SseParser()
    events: list[SseEvent] = []
    for start in range(0, len(STREAM), size):
        events.extend(parser.feed(STREAM[start : start + size]))
    events.extend(parser.close())
    assert events == EXPECTED


def test_invalid_utf8_is_unreadable() -> None:
    with pytest.raises(UnreadableResponse):
        SseParser().feed(b"data: \xff\xfe\n\n")
