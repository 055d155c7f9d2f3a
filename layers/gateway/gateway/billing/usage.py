"""Usage as the answer shows it, and what it costs: one shape whichever provider served.

Adapters report usage flat (``common.usage_dict``); this turns it into OpenAI's ``usage`` object with
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens`` (plus the gateway's
``is_byok`` and ``cost``), and prices it with the offer's cached-input and cache-write prices.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.catalog import Offer


def tokens(usage: dict[str, int] | None) -> tuple[int, int]:
    usage = usage or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def cost(offer: Offer, usage: dict[str, int] | None) -> Decimal:
    usage = usage or {}
    prompt, completion = tokens(usage)
    return offer.cost(
        prompt,
        completion,
        cached_tokens=int(usage.get("cached_tokens") or 0),
        cache_write_tokens=int(usage.get("cache_write_tokens") or 0),
    )


def public(usage: dict[str, int] | None, *, is_byok: bool, cost: Decimal) -> dict[str, Any]:
    usage = usage or {}
    prompt, completion = tokens(usage)
    prompt_details: dict[str, int] = {"cached_tokens": int(usage.get("cached_tokens") or 0)}
    if usage.get("cache_write_tokens"):
        prompt_details["cache_write_tokens"] = int(usage["cache_write_tokens"])
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": int(usage.get("reasoning_tokens") or 0)},
        "is_byok": is_byok,
        "cost": float(cost),
    }
