"""The routing core and chat completions: plan the attempts, run them until one succeeds, charge, record.

``serve`` is the one attempt loop of both front doors (chat completions and Anthropic Messages): the plan,
BYOK-first order, fallback models, health, deadline, credit holds, the streaming commit and the request record are
the same; the API's ``Codec`` (see ``gateway.routing.attempt``) says how a target is asked, how its answer reads and
what an attempt can cost. ``complete`` shapes what ``serve`` returns into a chat completion
(``gateway.apis.messages.service`` into an Anthropic message).

Knows nothing of HTTP events: ``complete`` takes the caller's account snapshot and the parsed request and
returns a ``ChatResult`` (a JSON completion, or a committed stream whose SSE body is produced while it is
sent, see ``chat_stream``) or raises a ``GatewayError``.
Credits (``gateway.billing.credits``): a shared attempt first reserves its maximum cost, and is skipped when the
balance cannot cover it; a success settles the actual cost, a failure releases the hold (a streamed attempt
fails only before its commit; it is settled after its last byte, also when it breaks or the client leaves).
No number of concurrent requests can take a balance below zero. Shared capacity is not planned for an account
in debt (a settlement above its hold) nor for a request that forwards what no hold can price (the codec's
``shared_refusal``): BYOK still serves those, and without it the answer says why (402 / 400).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import ROUND_UP, Decimal
from typing import Any, Protocol

from gateway.apis.chat import stream as chat_stream
from gateway.apis.chat.schema import ChatRequest, ProviderPreferences
from gateway.billing import budgets, credits, usage
from gateway.core.catalog import Model, Offer, get_catalog
from gateway.core.errors import (
    BadRequest,
    BrokenKey,
    Forbidden,
    GatewayError,
    NotFound,
    PaymentRequired,
    RateLimited,
)
from gateway.core.settings import get_settings
from gateway.data import accounts, api_keys
from gateway.data.request_log import AttemptRecord, RequestRecord, emit_attempt, emit_spillover, redact, save_request
from gateway.providers import Target
from gateway.routing import capabilities as params
from gateway.routing import signals as health
from gateway.routing.attempt import CHAT, MIN_ATTEMPT_SECONDS, AttemptResult, Codec, run_attempt
from gateway.routing.plan import (
    EmptyModelPlan,
    PlannedAttempt,
    byok_attempts,
    candidate_offers,
    empty_plan_error,
    shared_attempts,
)
from gateway.security import credential_cache

# What usage costs on an offer (the API's codec decides: a pricing tier may depend on the request).
Pricing = Callable[[Offer, dict[str, int] | None], Decimal]


@dataclass
class ChatResult:
    status: int
    body: str | Iterator[bytes]  # JSON text, or SSE bytes produced while they are sent (``close()`` it)
    content_type: str  # application/json or text/event-stream
    headers: dict[str, str]  # the x-gateway-* route headers
    ignored_params: tuple[str, ...] = ()  # hints the serving provider dropped (x-gateway-ignored-params)


class RoutedRequest(Protocol):
    """What the core reads of a request, whichever API it came through."""

    @property
    def model(self) -> str: ...

    @property
    def models(self) -> list[str] | None: ...

    @property
    def provider(self) -> ProviderPreferences | None: ...

    @property
    def stream(self) -> bool: ...

    def model_chain(self) -> list[str]: ...


@dataclass
class Served:
    """The attempt that answered and how many attempts were made; ``served_as`` is how the request named the
    model that served. A non-streamed answer is already billed and recorded (its tokens and cost are here); a
    committed stream (``result.live``) is billed and recorded by ``settle``, which the API's stream body calls
    once its last byte has gone out or the client has gone."""

    planned: PlannedAttempt
    result: AttemptResult
    attempts: int
    served_as: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    settle: Callable[[chat_stream.Ended], None] | None = None
    pricing: Pricing = usage.cost  # the codec's price of usage on an offer, for this request

    @property
    def is_byok(self) -> bool:
        return self.planned.credential == "byok"

    def price(self, reported: dict[str, int] | None) -> tuple[int, int, Decimal]:
        """(prompt tokens, completion tokens, cost) of ``reported`` usage on this attempt's offer and credential."""
        return _usage_of(reported, self.planned, self.pricing)


def _models(request: RoutedRequest) -> list[Model]:
    """``model`` and its fallback models from the catalog, each once; 404 naming the field for an unknown one."""
    models: list[Model] = []
    for index, model_id in enumerate(request.model_chain()):
        model = get_catalog().model(model_id)
        if model is None:
            param = "model" if index == 0 else ("models" if request.models else "fallback_models")
            raise NotFound(
                f"model {model_id!r} is not in the catalog; GET /v1/models lists them",
                code="model_not_found",
                param=param,
            )
        if model not in models:
            models.append(model)
    return models


def _served_as(request: RoutedRequest, model_id: str) -> str:
    """How the request named the model that served (``model`` or one of ``models``; an alias stays an alias)."""
    for name in request.model_chain():
        model = get_catalog().model(name)
        if model is not None and model.id == model_id:
            return name
    return model_id


def admit(snapshot: accounts.AccountSnapshot, models: list[Model]) -> None:
    """The calling gateway key's own rules, checked before any upstream is planned (so every route that routes
    through here inherits them): its ``allowed_models`` (403 ``model_not_allowed``), then its
    ``rate_limit_rpm`` (429 ``rate_limited`` with ``retry-after``; one conditional write, no read)."""
    caller = snapshot.caller
    if caller is None:
        return
    if caller.allowed_models is not None:
        refused = [model.id for model in models if model.id not in caller.allowed_models]
        if refused:
            raise Forbidden(
                f"this API key may not use {', '.join(refused)}; its allowed models are "
                f"{', '.join(caller.allowed_models) or '(none)'}",
                code="model_not_allowed",
                param="model",
            )
    retry_after = api_keys.take_rate_slot(snapshot.account.account_id, caller)
    if retry_after is not None:
        raise RateLimited(
            f"this API key allows {caller.rate_limit_rpm} requests per minute; retry in {retry_after} s",
            headers={"retry-after": str(retry_after)},
        )


def planned_attempts(
    snapshot: accounts.AccountSnapshot, request: RoutedRequest, codec: Codec = CHAT
) -> Iterator[PlannedAttempt]:
    """The attempt plan, model after model, produced lazily: platform credentials are only looked up once every
    BYOK attempt of a model is used up, so a request served by a BYOK key never reads them (one DynamoDB read
    per warm request)."""
    models = _models(request)
    admit(snapshot, models)
    signals = health.state().signals(snapshot, wake=not request.stream)
    empties: list[EmptyModelPlan] = []
    refusals: list[BadRequest] = []
    planned_any = False
    # Shared capacity is not planned for an account in debt, nor for a request it cannot price (BYOK still is).
    debt = snapshot.account.debt
    unpriced = codec.shared_refusal(request)
    shared_refused: GatewayError | None = None
    for model in models:
        try:
            candidates = codec.honouring(request, candidate_offers(model, request.provider, signals))
        except BadRequest as exc:  # no provider of this model can honour a parameter: the next model may
            refusals.append(exc)
            continue
        byok = byok_attempts(candidates, snapshot.keys, model_id=model.id, cooling=signals.cooling_keys)
        yield from byok
        # BYOK keys placed "after_shared" are tried once every shared attempt of the model has failed.
        fallback_byok = byok_attempts(
            candidates, snapshot.keys, model_id=model.id, cooling=signals.cooling_keys, priority="after_shared"
        )
        shared, excluded_for_credits = shared_attempts(
            candidates,
            snapshot.keys,
            credential_cache.platform_keys(),
            has_credits=snapshot.account.credits > 0 and debt <= 0,
            model_id=model.id,
        )
        if shared and unpriced is not None:
            shared, shared_refused = [], unpriced
        yield from (replace(attempt, cache_scope=snapshot.account.account_id) for attempt in shared)
        yield from fallback_byok
        if byok or shared or fallback_byok:
            planned_any = True
        else:
            empties.append(EmptyModelPlan(model, candidates, excluded_for_credits))
    if planned_any:
        return
    if shared_refused is not None:
        raise shared_refused
    if debt > 0 and any(e.shared_excluded_for_credits for e in empties):
        raise credits.in_debt(debt)
    if refusals and not any(e.shared_excluded_for_credits for e in empties):
        raise refusals[0]
    raise empty_plan_error(empties, request.provider)


def target_for(planned: PlannedAttempt) -> Target:
    """Where ``planned`` goes, with its decrypted credentials (cached). Raises BrokenKey."""
    return Target(
        provider=planned.provider,
        offer=planned.offer,
        credentials=credential_cache.resolve(planned.key),
        region=planned.key.region,
        provisioned_throughput=planned.key.provisioned_throughput,
        owner=f"{planned.key.account_id}/{planned.key.key_id}",
        cache_scope=planned.cache_scope,
    )


def _attempt(
    number: int, planned: PlannedAttempt, request: RoutedRequest, deadline: float, codec: Codec
) -> AttemptResult:
    key_id = planned.key.key_id if planned.credential == "byok" else None
    started = time.monotonic()
    try:
        target = target_for(planned)
    except BrokenKey as exc:
        record = AttemptRecord(
            attempt=number,
            provider=planned.provider,
            credential=planned.credential,
            key_id=key_id,
            status_code=None,
            outcome="error",
            error=exc.message,
            latency_ms=int((time.monotonic() - started) * 1000),
            model=planned.model,
        )
        return AttemptResult(record=record)
    result = run_attempt(
        number, request, target, credential=planned.credential, key_id=key_id, deadline=deadline, codec=codec
    )
    result.record.model = planned.model
    return result


def _final_error(results: list[AttemptResult]) -> GatewayError:
    last = results[-1].record
    if last.status_code == 429:
        status = 429
    elif last.outcome == "timeout":
        status = 504
    else:
        status = 502
    summary = "; ".join(
        f"{r.record.provider} {r.record.credential} {r.record.status_code or r.record.outcome}" for r in results
    )
    return GatewayError(
        f"all {len(results)} attempts failed: {summary}",
        status=status,
        error_type="upstream_error",
        code="all_attempts_failed",
        extra={
            "attempts": [
                {
                    "provider": r.record.provider,
                    "credential": r.record.credential,
                    "status_code": r.record.status_code,
                    "outcome": r.record.outcome,
                }
                for r in results
            ]
        },
    )


def _usage_of(reported: dict[str, int] | None, planned: PlannedAttempt, pricing: Pricing) -> tuple[int, int, Decimal]:
    prompt, completion = usage.tokens(reported)
    cost = pricing(planned.offer, reported) if planned.credential == "shared" else Decimal(0)
    return prompt, completion, cost


def _insufficient_credits(needed: Decimal) -> PaymentRequired:
    amount = needed.quantize(Decimal("0.000001"), rounding=ROUND_UP)
    return PaymentRequired(
        f"insufficient credits: shared capacity needs up to ${amount} for this "
        "request (its prompt plus max_tokens, or the model's maximum output, at the provider's prices) and the "
        "balance does not cover it; add credits, or send a lower max_tokens, which needs less"
    )


def serve(snapshot: accounts.AccountSnapshot, request: RoutedRequest, request_id: str, codec: Codec) -> Served:
    """Run the plan until an attempt answers; settle its credit hold and record the request (a committed stream:
    once it has ended, see ``Served``). Raises the final GatewayError when nothing could answer."""
    started = time.monotonic()
    created_at = accounts.now_iso()
    deadline = started + get_settings().request_deadline_ms / 1000
    account_id = snapshot.account.account_id
    results: list[AttemptResult] = []
    winner: tuple[PlannedAttempt, AttemptResult] | None = None
    winner_hold: credits.Reservation | None = None
    short_of: Decimal | None = None  # the least a shared attempt skipped for credits needed
    limits = budgets.request_budgets(snapshot)
    over_budget: PaymentRequired | None = None  # a shared attempt was skipped because a budget cannot cover it
    error: GatewayError | None = None
    try:
        for planned in planned_attempts(snapshot, request, codec):
            if results and deadline - time.monotonic() < MIN_ATTEMPT_SECONDS:
                break  # out of time: the attempts so far decide the answer (504 if the last one timed out)
            if len(results) >= get_settings().max_attempts:
                break  # MAX_ATTEMPTS cuts the plan, across every model of the request
            hold = None
            if planned.credential == "shared":
                needed = codec.max_cost(planned.offer, request)
                over: list[str] = []
                hold = credits.reserve(account_id, needed, limits, over)
                if hold is None:  # the balance, or a budget, cannot cover this attempt's worst case: skip it
                    over_budget = over_budget or budgets.refusal(limits, over)
                    short_of = needed if short_of is None else min(short_of, needed)
                    continue
            number = len(results) + 1
            result = None
            try:
                result = _attempt(number, planned, request, deadline, codec)
            finally:
                if hold is not None and (result is None or not result.ok):  # a stream is ok once committed
                    credits.release(hold)
            results.append(result)
            health.state().observe(account_id, planned, result)
            if result.live is None:  # a committed stream's attempt is logged once it has ended
                emit_attempt(request_id, account_id, request.model, result.record, fallback=number > 1)
            if result.ok:
                winner, winner_hold = (planned, result), hold
                break
            if result.terminal is not None:
                error = result.terminal
                break
        if winner is None and error is None:
            if over_budget and not results:
                error = over_budget
            else:
                error = _insufficient_credits(short_of) if short_of is not None else _final_error(results)
    except GatewayError as exc:
        error = exc

    def save(
        http_status: int,
        planned: PlannedAttempt | None = None,
        tokens: tuple[int, int] = (0, 0),
        cost: Decimal = Decimal(0),
        *,
        failed: bool = False,
        time_to_first_token_ms: int | None = None,
    ) -> None:
        save_request(
            RequestRecord(
                request_id=request_id,
                account_id=account_id,
                created_at=created_at,
                model=planned.model if planned else request.model,
                provider=planned.provider if planned else None,
                is_byok=bool(planned and planned.credential == "byok"),
                status="success" if planned and not failed else "error",
                http_status=http_status,
                latency_ms=int((time.monotonic() - started) * 1000),
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
                cost=cost,
                stream=request.stream,
                attempts=[r.record for r in results],
                time_to_first_token_ms=time_to_first_token_ms,
                api=codec.api,
                api_key_id=snapshot.caller.id if snapshot.caller is not None else None,
            )
        )

    if winner is None:
        assert error is not None
        save(error.status)
        raise error
    planned, result = winner
    is_byok = planned.credential == "byok"
    failed_byok = [r.record for r in results[:-1] if r.record.credential == "byok"]
    if not is_byok and failed_byok:
        emit_spillover(request_id, account_id, result.record, failed_byok)
    served_as = _served_as(request, planned.model)

    def pricing(offer: Offer, reported: dict[str, int] | None) -> Decimal:
        return codec.cost(offer, request, reported)

    if result.live is not None:
        committed_at = time.monotonic()
        committed_ms = int((committed_at - started) * 1000)
        health.state().relay_started()

        def settle(ended: chat_stream.Ended) -> None:
            """After the last byte: bill what was generated, log the attempt, write the request record."""
            health.state().relay_ended()
            prompt, completion, cost = _usage_of(ended.usage, planned, pricing)
            if winner_hold is not None:
                credits.settle(winner_hold, cost)
            record = result.record
            record.latency_ms += int((time.monotonic() - committed_at) * 1000)  # measured to the commit so far
            if ended.failure is not None:
                record.outcome, record.error = "stream_interrupted", redact(ended.failure)
            emit_attempt(request_id, account_id, request.model, record, fallback=len(results) > 1)
            save(
                200,
                planned,
                (prompt, completion),
                cost,
                failed=ended.failure is not None,
                time_to_first_token_ms=committed_ms,
            )

        return Served(planned, result, len(results), served_as, settle=settle, pricing=pricing)
    prompt, completion, cost = _usage_of(result.usage, planned, pricing)
    if winner_hold is not None:
        credits.settle(winner_hold, cost)
    save(200, planned, (prompt, completion), cost)
    return Served(planned, result, len(results), served_as, prompt, completion, cost, pricing=pricing)


def complete(snapshot: accounts.AccountSnapshot, request: ChatRequest, request_id: str) -> ChatResult:
    served = serve(snapshot, request, request_id, CHAT)
    planned, result, is_byok = served.planned, served.result, served.is_byok
    headers = route_headers(planned, served.attempts)
    ignored = params.assess(request, planned.offer).ignored
    if result.live is not None and served.settle is not None:

        def public_usage(reported: dict[str, int]) -> dict[str, Any]:
            return usage.public(reported, is_byok=is_byok, cost=served.price(reported)[2])

        stream = chat_stream.ChatStream(
            live=result.live,
            request=request,
            request_id=request_id,
            provider=planned.provider,
            model=served.served_as,
            public_usage=public_usage,
            on_end=served.settle,
        )
        return ChatResult(200, stream, "text/event-stream", {**headers, "cache-control": "no-cache"}, ignored)
    body = dict(result.completion or {})
    body["id"] = body.get("id") or f"chatcmpl-{request_id}"
    body["model"] = served.served_as
    body["provider"] = planned.provider
    body["usage"] = usage.public(result.usage, is_byok=is_byok, cost=served.cost)
    return ChatResult(200, json.dumps(body, separators=(",", ":")), "application/json", headers, ignored)


def route_headers(planned: PlannedAttempt, attempts: int) -> dict[str, str]:
    """The ``x-gateway-*`` headers of every answer, chat or messages, streamed or not."""
    return {
        "x-gateway-provider": planned.provider,
        "x-gateway-byok": "true" if planned.credential == "byok" else "false",
        "x-gateway-attempts": str(attempts),
    }
