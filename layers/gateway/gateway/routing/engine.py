"""The routing core: plan, attempt, settle. One engine for every front door (chat completions, Messages and
token counting, and every API after them).

``serve`` runs a request's plan (``planned_attempts``: BYOK first, then shared capacity, model after model)
through ``Routing``: each attempt takes its credit hold (shared capacity), goes through ``run_attempt`` (the only
way to an upstream), is observed for the routing signals and logged; the first that answers is settled
(``gateway.routing.settle``; a committed stream after its last byte) and the request is recorded. The API's
``Codec`` (see ``gateway.routing.attempt``) says how a target is asked, how its answer reads and what an attempt
can cost; ``gateway.apis.<api>.service`` shapes what ``serve`` returns into that API's answer.

Credits (``gateway.billing.credits``): a shared attempt first reserves its maximum cost, and is skipped when the
balance cannot cover it; a success settles the actual cost, a failure releases the hold (or bills the prompt of
an attempt cut after sending). A BYOK attempt of a key whose budget counts BYOK (``include_byok``) holds that
budget alone, at list price, the same way. No number of concurrent requests can take a balance below zero.
Shared capacity is not planned for an account in debt nor for a request that forwards what no hold can price
(the codec's ``shared_refusal``): BYOK still serves those, and without it the answer says why (402 / 400).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal

from gateway.billing import budgets, credits
from gateway.core.catalog import Model, Offer
from gateway.core.errors import BadRequest, BrokenKey, Forbidden, GatewayError, PaymentRequired, RateLimited
from gateway.core.settings import get_settings
from gateway.data import accounts, api_keys
from gateway.data.request_log import AttemptRecord, RequestRecord, save_request
from gateway.providers import Target
from gateway.routing import signals as health
from gateway.routing.attempt import MIN_ATTEMPT_SECONDS, AttemptResult, Codec, run_attempt
from gateway.routing.plan import (
    EmptyModelPlan,
    PlannedAttempt,
    RoutedRequest,
    all_failed_error,
    byok_attempts,
    candidate_offers,
    empty_plan_error,
    insufficient_credits,
    model_names,
    plan_models,
    shared_attempts,
)
from gateway.routing.settle import Served, close_failed_hold, settle
from gateway.routing.telemetry import emit_attempt
from gateway.security import credential_cache


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
    snapshot: accounts.AccountSnapshot, request: RoutedRequest, codec: Codec
) -> Iterator[PlannedAttempt]:
    """The attempt plan, model after model, produced lazily: platform credentials are only looked up once every
    BYOK attempt of a model is used up, so a request served by a BYOK key never reads them (one DynamoDB read
    per warm request)."""
    models = plan_models(request, codec.api)
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
            # a live lease may hold what is left: its instance (or a per-request hold) decides
            has_credits=snapshot.pays_shared(),
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


@dataclass
class Routing:
    """One request on its way through the plan: the attempts made so far, the least a skipped shared attempt
    needed, and what the request record is written from."""

    snapshot: accounts.AccountSnapshot
    request: RoutedRequest
    request_id: str
    codec: Codec
    started: float = field(default_factory=time.monotonic)
    created_at: str = field(default_factory=accounts.now_iso)
    results: list[AttemptResult] = field(default_factory=list)
    short_of: Decimal | None = None  # the least a shared attempt skipped for credits needed
    answered: AttemptResult | None = None  # the attempt that answered, once one has
    over_budget: PaymentRequired | None = None  # a shared attempt was skipped because a budget cannot cover it

    def __post_init__(self) -> None:
        self.limits = budgets.request_budgets(self.snapshot)  # the calling key's budget, the shared cap
        self.byok_limits = budgets.byok_budgets(self.snapshot)  # the key's budget, when it counts BYOK
        self.model_names = model_names(self.request)  # how the answer names the model that served, known early

    @property
    def account_id(self) -> str:
        return self.snapshot.account.account_id

    @property
    def deadline(self) -> float:
        return self.started + get_settings().request_deadline_ms / 1000

    @property
    def cut_cost(self) -> Decimal:
        """What the attempts that did not answer cost: those cut after sending were billed their prompt (see
        ``close_failed_hold``). The one that answered is not among them, however its stream ends."""
        return sum((r.record.cost for r in self.results if r is not self.answered), Decimal(0))

    def run(self) -> tuple[PlannedAttempt, AttemptResult, credits.Reservation | None]:
        """Attempts in plan order until one answers: it, and its credit hold (to settle). Raises the answer's
        GatewayError when none could (an upstream's 400, all failed, out of credits, an empty plan)."""
        settings = get_settings()
        for planned in planned_attempts(self.snapshot, self.request, self.codec):
            if self.results and self.deadline - time.monotonic() < MIN_ATTEMPT_SECONDS:
                break  # out of time: the attempts so far decide the answer (504 if the last one timed out)
            if len(self.results) >= settings.max_attempts:
                break  # MAX_ATTEMPTS cuts the plan, across every model of the request
            tried = self.attempt(planned)
            if tried is None:
                continue
            result, hold = tried
            if result.ok:
                self.answered = result
                return planned, result, hold
            if result.terminal is not None:
                raise result.terminal
        if self.over_budget is not None and not self.results:
            raise self.over_budget
        if self.short_of is not None:
            raise insufficient_credits(self.short_of, self.codec.api)
        raise all_failed_error(self.results)

    def attempt(self, planned: PlannedAttempt) -> tuple[AttemptResult, credits.Reservation | None] | None:
        """One attempt with its hold (shared capacity; BYOK when the key's budget counts it), observed and
        logged; None when the balance or a budget cannot cover its worst case (skipped). A failed attempt's hold
        is closed here; a success keeps it to settle."""
        hold = None
        shared = planned.credential == "shared"
        limits = self.limits if shared else self.byok_limits
        if shared or limits:
            needed = self.codec.max_cost(planned.offer, self.request)  # a BYOK attempt's: at list price
            over: list[str] = []
            hold = credits.reserve(self.account_id, needed, limits, over, credits=shared)
            if hold is None:  # the balance, or a budget, cannot cover this attempt's worst case: skip it
                self.over_budget = self.over_budget or budgets.refusal(limits, over)
                if shared:
                    self.short_of = needed if self.short_of is None else min(self.short_of, needed)
                return None
        number = len(self.results) + 1
        result = None
        try:
            result = _attempt(number, planned, self.request, self.deadline, self.codec)
        finally:
            if hold is not None and (result is None or not result.ok):  # a stream is ok once committed
                close_failed_hold(hold, result, planned, self.request, self.codec)
        self.results.append(result)
        observe = functools.partial(
            health.state().observe, self.account_id, planned, result, measured=self.codec.measured
        )
        if result.live is not None:  # a committed stream: observed once its first chunks are out, logged at its end
            result.live.deferred = observe
        else:
            observe()
            emit_attempt(self.request_id, self.account_id, self.request.model, result.record, fallback=number > 1)
        return result, hold

    def record(
        self,
        http_status: int,
        planned: PlannedAttempt | None = None,
        tokens: tuple[int, int] = (0, 0),
        served_cost: Decimal = Decimal(0),
        *,
        failed: bool = False,
        time_to_first_token_ms: int | None = None,
    ) -> None:
        """The request record (the logs table): every attempt, and what the request cost in all."""
        save_request(
            RequestRecord(
                request_id=self.request_id,
                account_id=self.account_id,
                created_at=self.created_at,
                model=planned.model if planned else self.request.model,
                provider=planned.provider if planned else None,
                is_byok=bool(planned and planned.credential == "byok"),
                status="success" if planned and not failed else "error",
                http_status=http_status,
                latency_ms=int((time.monotonic() - self.started) * 1000),
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
                cost=served_cost + self.cut_cost,
                stream=self.request.stream,
                attempts=[r.record for r in self.results],
                time_to_first_token_ms=time_to_first_token_ms,
                api=self.codec.api,
                api_key_id=self.snapshot.caller.id if self.snapshot.caller is not None else None,
            )
        )

    def price(self, offer: Offer, reported: dict[str, int] | None) -> Decimal:
        return self.codec.cost(offer, self.request, reported)


def serve(snapshot: accounts.AccountSnapshot, request: RoutedRequest, request_id: str, codec: Codec) -> Served:
    """Plan, attempt, settle: run the plan until an attempt answers (``Routing.run``), then settle its credit
    hold and record the request (``settle``; a committed stream once it has ended, see ``Served``). Raises the
    answer's GatewayError when nothing could answer (recorded too)."""
    routing = Routing(snapshot, request, request_id, codec)
    try:
        planned, result, hold = routing.run()
    except GatewayError as error:
        routing.record(error.status)
        raise
    return settle(routing, planned, result, hold)


def route_headers(planned: PlannedAttempt, attempts: int) -> dict[str, str]:
    """The ``x-gateway-*`` headers of every answer, chat or messages, streamed or not."""
    return {
        "x-gateway-provider": planned.provider,
        "x-gateway-byok": "true" if planned.credential == "byok" else "false",
        "x-gateway-attempts": str(attempts),
    }
