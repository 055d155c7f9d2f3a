"""A streamed HTTP answer: what a handler returns when its body is produced while it is being sent.

A function's ``lambda_handler`` returns either the usual API Gateway proxy result (a dict) or a
``StreamedResponse``. Whatever serves the function (the Lambda streaming runtime loop in AWS, the dev server
under ``make dev``) sends the status and headers first, then writes and flushes each item of ``body`` as soon as
it is yielded, and calls ``close()`` when the client has gone or the body is done, so the producer's cleanup
(billing, the request record) runs exactly once either way. A write may not outlive the request's
``deadline``: a client that stops reading gets its answer cut there, and it is settled and recorded then.

A caller that cannot stream (Python's classic managed runtime, ``sam local``) gets the same answer in one piece
from ``proxy_result``; a handler wrapped with ``lambda_entry`` does that by itself when it finds itself in a
Lambda runtime that is not the gateway's streaming loop.
"""

from __future__ import annotations

import base64
import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, Any], Any]


@dataclass
class StreamedResponse:
    status_code: int
    headers: dict[str, str]
    body: Iterator[bytes]
    closed: bool = field(default=False, init=False)

    @property
    def deadline(self) -> float | None:
        """The request's deadline (``time.monotonic()``), when the body has one: a writer never waits on a
        client past it (a write that blocks is abandoned and the answer closed, see ``write_deadline``)."""
        deadline = getattr(self.body, "deadline", None)
        return deadline if isinstance(deadline, float) else None

    def close(self) -> None:
        """Stop the producer (a generator's ``finally`` runs); safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        close = getattr(self.body, "close", None)
        if callable(close):
            close()


def proxy_result(response: StreamedResponse) -> dict[str, Any]:
    """The whole answer as an API Gateway proxy result (the body joined), for a caller that cannot stream."""
    try:
        body = b"".join(response.body)
    finally:
        response.close()
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "statusCode": response.status_code,
        "headers": dict(response.headers),
        "body": text,
        "isBase64Encoded": encoded,
    }


_runtime_streams = False


def declare_streaming_runtime() -> None:
    """Called by the runtime loop (``gateway.http.lambda_runtime``) that serves this process: it streams answers."""
    global _runtime_streams  # noqa: PLW0603 - one fact about the whole process
    _runtime_streams = True


def runtime_streams() -> bool:
    """Whether whatever calls the handler can take a StreamedResponse.

    Inside a Lambda execution environment (``AWS_LAMBDA_RUNTIME_API`` is set) only the gateway's runtime loop
    can; Python's managed runtime cannot. Outside Lambda the caller is the dev server, a test or the bench,
    which all stream.
    """
    return _runtime_streams or "AWS_LAMBDA_RUNTIME_API" not in os.environ


def lambda_entry(handler: Handler) -> Handler:
    """``handler``, answering a proxy dict (the body joined) when the runtime cannot take a StreamedResponse."""

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        result = handler(event, context)
        if isinstance(result, StreamedResponse) and not runtime_streams():
            return proxy_result(result)
        return result

    return entry


WRITE_GRACE_S = 0.05  # the least time a write is given, so a stream past its deadline still fails fast


def write_timeout(deadline: float | None) -> float | None:
    """The socket timeout of the next write of a body with ``deadline``: what is left of it (None: no limit)."""
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), WRITE_GRACE_S)
