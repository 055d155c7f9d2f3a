"""AWS event-stream framing (``application/vnd.amazon.eventstream``): bytes in, event frames out.

Bedrock streams both ConverseStream and InvokeModelWithResponseStream this way. Frames may arrive split anywhere;
botocore's ``EventStreamBuffer`` checks their prelude and CRCs. An exception frame fails the attempt with the
status Bedrock gives that exception over plain HTTP, so the fallback loop treats it as it would a status line.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import AttemptFailed, UnreadableResponse

# Bedrock's exception names and the HTTP status each has outside a stream.
EXCEPTION_STATUS = {
    "throttlingException": 429,
    "serviceUnavailableException": 503,
    "internalServerException": 500,
    "modelStreamErrorException": 502,
    "validationException": 400,
    "accessDeniedException": 403,
    "resourceNotFoundException": 404,
}


class EventStreamFrames:
    """Event frames as ``(headers, payload)``; an exception frame raises ``AttemptFailed``."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._buffer: Any = None
        self._pending = 0  # bytes fed that no complete frame has consumed yet

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        from botocore.eventstream import EventStreamBuffer, ParserError

        if self._buffer is None:
            self._buffer = EventStreamBuffer()
        self._buffer.add_data(data)
        self._pending += len(data)
        frames: list[tuple[dict[str, Any], bytes]] = []
        try:
            for message in self._buffer:
                self._pending -= message.prelude.total_length
                frames.append((message.headers, message.payload))
        except ParserError:
            raise UnreadableResponse(f"{self.provider} stream frame is corrupt") from None
        for headers, _ in frames:
            self._raise_for_exception(headers)
        return frames

    def close(self) -> None:
        if self._pending:
            raise UnreadableResponse(f"{self.provider} stream ended inside a frame")

    def _raise_for_exception(self, headers: dict[str, Any]) -> None:
        if headers.get(":message-type", "event") == "event":
            return
        name = headers.get(":exception-type") or headers.get(":error-code") or "error"
        name = name if isinstance(name, str) and name.isidentifier() else "error"
        raise AttemptFailed(f"{self.provider} stream {name}", status_code=EXCEPTION_STATUS.get(name, 502))
