"""Settling an answer: what the attempt that answered costs, billed against its credit hold, and the request
record; for a committed stream, all of that once its last byte has gone (``StreamSettlement``). A failed shared
attempt's hold is closed here too (``close_failed_hold``). The engine (``gateway.routing.engine``) calls these.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.apis.settled_stream import Ended
from gateway.billing import credits, usage
from gateway.core.catalog import Offer
from gateway.routing import signals as health
from gateway.routing.attempt import AttemptResult, Codec
from gateway.routing.plan import PlannedAttempt, RoutedRequest
from gateway.routing.telemetry import emit_attempt, emit_spillover

if TYPE_CHECKING:
    from gateway.routing.engine import Routing

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
    cut_cost: Decimal = Decimal(0)  # what earlier attempts cut after sending cost (see ``close_failed_hold``)

    @property
    def is_byok(self) -> bool:
        return self.planned.credential == "byok"

    def price(self, reported: dict[str, int] | None) -> tuple[int, int, Decimal]:
        """(prompt tokens, completion tokens, cost) of ``reported`` usage on this attempt's offer and credential,
        the cost including what earlier attempts cut after sending cost."""
        prompt, completion, cost = usage_of(reported, self.planned, self.pricing)
        return prompt, completion, cost + self.cut_cost


def usage_of(reported: dict[str, int] | None, planned: PlannedAttempt, pricing: Pricing) -> tuple[int, int, Decimal]:
    prompt, completion = usage.tokens(reported)
    cost = pricing(planned.offer, reported) if planned.credential == "shared" else Decimal(0)
    return prompt, completion, cost


def close_failed_hold(
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
        prompt, completion, cost = usage_of(ended.usage, self.planned, routing.price)
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


def settle(
    routing: Routing, planned: PlannedAttempt, result: AttemptResult, hold: credits.Reservation | None
) -> Served:
    """The answering attempt settled: a complete answer is billed (its hold settled) and recorded now; a
    committed stream gets its ``StreamSettlement`` to run once it has ended."""
    request_id = routing.request_id
    failed_byok = [r.record for r in routing.results[:-1] if r.record.credential == "byok"]
    if planned.credential == "shared" and failed_byok:
        emit_spillover(request_id, routing.account_id, result.record, failed_byok)
    served_name = routing.model_names.get(planned.model, planned.model)
    attempts, cut_cost = len(routing.results), routing.cut_cost
    if result.live is not None:
        health.state().relay_started()
        settlement = StreamSettlement(routing, planned, result, hold)
        return Served(
            planned, result, attempts, served_name, settle=settlement, pricing=routing.price, cut_cost=cut_cost
        )
    prompt, completion, cost = usage_of(result.usage, planned, routing.price)
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
