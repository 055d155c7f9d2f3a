"""Credit reservation for shared-capacity attempts: a balance never goes below zero, whatever the concurrency.

Before a shared attempt, ``reserve`` takes the attempt's maximum cost (``max_cost``: an upper bound of the
prompt's tokens from the request's size, plus ``max_tokens`` or the offer's maximum output, at the offer's
prices) off the balance into a hold, in ONE conditional update that fails when the balance does not cover it.
Concurrent requests therefore each hold their own worst case, and the sum of the holds can never exceed what
was there. After the answer ``settle`` charges the actual cost and gives the rest back; a failed attempt is
``release``d whole. Settle and release close the hold conditionally, so each happens exactly once.

Stranded holds (the process was killed mid-request): every hold carries an expiry, the request deadline plus
``HOLD_MARGIN_S``, past which the request that made it cannot be running any more. An expired hold counts as
available in the account snapshot, and the next ``reserve`` that finds the balance short releases the
account's expired holds (each conditionally, so a race with a late ``settle`` still counts once) and tries
again. A request that outlives its hold (it cannot, below the function
timeout) is charged its actual cost only if the balance still covers it.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.apis.chat.schema import ChatRequest
from gateway.core.catalog import Offer
from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import accounts

# A hold outlives its request's deadline by this much before it may be swept (settling takes milliseconds).
HOLD_MARGIN_S = 60
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


def _nanos(usd: Decimal) -> int:
    return math.ceil(usd * accounts.NANOS_PER_USD)


def reserve(account_id: str, amount: Decimal) -> Reservation | None:
    """Hold ``amount`` of the balance, or None when the balance (after releasing expired holds) cannot cover
    it. One conditional atomic update; never takes the balance below zero."""
    nanos = _nanos(amount)
    reservation = Reservation(account_id, f"h{secrets.token_hex(8)}", nanos)
    if nanos <= 0:
        return reservation
    expires_at = int(time.time() + get_settings().request_deadline_ms / 1000 + HOLD_MARGIN_S)
    if accounts.hold_credits(account_id, reservation.hold_id, nanos, expires_at):
        return reservation
    if release_expired(account_id) and accounts.hold_credits(account_id, reservation.hold_id, nanos, expires_at):
        return reservation
    return None


def settle(reservation: Reservation, actual_cost: Decimal) -> None:
    """Charge ``actual_cost`` against the hold and give the rest back. Never raises: the answer is already
    paid for upstream, so a failure here is logged for reconciliation instead of failing the request."""
    actual = _nanos(actual_cost) if actual_cost > 0 else 0
    try:
        if reservation.nanos <= 0:
            settled = actual == 0 or accounts.take_credits(reservation.account_id, actual)
        elif accounts.close_hold(reservation.account_id, reservation.hold_id, reservation.nanos - actual):
            settled = True
        elif actual > reservation.nanos and accounts.close_hold(reservation.account_id, reservation.hold_id, 0):
            settled = False  # billed above the bound and the balance cannot cover the extra: keep the hold only
        else:
            # The hold was swept after its expiry: charge the cost afresh, only if the balance covers it.
            settled = accounts.take_credits(reservation.account_id, actual)
    except Exception as exc:
        _report("credit settlement failed", reservation, actual, type(exc).__name__)
        return
    if not settled:
        _report("credit settlement not covered", reservation, actual, None)


def release(reservation: Reservation) -> None:
    """Give a failed attempt's hold back whole. Never raises; a hold it cannot close expires and is swept."""
    if reservation.nanos <= 0:
        return
    try:
        accounts.close_hold(reservation.account_id, reservation.hold_id, reservation.nanos)
    except Exception as exc:
        _report("credit release failed", reservation, 0, type(exc).__name__)


def release_expired(account_id: str) -> int:
    """Release every expired hold of the account (stranded by a killed process); how many were released."""
    profile = accounts.profile_item(account_id)
    if profile is None:
        return 0
    return sum(
        1
        for hold_id, nanos in accounts.expired_holds(profile).items()
        if accounts.close_hold(account_id, hold_id, nanos)
    )


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
