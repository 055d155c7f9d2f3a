"""Credit holds on the account's profile item (see ``gateway.billing.credits``).

A hold is an entry of the profile's ``holds`` map, {hold id: {"nanos", "expires_at"}}, written in the same
conditional update that takes its amount off ``credits_nanos``: the balance never counts money a request in
flight may still spend, and no update can take it below zero.
"""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from gateway.data import accounts


def expired_holds(profile: dict[str, Any], now: float | None = None) -> dict[str, int]:
    """hold id -> nanos of the profile item's holds whose expiry has passed."""
    now = time.time() if now is None else now
    holds = profile.get("holds") or {}
    return {
        hold_id: int(hold.get("nanos", 0))
        for hold_id, hold in holds.items()
        if isinstance(hold, dict) and int(hold.get("expires_at", 0)) <= now
    }


def hold_credits(account_id: str, hold_id: str, nanos: int, expires_at: int) -> bool:
    """Take ``nanos`` off the balance into a hold, only if the balance covers it. False if it does not."""
    kwargs: dict[str, Any] = {
        "Key": {"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        "UpdateExpression": "SET credits_nanos = credits_nanos - :n, holds.#h = :hold",
        "ConditionExpression": "credits_nanos >= :n",
        "ExpressionAttributeNames": {"#h": hold_id},
        "ExpressionAttributeValues": {":n": nanos, ":hold": {"nanos": nanos, "expires_at": expires_at}},
    }
    try:
        accounts._table().update_item(**kwargs)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
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
        return hold_credits(account_id, hold_id, nanos, expires_at)
    return True


def close_hold(account_id: str, hold_id: str, refund_nanos: int) -> bool:
    """Remove a hold, giving ``refund_nanos`` back (negative: taking that much more, only if the balance covers
    it). False if the hold was already closed, or the extra is not covered (then nothing changes)."""
    return accounts.update_if(
        Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        UpdateExpression="SET credits_nanos = credits_nanos + :refund REMOVE holds.#h",
        ConditionExpression="attribute_exists(holds.#h) AND credits_nanos >= :extra",
        ExpressionAttributeNames={"#h": hold_id},
        ExpressionAttributeValues={":refund": refund_nanos, ":extra": max(0, -refund_nanos)},
    )


def take_credits(account_id: str, nanos: int) -> bool:
    """Take ``nanos`` off the balance only if it covers them; False (and no change) otherwise."""
    return accounts.update_if(
        Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        UpdateExpression="SET credits_nanos = credits_nanos - :n",
        ConditionExpression="credits_nanos >= :n",
        ExpressionAttributeValues={":n": nanos},
    )


def charge_over_hold(account_id: str, nanos: int, hold_id: str | None = None) -> bool:
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
        if hold_id is not None:
            update += " REMOVE holds.#h"
            condition += " AND attribute_exists(holds.#h)"
            kwargs["ExpressionAttributeNames"] = {"#h": hold_id}
        if accounts.update_if(
            Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues={":balance": balance, ":taken": taken, ":owed": nanos - taken, ":zero": 0},
            **kwargs,
        ):
            return True
        # the balance moved, or the hold closed: read again
