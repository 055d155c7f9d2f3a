"""Credit holds on the account's profile item (see ``gateway.billing.credits``).

A hold is an entry of the profile's ``holds`` map, {hold id: {"nanos", "expires_at"}}, written in the same
conditional update that takes its amount off ``credits_nanos``: the balance never counts money a request in
flight may still spend, and no update can take it below zero.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from gateway.data import accounts


def hold_budgets(profile: dict[str, Any], hold_id: str) -> list[str]:
    """The budget counters a hold of the profile item charged (none for a hold taken without budgets)."""
    hold = (profile.get("holds") or {}).get(hold_id)
    return [str(b) for b in hold.get("budgets", [])] if isinstance(hold, dict) else []


def expired_holds(profile: dict[str, Any], now: float | None = None) -> dict[str, int]:
    """hold id -> nanos of the profile item's holds whose expiry has passed."""
    now = time.time() if now is None else now
    holds = profile.get("holds") or {}
    return {
        hold_id: int(hold.get("nanos", 0))
        for hold_id, hold in holds.items()
        if isinstance(hold, dict) and int(hold.get("expires_at", 0)) <= now
    }


def hold_credits(
    account_id: str,
    hold_id: str,
    nanos: int,
    expires_at: int,
    budgets: Mapping[str, int] | None = None,
    stale: Sequence[str] = (),
    over: list[str] | None = None,
) -> bool:
    """Take ``nanos`` off the balance into a hold, only if the balance covers it. False if it does not.

    ``budgets`` (profile counter -> the most it may hold before this hold, its limit minus ``nanos``) are held in
    the same conditional write: each counter grows by ``nanos`` only if it stays within its limit, so no number of
    concurrent holds passes one. ``stale`` counters (past periods) are removed in that write. A refused hold
    appends to ``over`` the counters it would have passed, as the write saw them (no read of its own)."""
    budgets = budgets or {}
    if any(most < 0 for most in budgets.values()):
        if over is not None:
            over.extend(counter for counter, most in budgets.items() if most < 0)
        return False
    names: dict[str, str] = {"#h": hold_id}
    values: dict[str, Any] = {
        ":n": nanos,
        ":hold": {"nanos": nanos, "expires_at": expires_at, "budgets": list(budgets)},
    }
    update = "SET credits_nanos = credits_nanos - :n, holds.#h = :hold"
    condition = "credits_nanos >= :n"
    for i, (counter, most) in enumerate(budgets.items()):
        names[f"#b{i}"] = counter
        values[f":most{i}"] = most
        values[":zero"] = 0
        update += f", #b{i} = if_not_exists(#b{i}, :zero) + :n"
        condition += f" AND (attribute_not_exists(#b{i}) OR #b{i} <= :most{i})"
    if stale:
        names.update({f"#s{i}": counter for i, counter in enumerate(stale)})
        update += " REMOVE " + ", ".join(f"#s{i}" for i in range(len(stale)))
    kwargs: dict[str, Any] = {
        "Key": {"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if budgets:
        kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    try:
        accounts._table().update_item(**kwargs)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
            if over is not None:
                old = exc.response.get("Item") or {}  # the item as the write saw it, in DynamoDB's typed form
                over.extend(c for c, most in budgets.items() if int((old.get(c) or {}).get("N", 0)) > most)
            return False
        if code != "ValidationException":
            raise
        # A profile written before holds existed has no map to add to: give it one, then try again.
        accounts._table().update_item(
            Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
            UpdateExpression="SET holds = if_not_exists(holds, :empty)",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeValues={":empty": {}},
        )
        return hold_credits(account_id, hold_id, nanos, expires_at, budgets, stale, over)
    return True


def _budget_terms(budgets: Sequence[str], amount: str) -> tuple[str, dict[str, str]]:
    """``, #b0 = if_not_exists(#b0, :zero) + <amount>, ...`` for each budget counter a hold charged."""
    names = {f"#b{i}": counter for i, counter in enumerate(budgets)}
    terms = "".join(f", #b{i} = if_not_exists(#b{i}, :zero) + {amount}" for i in range(len(budgets)))
    return terms, names


def close_hold(account_id: str, hold_id: str, refund_nanos: int, budgets: Sequence[str] = ()) -> bool:
    """Remove a hold, giving ``refund_nanos`` back (negative: taking that much more, only if the balance covers
    it), to the balance and to the ``budgets`` counters it held. False if the hold was already closed, or the
    extra is not covered (then nothing changes)."""
    terms, names = _budget_terms(budgets, ":back")
    values: dict[str, Any] = {":refund": refund_nanos, ":extra": max(0, -refund_nanos)}
    if budgets:
        values.update({":back": -refund_nanos, ":zero": 0})
    return accounts.update_if(
        Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        UpdateExpression=f"SET credits_nanos = credits_nanos + :refund{terms} REMOVE holds.#h",
        ConditionExpression="attribute_exists(holds.#h) AND credits_nanos >= :extra",
        ExpressionAttributeNames={"#h": hold_id, **names},
        ExpressionAttributeValues=values,
    )


def take_credits(account_id: str, nanos: int) -> bool:
    """Take ``nanos`` off the balance only if it covers them; False (and no change) otherwise."""
    return accounts.update_if(
        Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        UpdateExpression="SET credits_nanos = credits_nanos - :n",
        ConditionExpression="credits_nanos >= :n",
        ExpressionAttributeValues={":n": nanos},
    )


def charge_over_hold(account_id: str, nanos: int, hold_id: str | None = None, budgets: Sequence[str] = ()) -> bool:
    """Charge ``nanos`` that the balance may not cover: what it covers comes off it, the rest becomes debt,
    in one update conditional on the balance read (retried when it moved), so nothing is lost and the balance
    never goes below zero. With ``hold_id`` the hold (already off the balance) is closed in the same update
    and ``nanos`` is what comes on top of it; False, and no change, if that hold is closed already."""
    while True:
        profile = accounts.profile_item(account_id)
        if profile is None:
            return False
        if hold_id is not None and hold_id not in (profile.get("holds") or {}):
            return False
        balance = int(profile.get("credits_nanos", 0))
        taken = max(0, min(balance, nanos))
        condition = "credits_nanos = :balance"
        update = "SET credits_nanos = credits_nanos - :taken, debt_nanos = if_not_exists(debt_nanos, :zero) + :owed"
        kwargs: dict[str, Any] = {}
        terms, names = _budget_terms(budgets, ":charged")
        update += terms
        if hold_id is not None:
            update += " REMOVE holds.#h"
            condition += " AND attribute_exists(holds.#h)"
            names["#h"] = hold_id
        if names:
            kwargs["ExpressionAttributeNames"] = names
        values = {":balance": balance, ":taken": taken, ":owed": nanos - taken, ":zero": 0}
        if budgets:
            values[":charged"] = nanos
        if accounts.update_if(
            Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **kwargs,
        ):
            return True
        # the balance moved, or the hold closed: read again
