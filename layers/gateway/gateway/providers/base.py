"""The contract between the routing loop and the provider adapters.

An adapter is a pure transform: ``build_request`` turns the OpenAI request into one upstream HTTP request,
``parse_response`` / ``stream_decoder`` turn the provider's answer back into OpenAI shapes. Adapters
never send anything themselves (except the Vertex OAuth token fetch, needed before the request exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway.apis.chat.schema import ChatRequest
from gateway.core.catalog import Offer
from gateway.providers.transport import UpstreamRequest
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials, ServiceAccountCredentials

Outcome = Literal["error", "timeout", "connection_error"]
AnyCredentials = ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: a provider, the catalog offer it serves, and the credentials to use.

    ``owner`` names who stored the credentials (``<account>/<key id>``, or ``<account>/new`` for a key being
    tested before it is stored): per-process state derived from them (OAuth tokens) is kept per owner.
    ``cache_scope`` is set on shared credentials only: the account the attempt serves, whose own prompt-cache
    partition the upstream request names where the provider offers one (``openai_compat.shared_cache_key``).
    """

    provider: str
    offer: Offer
    credentials: AnyCredentials
    region: str | None
    provisioned_throughput: bool = False
    owner: str = ""
    cache_scope: str | None = None


class AttemptFailed(Exception):
    """This attempt cannot succeed; the routing loop records it and moves on. ``message`` is redacted."""

    def __init__(self, message: str, *, status_code: int | None = None, outcome: Outcome = "error") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.outcome: Outcome = outcome


class UnreadableResponse(Exception):
    """The upstream answered 2xx with something that is not the provider's shape. Never carries body text."""


class StreamDecoder(Protocol):
    @property
    def usage(self) -> dict[str, int] | None: ...

    def feed(self, data: bytes) -> list[dict[str, Any]]: ...

    def close(self) -> list[dict[str, Any]]: ...


class DecoderOver:
    """A stream decoder over another (``inner``): each item the inner one decodes becomes zero or more chunks
    (``_chunks``); the usage is the inner one's."""

    inner: StreamDecoder

    @property
    def usage(self) -> dict[str, int] | None:
        return self.inner.usage

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [chunk for item in self.inner.feed(data) for chunk in self._chunks(item)]

    def close(self) -> list[dict[str, Any]]:
        return [chunk for item in self.inner.close() for chunk in self._chunks(item)]

    def _chunks(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError


class Adapter(Protocol):
    def build_request(
        self, request: ChatRequest, target: Target, *, stream: bool, timeout: float
    ) -> UpstreamRequest: ...

    def parse_response(self, request: ChatRequest, target: Target, body: bytes) -> dict[str, Any]: ...

    def stream_decoder(self, request: ChatRequest, target: Target) -> StreamDecoder: ...

    def error_message(self, status: int, body: bytes) -> str: ...

    def classify(self, status: int, body: bytes) -> int:
        """The status the fallback loop should treat an upstream error answer as. Usually ``status``; a
        provider that reports a dead key or an empty account as 400 maps it to 401/402/403 so it moves on."""
        ...
