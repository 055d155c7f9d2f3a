"""A streamed HTTP answer: what a handler returns when its body is produced while it is being sent.

A function's ``lambda_handler`` returns either the usual API Gateway proxy result (a dict) or a
``StreamedResponse``. Whatever serves the function (the Lambda streaming runtime loop in AWS, the dev server
under ``make dev``) sends the status and headers first, then writes and flushes each item of ``body`` as soon as
it is yielded, and calls ``close()`` when the client has gone or the body is done, so the producer's cleanup
(billing, the request record) runs exactly once either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


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
