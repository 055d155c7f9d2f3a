"""Running attempts: one upstream call through a provider adapter, classified for the fallback loop.

``run_attempt`` is the only way to call an upstream (the transport refuses to send outside it): chat
completions, Messages, token counting and Test Connection all go through it, so one timeout policy, one error
mapping and one redactor (``redact.redact``, with the attempt's exact secrets) see every byte an upstream sends,
and a connection test proves exactly the path chat will use.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from gateway.apis.chat.schema import ChatRequest
from gateway.core.catalog import Endpoint, Offer, get_catalog
from gateway.core.errors import BadRequest, GatewayError
from gateway.core.settings import get_settings
from gateway.data.request_log import AttemptRecord
from gateway.providers import AttemptFailed, Target, UnreadableResponse, transport
from gateway.routing import relay
from gateway.routing.signals import retry_after_seconds
from gateway.security import redact

# Upstream answers that end the request: the request itself is wrong, another provider would say the same.
TERMINAL_STATUSES = frozenset({400, 413, 422})
MIN_ATTEMPT_SECONDS = 0.05

Outcome = Literal["success", "error", "timeout", "connection_error", "stream_interrupted"]


class Codec(Protocol):
    """One API's side of the routing core: how a target is asked and how its answer reads (the adapter), which
    offers can honour the request, what an attempt may cost at most (its credit hold) and what shared capacity
    must refuse because no hold can price it, how many tokens an
    answer used, and which decoded stream event commits a stream."""

    api: Endpoint  # which front door; the catalog says which models each one serves
    measured: bool  # whether a success feeds the latency and throughput signals (it generated tokens)

    def adapter(self, target: Target) -> Any: ...

    def honouring(self, request: Any, offers: list[Offer]) -> list[Offer]: ...

    def max_cost(self, offer: Offer, request: Any) -> Decimal: ...

    def shared_refusal(self, request: Any) -> BadRequest | None:
        """Why shared capacity must not serve ``request`` (it forwards what no hold can price), or None."""
        ...

    def cost(self, offer: Offer, request: Any, usage: dict[str, int] | None) -> Decimal:
        """What ``usage`` of an attempt of ``request`` costs on ``offer`` (a request may select a pricing tier)."""
        ...

    def prompt_cost(self, offer: Offer, request: Any) -> Decimal:
        """What the prompt alone costs on ``offer``, from the bound its hold uses: the bill of an attempt cut
        after the upstream had the prompt, which never reports how many tokens it read."""
        ...

    def usage(self, answer: dict[str, Any]) -> dict[str, int] | None:
        """Flat usage (``prompt_tokens``, ``completion_tokens``, ``cached_tokens``...) of a non-streamed answer."""
        ...

    def commits(self, event: dict[str, Any]) -> bool: ...


@runtime_checkable
class BatchAdapter(Protocol):
    """An adapter whose attempt is several upstream calls (an embeddings batch split at the provider's per-call
    limit): all of them succeed or the attempt fails, and one answer is read from all their bodies."""

    def build_requests(self, request: Any, target: Target, *, timeout: float) -> list[transport.UpstreamRequest]: ...

    def parse_responses(self, request: Any, target: Target, bodies: list[bytes]) -> dict[str, Any]: ...

    def error_message(self, status: int, body: bytes) -> str: ...

    def classify(self, status: int, body: bytes) -> int: ...


@dataclass
class AttemptResult:
    record: AttemptRecord
    completion: dict[str, Any] | None = None  # non-streaming success
    live: relay.LiveStream | None = None  # streaming success: committed, the rest still to be relayed
    usage: dict[str, int] | None = None
    terminal: GatewayError | None = None  # ends the request (upstream 400/413/422, unsupported parameter)
    retry_after_s: float | None = None  # the upstream's retry-after on a failed answer
    # Cut by a limit the request chose (its first_byte_timeout_ms, or a deadline its earlier attempts had used
    # up) rather than by the operator's: says nothing about the provider (see ``health.observe``).
    cut_by_request: bool = False
    # Cut by the gateway (timeout, broken connection) after the upstream had the whole request body: it has
    # processed the prompt, so a shared attempt is billed for it.
    prompt_delivered: bool = False

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
        error=error,
        latency_ms=int((time.monotonic() - started) * 1000),
    )


def _upstream_failure(adapter: Any, status: int, body: bytes) -> tuple[int, str]:
    """How the loop treats an upstream error answer (see ``Adapter.classify``) and its message (redacted by
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
    codec: Codec,
) -> AttemptResult:
    """One upstream call. Never raises for upstream trouble: the result says what happened. The transport
    sends only within it (``transport.attempt``)."""
    with transport.attempt():
        return _Attempt(number, request, target, credential, key_id, codec, request_deadline=deadline).run()


@dataclass
class _Attempt:
    """One attempt's state: its limits (the request's deadline, the operator's cap, the first-byte timeout and
    who set it) and its exact secrets, which every text derived from the upstream's answer is redacted of."""

    number: int
    request: Any
    target: Target
    credential: Literal["byok", "shared"]
    key_id: str | None
    codec: Codec
    request_deadline: float
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        cap_ms = get_settings().attempt_timeout_ms
        self.deadline = min(self.request_deadline, self.started + cap_ms / 1000) if cap_ms else self.request_deadline
        self.first_byte_ms, self.first_byte_set_by_request = first_byte_timeout(self.request)
        # The auth headers it sent (the OAuth token in use) join the credential's secrets once they exist.
        self.secrets = redact.secrets_of(self.target.credentials)

    def run(self) -> AttemptResult:
        remaining = self.deadline - self.started
        if remaining < MIN_ATTEMPT_SECONDS:
            return self.result(
                "timeout", error="request deadline reached before this attempt", cut_by_request=self.number > 1
            )
        try:
            adapter = self.codec.adapter(self.target)
            if isinstance(adapter, BatchAdapter):  # embeddings: one call per slice of the batch
                return self.batch(adapter, remaining)
            upstream = adapter.build_request(self.request, self.target, stream=self.request.stream, timeout=remaining)
            self.secrets = redact.secrets_of(self.target.credentials, upstream.headers)
            # Counted from the send: the upstream's answer, not our signing or token fetch, is what it waits for.
            first_byte_deadline = time.monotonic() + self.first_byte_ms / 1000 if self.first_byte_ms else None
            if self.request.stream:
                return self.stream(adapter, upstream, first_byte_deadline)
            answer = relay.read_answer(upstream, deadline=self.deadline, first_byte_deadline=first_byte_deadline)
        except BadRequest as exc:
            return self.result("error", error=exc.message, terminal=exc)
        except AttemptFailed as exc:
            return self.result(exc.outcome, exc.status_code, exc.message)
        if isinstance(answer, relay.OpenFailure):
            return self.cut(answer)
        status = answer.status
        if not 200 <= status < 300:
            return _failed(adapter, status, answer.body, self.result, answer.headers)
        try:
            completion = adapter.parse_response(self.request, self.target, answer.body)
        except UnreadableResponse:
            return self.result("error", status, "unreadable upstream response")
        return self.result("success", status, completion=completion, usage=self.codec.usage(completion))

    def batch(self, adapter: BatchAdapter, remaining: float) -> AttemptResult:
        """Every call of a split batch, sent in parallel; the attempt fails with the first call that fails."""
        upstreams = adapter.build_requests(self.request, self.target, timeout=remaining)
        # SigV4 signs each call apart: every call's auth headers join the attempt's secrets.
        values = (v for u in upstreams for v in redact.secrets_of(self.target.credentials, u.headers).values)
        self.secrets = redact.Secrets(tuple(dict.fromkeys(values)))
        try:
            responses = transport.send_all(upstreams, self.deadline)
            failed = next((r for r in responses if not 200 <= r.status_code < 300), None)
            if failed is not None:
                return _failed(adapter, failed.status_code, failed.content, self.result, failed.headers)
            completion = adapter.parse_responses(self.request, self.target, [r.content for r in responses])
        except httpx.TimeoutException:
            return self.result("timeout", error="upstream timed out")
        except httpx.TransportError as exc:
            return self.result("connection_error", error=f"connection failed ({type(exc).__name__})")
        except UnreadableResponse:  # one of the answers was not the provider's shape
            return self.result("error", 200, "unreadable upstream response")
        status = responses[0].status_code
        return self.result("success", status, completion=completion, usage=self.codec.usage(completion))

    def stream(
        self, adapter: Any, upstream: transport.UpstreamRequest, first_byte_deadline: float | None
    ) -> AttemptResult:
        """Open the upstream stream up to its commit point (``relay.open_stream``); a failure before it is an
        ordinary failed attempt, so the loop falls back exactly as for a non-streamed request."""
        opened = relay.open_stream(
            adapter.stream_decoder(self.request, self.target),
            upstream,
            deadline=self.deadline,
            first_byte_deadline=first_byte_deadline,
            keepalive_s=get_settings().stream_keepalive_ms / 1000,
            commits=self.codec.commits,
        )
        if isinstance(opened, relay.LiveStream):
            return self.result("success", opened.status, live=opened)
        if opened.error_body is not None and opened.status is not None:
            return _failed(adapter, opened.status, opened.error_body, self.result, opened.error_headers)
        return self.cut(opened)

    def result(
        self,
        outcome: Outcome,
        status: int | None = None,
        error: str | None = None,
        terminal_status: int | None = None,
        **kw: Any,
    ) -> AttemptResult:
        """Every text derived from the upstream's answer passes here: redacted once, before it is kept."""
        if error is not None:
            error = redact.redact(error, self.secrets)
        if terminal_status is not None:
            kw["terminal"] = _terminal(self.target, terminal_status, error or "")
        if isinstance(kw.get("live"), relay.LiveStream):
            kw["live"].secrets = self.secrets
        record = _record(self.number, self.target, self.credential, self.key_id, self.started, outcome, status, error)
        return AttemptResult(record=record, **kw)

    def cut(self, failure: relay.OpenFailure) -> AttemptResult:
        """An attempt that ended without an answer: who set the limit that cut it, whether the prompt was out."""
        if failure.first_byte_cut:
            by_request = self.first_byte_set_by_request
        else:  # the deadline: the operator's, unless earlier attempts of this request had used some of it
            by_request = failure.outcome == "timeout" and self.deadline >= self.request_deadline and self.number > 1
        return self.result(
            failure.outcome,  # type: ignore[arg-type]
            failure.status,
            failure.message,
            cut_by_request=failure.outcome == "timeout" and by_request,
            # Our cut (a timeout) once the prompt was out, or a break once the upstream had begun answering; a
            # connection refused or reset before any answer may never have reached the model: free.
            prompt_delivered=failure.body_sent
            and (failure.outcome == "timeout" or (failure.outcome == "connection_error" and failure.answering)),
        )


def _terminal(target: Target, status: int, message: str) -> GatewayError:
    return GatewayError(
        f"{target.provider} rejected the request: {message}",
        status=status,
        error_type="invalid_request_error",
        code="upstream_rejected_request",
    )


def first_byte_timeout(request: Any) -> tuple[int, bool]:
    """The first-byte timeout in ms (0 = none) and whether the request set it: its
    ``provider.first_byte_timeout_ms``, else the operator's ``ATTEMPT_FIRST_BYTE_TIMEOUT_MS``."""
    asked = request.provider.first_byte_timeout_ms if request.provider else None
    if asked is None:
        return get_settings().attempt_first_byte_timeout_ms, False
    return asked, True


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
    from gateway.apis.chat.codec import CHAT  # the key test asks as chat does (the chat codec builds on this module)

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
    attempt = run_attempt(
        1, request, target, credential="byok", key_id=None, deadline=time.monotonic() + timeout_s, codec=CHAT
    )
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
