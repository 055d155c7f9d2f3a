"""Credit reservation for shared-capacity attempts: a balance never goes below zero, whatever the concurrency.

Before a shared attempt, ``reserve`` takes the attempt's maximum cost (``max_cost``: an upper bound of the
prompt's tokens from the request's size, plus ``max_tokens`` or the offer's maximum output, at the offer's
prices) off the balance into a hold, in ONE conditional update that fails when the balance does not cover it.
Concurrent requests therefore each hold their own worst case, and the sum of the holds can never exceed what
was there. After the answer ``settle`` charges the actual cost and gives the rest back; a failed attempt is
``release``d whole. Settle and release close the hold conditionally, so each happens exactly once.

A settlement above the hold (an upstream that reported more than the bound) is never dropped: the balance pays
what it can and the rest is recorded as the account's debt; while an account is in debt only BYOK serves it
(``gateway.routing.plan``), and credits added pay the debt first (``accounts.add_credits``).

With ``CREDIT_LEASE_NANOS`` set, ``reserve`` first asks the process's credit lease (``gateway.billing.leases``)
to lend the hold from a block taken earlier with one write; the same bound is held, the same guarantees stand, and
most shared attempts then write nothing before their upstream. A budget-only hold (``credits=False``) is a BYOK
attempt counted toward its key's budget at list price (``gateway.billing.budgets``): the balance is untouched.

Stranded holds (the process was killed mid-request): every hold carries an expiry, the function's timeout
(``FUNCTION_TIMEOUT_S``, the template's) plus ``HOLD_MARGIN_S`` after it was made, past which the request that
made it cannot be running any more, whatever its client does. An expired hold counts as
available in the account snapshot, and the next ``reserve`` that finds the balance short releases the
account's expired holds (each conditionally, so a race with a late ``settle`` still counts once) and tries
again.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.apis.chat.schema import ChatRequest
from gateway.billing import leases
from gateway.core.catalog import Offer
from gateway.core.errors import BadRequest, PaymentRequired
from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import accounts, holds
from gateway.data import leases as lease_store
from gateway.data.holds import HOLD_MARGIN_S

if TYPE_CHECKING:
    from gateway.billing.budgets import Budget

# Token bounds beyond the request's bytes (every provider's tokenizer spends at least one byte per token):
# chat-template framing, the system prompt a provider adds for tools, and one image at its largest tiling.
BASE_PROMPT_TOKENS = 64
TOOLS_PROMPT_TOKENS = 1_000
IMAGE_PROMPT_TOKENS = 6_000
# Used only for an offer without a catalog maximum (the connection-test models).
DEFAULT_OUTPUT_TOKENS = 8_192


@dataclass(frozen=True)
class Reservation:
    account_id: str
    hold_id: str
    nanos: int
    budgets: tuple[str, ...] = ()  # the budget counters the hold raised with the credits (gateway.billing.budgets)
    credits: bool = True  # False: the budgets only are held (a BYOK request counted at list price)
    lease: bool = False  # lent by this process's lease ``hold_id`` (``gateway.billing.leases``), not a hold


def prompt_token_bound(request: ChatRequest) -> int:
    """An upper bound of the prompt's tokens: its UTF-8 size as JSON (images counted apart), plus framing."""
    # Python mode, then a copy through the stdlib: pydantic's JSON mode fails on a lone surrogate in a dict key
    # (valid JSON in a tool schema), and the images are blanked on the copy, never on the request.
    body = json.loads(json.dumps(request.model_dump(exclude_none=True, by_alias=True), default=str))
    images = _blank_images(body)
    size = json_size(body)
    tools = TOOLS_PROMPT_TOKENS if request.tools else 0
    return size + BASE_PROMPT_TOKENS + tools + images * IMAGE_PROMPT_TOKENS


def json_size(value: Any) -> int:
    """The UTF-8 size of ``value`` as compact JSON. A lone surrogate (``"\\ud800"`` is valid JSON, and reaches
    the provider as that escape) counts its three bytes rather than failing the encoding."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))


def _blank_images(node: Any) -> int:
    """Empty every ``image_url.url`` in place (a data URL's bytes say nothing of its tokens); how many."""
    count = 0
    if isinstance(node, dict):
        image = node.get("image_url")
        if isinstance(image, dict) and "url" in image:
            image["url"] = ""
            count += 1
        count += sum(_blank_images(value) for value in node.values())
    elif isinstance(node, list):
        count += sum(_blank_images(value) for value in node)
    return count


def output_token_bound(offer: Offer, request: ChatRequest) -> int:
    """The most tokens the attempt can generate: the caller's cap, never above the offer's maximum."""
    ceiling = offer.max_output_tokens or DEFAULT_OUTPUT_TOKENS
    asked = request.output_limit()
    choices = getattr(request, "n", None) or 1
    return (ceiling if asked is None else min(asked, ceiling)) * choices


def max_cost(offer: Offer, request: ChatRequest) -> Decimal:
    """What one attempt of ``request`` on ``offer`` can cost at most, in USD."""
    return offer.cost(prompt_token_bound(request), output_token_bound(offer, request))


def unpriced(param: str, what: str) -> BadRequest:
    """The answer when a request forwards something whose cost no hold can bound (the upstream fetches it,
    runs it or prices it by a tier): shared capacity does not serve it, a BYOK key still does."""
    return BadRequest(
        f"{param}: {what} cannot be priced into a credit hold, so shared capacity does not serve this request; "
        "a BYOK key for one of the model's providers serves it",
        code="not_served_on_shared_capacity",
        param=param,
    )


def chat_shared_refusal(request: ChatRequest) -> BadRequest | None:
    """Why shared capacity must not serve a chat request, or None: an upstream web search is billed per call
    and its results come back as prompt tokens no bound of the request can foresee."""
    if request.web_search_options is not None:
        return unpriced("web_search_options", "web_search_options (the provider's web search)")
    return None


def in_debt(debt: Decimal) -> PaymentRequired:
    """The answer when only shared capacity could serve an account in debt."""
    owed = debt.quantize(Decimal("0.000001"))
    return PaymentRequired(
        f"the account is in debt (${owed} of usage above its credit holds): shared capacity serves it again "
        "once added credits have paid the debt; BYOK keys still serve it",
        code="account_in_debt",
    )


def to_nanos(usd: Decimal) -> int:
    """USD to whole nano-USD, rounding up (a hold never falls short)."""
    return math.ceil(usd * accounts.NANOS_PER_USD)


def reserve(
    account_id: str,
    amount: Decimal,
    budgets: Sequence[Budget] = (),
    over: list[str] | None = None,
    credits: bool = True,
) -> Reservation | None:
    """Hold ``amount`` of the balance, and of each of ``budgets``, or None when the balance (after releasing
    expired holds) or a budget cannot cover it (then ``over`` gets the budget counters it would pass). Lent by
    the process's credit lease when it can (no write), else one conditional atomic update; never takes the
    balance below zero nor a budget past its limit. ``credits`` False holds the budgets only."""
    nanos = to_nanos(amount)
    counters = tuple(b.counter for b in budgets)
    if nanos <= 0:
        return Reservation(account_id, f"h{secrets.token_hex(8)}", nanos, counters, credits)
    if credits:
        lease_id = leases.book().lend(account_id, nanos, budgets)
        if lease_id is not None:
            return Reservation(account_id, lease_id, nanos, counters, lease=True)
    reservation = Reservation(account_id, f"h{secrets.token_hex(8)}", nanos, counters, credits)
    expires_at = int(time.time() + get_settings().function_timeout_s + HOLD_MARGIN_S)
    most = {b.counter: b.limit_nanos - nanos for b in budgets}
    stale = [name for b in budgets for name in b.stale]

    def hold() -> bool:
        if over is not None:
            over.clear()
        return holds.hold_credits(account_id, reservation.hold_id, nanos, expires_at, most, stale, over, credits)

    if hold():
        return reservation
    if release_expired(account_id) and hold():  # stranded holds may hold credits or budget
        return reservation
    return None


def settle(reservation: Reservation, actual_cost: Decimal) -> None:
    """Charge ``actual_cost`` against the hold and give the rest back. What the hold and the balance do not
    cover becomes the account's debt (``holds.charge_over_hold``): a charge is never dropped. Never raises: the
    answer is already paid for upstream, so a failure here is logged for reconciliation."""
    actual = to_nanos(actual_cost) if actual_cost > 0 else 0
    try:
        charged = _settle(reservation, actual)
    except Exception as exc:
        _report("credit settlement failed", reservation, actual, type(exc).__name__)
        return
    if not charged:
        _report("credit settlement found no account", reservation, actual, None)


def _settle(reservation: Reservation, actual: int) -> bool:
    account_id, held = reservation.account_id, reservation.nanos
    budgets, paid = reservation.budgets, reservation.credits
    if reservation.lease and leases.book().settle(account_id, reservation.hold_id, held, actual):
        return True
    if held <= 0 or reservation.lease:  # nothing held, or a lease this process no longer knows: charge afresh
        return actual == 0 or holds.charge_over_hold(account_id, actual, budgets=budgets, credits=paid)
    if holds.close_hold(account_id, reservation.hold_id, held - actual, budgets, paid):
        return True
    if actual > held and holds.charge_over_hold(account_id, actual - held, reservation.hold_id, budgets, paid):
        return True  # billed above the hold: the balance pays what it can, the rest is debt
    # The hold was swept after its expiry: charge the cost afresh (debt for what the balance lacks).
    return holds.charge_over_hold(account_id, actual, budgets=budgets, credits=paid)


def release(reservation: Reservation) -> None:
    """Give a failed attempt's hold back whole. Never raises; a hold it cannot close expires and is swept."""
    if reservation.nanos <= 0:
        return
    try:
        if reservation.lease:
            leases.book().release(reservation.hold_id, reservation.nanos)
            return
        holds.close_hold(
            reservation.account_id, reservation.hold_id, reservation.nanos, reservation.budgets, reservation.credits
        )
    except Exception as exc:
        _report("credit release failed", reservation, 0, type(exc).__name__)


def release_expired(account_id: str) -> int:
    """Release every expired hold of the account (stranded by a killed process) and close every expired lease
    (charged what its ledger says); how many were released."""
    profile = accounts.profile_item(account_id)
    if profile is None:
        return 0
    released = 0
    for hold_id, entry in holds.expired_entries(profile).items():
        if entry.lease:
            released += lease_store.sweep(account_id, hold_id, entry.nanos, entry.budgets)
        else:
            released += holds.close_hold(account_id, hold_id, entry.nanos, entry.budgets, entry.credits)
    return released


def _report(message: str, reservation: Reservation, actual_nanos: int, error_type: str | None) -> None:
    logger.error(
        message,
        extra={
            "account_id": reservation.account_id,
            "hold_id": reservation.hold_id,
            "held_nanos": reservation.nanos,
            "actual_nanos": actual_nanos,
            "error_type": error_type,
        },
    )
