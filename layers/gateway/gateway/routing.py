"""Running attempts: one upstream call through a provider adapter, classified for the fallback loop.

Chat completions and Test Connection both go through ``run_attempt``: the same adapter, transport, error
mapping and redaction, so a connection test proves exactly the path chat will use.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

import httpx

from gateway import credits, params, relay, scrub, transport
from gateway.catalog import Offer, get_catalog
from gateway.errors import BadRequest, GatewayError
from gateway.health import retry_after_seconds
from gateway.logs import AttemptRecord, redact
from gateway.providers import AttemptFailed, Target, UnreadableResponse, adapter_for, common
from gateway.schemas import ChatRequest
from gateway.settings import get_settings

# Upstream answers that end the request: the request itself is wrong, another provider would say the same.
TERMINAL_STATUSES = frozenset({400, 413, 422})
MIN_ATTEMPT_SECONDS = 0.05

Outcome = Literal["success", "error", "timeout", "connection_error", "stream_interrupted"]


class Codec(Protocol):
    """One API's side of the routing core: how a target is asked and how its answer reads (the adapter), which
    offers can honour the request, what an attempt may cost at most (its credit hold), how many tokens an
    answer used, and which decoded stream event commits a stream."""

    api: Literal["chat", "messages", "responses"]

    def adapter(self, target: Target) -> Any: ...

    def honouring(self, request: Any, offers: list[Offer]) -> list[Offer]: ...

    def max_cost(self, offer: Offer, request: Any) -> Decimal: ...

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        """Flat usage (``prompt_tokens``, ``completion_tokens``, ``cached_tokens``...) of a non-streamed answer."""
        ...

    def commits(self, event: dict[str, Any]) -> bool: ...


class ChatCodec:
    """Chat completions: the provider adapters speak OpenAI shapes natively."""

    api: Literal["chat", "messages", "responses"] = "chat"

    def adapter(self, target: Target) -> Any:
        return adapter_for(target)

    def honouring(self, request: Any, offers: list[Offer]) -> list[Offer]:
        return params.honouring(request, offers)

    def max_cost(self, offer: Offer, request: Any) -> Decimal:
        return credits.max_cost(offer, request)

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        usage = answer.get("usage")
        return usage if isinstance(usage, dict) else None

    def commits(self, event: dict[str, Any]) -> bool:
        return relay.is_substantive(event)


CHAT = ChatCodec()


@dataclass
class AttemptResult:
    record: AttemptRecord
    completion: dict[str, Any] | None = None  # non-streaming success
    live: relay.LiveStream | None = None  # streaming success: committed, the rest still to be relayed
    usage: dict[str, int] | None = None
    terminal: GatewayError | None = None  # ends the request (upstream 400/413/422, unsupported parameter)
    retry_after_s: float | None = None  # the upstream's retry-after on a failed answer

    @property
    def ok(self) -> bool:
        return self.record.outcome == "success"


def _record(
    number: int,
    target: Target,
    credential: Literal["byok", "shared"],
    key_id: str | None,
    started: float,
    outcome: Outcome,
    status: int | None = None,
    error: str | None = None,
) -> AttemptRecord:
    return AttemptRecord(
        attempt=number,
        provider=target.provider,
        credential=credential,
        key_id=key_id if credential == "byok" else None,
        status_code=status,
        outcome=outcome,
        error=redact(error) if error else None,
        latency_ms=int((time.monotonic() - started) * 1000),
    )


def _upstream_failure(adapter: Any, status: int, body: bytes) -> tuple[int, str]:
    """How the loop treats an upstream error answer (see ``Adapter.classify``) and its message (scrubbed by
    the attempt's ``result``)."""
    try:
        detail = adapter.error_message(status, body)
    except Exception:  # a provider's error body we cannot read still fails the attempt, with its status
        detail = ""
    try:
        treated_as = adapter.classify(status, body)
    except Exception:  # an unreadable body is classified by its status alone
        treated_as = status
    return treated_as, f"HTTP {status}" + (f": {detail}" if detail else "")


def _failed(
    adapter: Any, status: int, body: bytes, result: Any, headers: Mapping[str, str] | None = None
) -> AttemptResult:
    """An upstream error answer: recorded with the upstream's own status; terminal only if it is 400/413/422
    (``result`` builds the terminal error from the scrubbed message)."""
    treated_as, message = _upstream_failure(adapter, status, body)
    if treated_as in TERMINAL_STATUSES:
        return result("error", status, message, terminal_status=status)
    return result("error", status, message, retry_after_s=retry_after_seconds(headers or {}))


def run_attempt(
    number: int,
    request: Any,
    target: Target,
    *,
    credential: Literal["byok", "shared"],
    key_id: str | None,
    deadline: float,
    codec: Codec = CHAT,
) -> AttemptResult:
    """One upstream call. Never raises for upstream trouble: the result says what happened."""
    started = time.monotonic()
    cap_ms = get_settings().attempt_timeout_ms
    if cap_ms:
        deadline = min(deadline, started + cap_ms / 1000)

    # The attempt's exact secrets; the auth headers it sent (the OAuth token in use) join once they exist.
    secrets = scrub.secrets_of(target.credentials)

    def result(
        outcome: Outcome,
        status: int | None = None,
        error: str | None = None,
        terminal_status: int | None = None,
        **kw: Any,
    ) -> AttemptResult:
        """Every text derived from the upstream's answer passes here: scrubbed before it is kept anywhere."""
        if error is not None:
            error = common.redact(scrub.scrub(error, secrets))
        if terminal_status is not None:
            kw["terminal"] = _terminal(target, terminal_status, error or "")
        return AttemptResult(record=_record(number, target, credential, key_id, started, outcome, status, error), **kw)

    remaining = deadline - started
    if remaining < MIN_ATTEMPT_SECONDS:
        return result("timeout", error="request deadline reached before this attempt")
    try:
        adapter = codec.adapter(target)
        upstream = adapter.build_request(request, target, stream=request.stream, timeout=remaining)
        secrets = scrub.secrets_of(target.credentials, upstream.headers)
        remaining = deadline - time.monotonic()
        if request.stream:
            return _stream(adapter, request, target, upstream, started, deadline, result, codec)
        response = transport.send(upstream, remaining)
    except BadRequest as exc:
        return result("error", error=exc.message, terminal=exc)
    except AttemptFailed as exc:
        return result(exc.outcome, exc.status_code, exc.message)
    except httpx.TimeoutException:
        return result("timeout", error="upstream timed out")
    except httpx.TransportError as exc:
        return result("connection_error", error=f"connection failed ({type(exc).__name__})")
    status = response.status_code
    if not 200 <= status < 300:
        return _failed(adapter, status, response.content, result, response.headers)
    try:
        completion = adapter.parse_response(request, target, response.content)
    except UnreadableResponse:
        return result("error", status, "unreadable upstream response")
    return result("success", status, completion=completion, usage=codec.usage(completion))


def _terminal(target: Target, status: int, message: str) -> GatewayError:
    return GatewayError(
        f"{target.provider} rejected the request: {redact(message)}",
        status=status,
        error_type="invalid_request_error",
        code="upstream_rejected_request",
    )


def first_byte_timeout_ms(request: Any) -> int:
    """The request's ``provider.first_byte_timeout_ms``, else the operator's default; 0 means none."""
    asked = request.provider.first_byte_timeout_ms if request.provider else None
    return get_settings().attempt_first_byte_timeout_ms if asked is None else asked


def _stream(
    adapter: Any,
    request: Any,
    target: Target,
    upstream: transport.UpstreamRequest,
    started: float,
    deadline: float,
    result: Any,
    codec: Codec,
) -> AttemptResult:
    """Open the upstream stream up to its commit point (``relay.open_stream``); a failure before it is an
    ordinary failed attempt, so the loop falls back exactly as for a non-streamed request."""
    first_byte_ms = first_byte_timeout_ms(request)
    opened = relay.open_stream(
        adapter.stream_decoder(request, target),
        upstream,
        deadline=deadline,
        first_byte_deadline=started + first_byte_ms / 1000 if first_byte_ms else None,
        keepalive_s=get_settings().stream_keepalive_ms / 1000,
        commits=codec.commits,
    )
    if isinstance(opened, relay.LiveStream):
        return result("success", opened.status, live=opened)
    if opened.error_body is not None and opened.status is not None:
        return _failed(adapter, opened.status, opened.error_body, result, opened.error_headers)
    return result(opened.outcome, opened.status, opened.message)


def run_connection_test(
    provider: str,
    credentials: Any,
    region: str | None,
    provisioned_throughput: bool,
    timeout_s: float,
    *,
    owner: str,
) -> dict[str, Any]:
    """A one-token request to the provider's cheap test model through the chat path; ``owner`` as on Target."""
    offer: Offer = get_catalog().providers[provider].test_model
    request = ChatRequest.model_validate(
        {"model": offer.model_id, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    )
    target = Target(
        provider=provider,
        offer=offer,
        credentials=credentials,
        region=region,
        provisioned_throughput=provisioned_throughput,
        owner=owner,
    )
    attempt = run_attempt(1, request, target, credential="byok", key_id=None, deadline=time.monotonic() + timeout_s)
    outcome: dict[str, Any] = {
        "ok": attempt.ok,
        "provider": provider,
        "model": offer.model_id,
        "latency_ms": attempt.record.latency_ms,
    }
    if not attempt.ok:
        outcome["error"] = {
            "status_code": attempt.record.status_code,
            "message": attempt.record.error or attempt.record.outcome,
        }
    return outcome
