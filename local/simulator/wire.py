"""HTTP-level value types shared by every provider format: the incoming call, the reply and the record."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request as the simulator received it; `path` keeps its percent-encoding (SigV4 signs it so)."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    raw_body: bytes
    json: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def bearer_token(self) -> str | None:
        value = self.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass
class Reply:
    """What to answer. `stream`, when set, is sent with chunked transfer-encoding after the headers."""

    status: int
    content_type: str = "application/json"
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    provider: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    raw_body: bytes
    credential: str | None = None
    status: int | None = None  # None: the simulator closed the connection without answering

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "raw_body": self.raw_body.decode("utf-8", errors="replace"),
            "credential": self.credential,
            "status": self.status,
        }


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(), headers=dict(headers or {}))


def sse_event(data: Any, event: str | None = None, newline: str = "\n") -> bytes:
    """One server-sent event; Gemini separates events with CRLF, OpenAI and Anthropic with LF."""
    lines = [f"event: {event}"] if event else []
    lines.append(f"data: {data if isinstance(data, str) else json.dumps(data)}")
    return (newline.join(lines) + newline + newline).encode()


def new_id(prefix: str = "", length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]
