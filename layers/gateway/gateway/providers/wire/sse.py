"""Incremental Server-Sent Events parsing: bytes in, complete events out, whatever the chunk boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.core.json_object import load_object
from gateway.providers.base import UnreadableResponse

MAX_PENDING = 8 * 1024 * 1024  # one event larger than this is not a chat stream


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str


class SseParser:
    """Buffers bytes until a full line is present (so UTF-8 is never cut) and dispatches on blank lines."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._pending = 0

    def feed(self, data: bytes) -> list[SseEvent]:
        self._buffer += data
        events: list[SseEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                break
            end, width = cut
            raw = self._buffer[:end]
            self._buffer = self._buffer[end + width :]
            event = self._line(raw)
            if event is not None:
                events.append(event)
        if len(self._buffer) + self._pending > MAX_PENDING:
            raise UnreadableResponse("upstream stream event exceeds the size limit")
        return events

    def close(self) -> list[SseEvent]:
        """Dispatch a final event that lacked its trailing blank line."""
        events = self.feed(b"\n") if self._buffer else []
        if self._data:
            events.append(self._dispatch())
        return events

    def _line(self, raw: bytes) -> SseEvent | None:
        if not raw:
            return self._dispatch() if self._data else None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableResponse("upstream stream is not UTF-8") from None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._pending += len(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SseEvent:
        event = SseEvent(self._event, "\n".join(self._data))
        self._event, self._data, self._pending = "", [], 0
        return event


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Index and width of the first line terminator (``\\r\\n``, ``\\n`` or ``\\r``)."""
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r")
    if cr == -1 and lf == -1:
        return None
    if cr == -1 or (lf != -1 and lf < cr):
        return lf, 1
    if cr + 1 == len(buffer):
        return None  # a lone trailing \r may be the first half of \r\n
    return (cr, 2) if buffer[cr + 1 : cr + 2] == b"\n" else (cr, 1)


def json_object(data: str, provider: str) -> dict[str, Any] | None:
    """One SSE event's data as a JSON object; None for an empty event. A 2xx stream whose event is not a JSON
    object is not the provider's shape (``UnreadableResponse``)."""
    if not data.strip():
        return None
    not_json, not_object = f"{provider} stream event is not JSON", f"{provider} stream event is not an object"
    return load_object(data, UnreadableResponse, not_json, not_object)
