"""The routing core: plan, attempt, settle. One engine for every front door (chat completions, Messages and
token counting, and every API after them).

``serve`` runs a request's plan (``planned_attempts``: BYOK first, then shared capacity, model after model)
through ``Routing``: each attempt takes its credit hold (shared capacity), goes through ``run_attempt`` (the only
way to an upstream), is observed for the routing signals and logged; the first that answers is settled (a
committed stream by its ``StreamSettlement``, after its last byte) and the request is recorded. The API's
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

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal

from gateway.apis.settled_stream import Ended
from gateway.billing import budgets, credits, usage
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
    plan_models,
    served_as,
    shared_attempts,
)
from gateway.routing.telemetry import emit_attempt, emit_spillover
from gateway.security import credential_cache

# What usage costs on an offer (the API's codec decides: a pricing tier may depend on the request).
Pricing = Callable[[Offer, dict[str, int] | None], Decimal]


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
    cost: Decimal = Decimal(0)  # the whole request's: the answer's and that of earlier attempts cut after sending
    settle: Callable[[Ended], None] | None = None
    pricing: Pricing = usage.cost  # the codec's price of usage on an offer, for this request
    cut_cost: Decimal = Decimal(0)  # what earlier attempts cut after sending cost (see ``_close_failed_hold``)

    @property
    def is_byok(self) -> bool:
        return self.planned.credential == "byok"

    def price(self, reported: dict[str, int] | None) -> tuple[int, int, Decimal]:
        """(prompt tokens, completion tokens, cost) of ``reported`` usage on this attempt's offer and credential,
        the cost including what earlier attempts cut after sending cost."""
        prompt, completion, cost = _usage_of(reported, self.planned, self.pricing)
        return prompt, completion, cost + self.cut_cost


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
            has_credits=(snapshot.account.credits > 0 or snapshot.account.leased > 0) and debt <= 0,
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


def _usage_of(reported: dict[str, int] | None, planned: PlannedAttempt, pricing: Pricing) -> tuple[int, int, Decimal]:
    prompt, completion = usage.tokens(reported)
    cost = pricing(planned.offer, reported) if planned.credential == "shared" else Decimal(0)
    return prompt, completion, cost


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

    @property
    def account_id(self) -> str:
        return self.snapshot.account.account_id

    @property
    def deadline(self) -> float:
        return self.started + get_settings().request_deadline_ms / 1000

    @property
    def cut_cost(self) -> Decimal:
        """What the attempts that did not answer cost: those cut after sending were billed their prompt (see
        ``_close_failed_hold``). The one that answered is not among them, however its stream ends."""
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
                _close_failed_hold(hold, result, planned, self.request, self.codec)
        self.results.append(result)
        health.state().observe(self.account_id, planned, result, measured=self.codec.measured)
        if result.live is None:  # a committed stream's attempt is logged once it has ended
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


@dataclass
class StreamSettlement:
    """A committed stream's settlement, run by its body after the last byte (or when the client has gone): bill
    what was generated, log the attempt, write the request record."""

    routing: Routing
    planned: PlannedAttempt
    result: AttemptResult
    hold: credits.Reservation | None
    committed_at: float = field(default_factory=time.monotonic)

    def __call__(self, ended: Ended) -> None:
        routing, record = self.routing, self.result.record
        health.state().relay_ended()
        prompt, completion, cost = _usage_of(ended.usage, self.planned, routing.price)
        if self.hold is not None:
            credits.settle(self.hold, routing.price(self.planned.offer, ended.usage))
        record.cost = cost
        record.latency_ms += int((time.monotonic() - self.committed_at) * 1000)  # measured to the commit so far
        if ended.failure is not None:
            record.outcome, record.error = "stream_interrupted", ended.failure  # redacted by the stream
        emit_attempt(routing.request_id, routing.account_id, routing.request.model, record, fallback=record.attempt > 1)
        ttft_ms = int((self.committed_at - routing.started) * 1000)
        failed = ended.failure is not None
        routing.record(200, self.planned, (prompt, completion), cost, failed=failed, time_to_first_token_ms=ttft_ms)


def serve(snapshot: accounts.AccountSnapshot, request: RoutedRequest, request_id: str, codec: Codec) -> Served:
    """Plan, attempt, settle: run the plan until an attempt answers, settle its credit hold and record the
    request (a committed stream: once it has ended, see ``Served``). Raises the answer's GatewayError when
    nothing could answer (recorded too)."""
    routing = Routing(snapshot, request, request_id, codec)
    try:
        planned, result, hold = routing.run()
    except GatewayError as error:
        routing.record(error.status)
        raise
    failed_byok = [r.record for r in routing.results[:-1] if r.record.credential == "byok"]
    if planned.credential == "shared" and failed_byok:
        emit_spillover(request_id, routing.account_id, result.record, failed_byok)
    served_name = served_as(request, planned.model)
    attempts, cut_cost = len(routing.results), routing.cut_cost
    if result.live is not None:
        health.state().relay_started()
        settle = StreamSettlement(routing, planned, result, hold)
        return Served(planned, result, attempts, served_name, settle=settle, pricing=routing.price, cut_cost=cut_cost)
    prompt, completion, cost = _usage_of(result.usage, planned, routing.price)
    if hold is not None:  # settled to the list price of what was used: the cost, or what a BYOK budget counts
        credits.settle(hold, routing.price(planned.offer, result.usage))
    result.record.cost = cost
    routing.record(200, planned, (prompt, completion), cost)
    return Served(
        planned,
        result,
        attempts,
        served_name,
        prompt,
        completion,
        cost + cut_cost,
        pricing=routing.price,
        cut_cost=cut_cost,
    )


def _close_failed_hold(
    hold: credits.Reservation,
    result: AttemptResult | None,
    planned: PlannedAttempt,
    request: RoutedRequest,
    codec: Codec,
) -> None:
    """A failed attempt's hold: released whole, unless the gateway cut it after the upstream had the prompt (it
    has processed it): then the prompt is billed at the offer's price (a BYOK attempt's counts toward its key's
    budget only), and a shared attempt's record shows it."""
    if result is None or not result.prompt_delivered:
        credits.release(hold)
        return
    cost = codec.prompt_cost(planned.offer, request)
    credits.settle(hold, cost)
    if planned.credential == "shared":
        result.record.cost = cost


def route_headers(planned: PlannedAttempt, attempts: int) -> dict[str, str]:
    """The ``x-gateway-*`` headers of every answer, chat or messages, streamed or not."""
    return {
        "x-gateway-provider": planned.provider,
        "x-gateway-byok": "true" if planned.credential == "byok" else "false",
        "x-gateway-attempts": str(attempts),
    }
