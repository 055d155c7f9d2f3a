"""A streamed HTTP answer: what a handler returns when its body is produced while it is being sent.

A function's ``lambda_handler`` returns either the usual API Gateway proxy result (a dict) or a
``StreamedResponse``. Whatever serves the function (the Lambda streaming runtime loop in AWS, the dev server
under ``make dev``) sends the status and headers first, then writes and flushes each item of ``body`` as soon as
it is yielded, and calls ``close()`` when the client has gone or the body is done, so the producer's cleanup
(billing, the request record) runs exactly once either way.

A caller that cannot stream (Python's classic managed runtime, ``sam local``) gets the same answer in one piece
from ``proxy_result``; ``lambda_entry`` wraps a handler so it does that by itself.
"""

from __future__ import annotations

import base64
import functools
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


def lambda_entry(handler: Handler) -> Handler:
    """``handler`` as Python's classic runtime can call it: a ``StreamedResponse`` comes back as a proxy dict.

    The streaming runtime loop (``gateway.lambda_runtime``) calls ``entry.streaming_handler``, the handler itself,
    and streams what it returns.
    """

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        result = handler(event, context)
        return proxy_result(result) if isinstance(result, StreamedResponse) else result

    entry.streaming_handler = handler  # type: ignore[attr-defined]
    return entry
