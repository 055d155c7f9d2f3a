"""Credit holds on the account's profile item (see ``gateway.billing.credits``) and the writes that make them.

A hold is an entry of the profile's ``holds`` map, {hold id: {"nanos", "expires_at", "budgets"}}, written in the
same conditional update that takes its amount off ``credits_nanos``: the balance never counts money a request in
flight may still spend, and no update can take it below zero. Two kinds of entry carry a flag: a budget-only
hold (``"credits": false``, a BYOK request counted toward its key's budget at list price: the balance is not
touched) and a lease (``"lease": true``, a block an instance spends locally, see ``gateway.data.leases``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from gateway.data import accounts

# A hold (or a lease) outlives its function's timeout by this much before it may be swept (settling takes
# milliseconds).
HOLD_MARGIN_S = 60


@dataclass(frozen=True)
class HoldEntry:
    """One entry of the profile's ``holds`` map."""

    nanos: int
    expires_at: int
    budgets: tuple[str, ...] = ()  # the budget counters it raised by ``nanos``
    credits: bool = True  # False: a budget-only hold, the balance was not touched
    lease: bool = False


def entries(profile: dict[str, Any]) -> dict[str, HoldEntry]:
    """hold id -> entry, of the profile item's ``holds`` map."""
    return {
        hold_id: HoldEntry(
            nanos=int(hold.get("nanos", 0)),
            expires_at=int(hold.get("expires_at", 0)),
            budgets=tuple(str(b) for b in hold.get("budgets", [])),
            credits=bool(hold.get("credits", True)),
            lease=bool(hold.get("lease", False)),
        )
        for hold_id, hold in (profile.get("holds") or {}).items()
        if isinstance(hold, dict)
    }


def expired_entries(profile: dict[str, Any], now: float | None = None) -> dict[str, HoldEntry]:
    """The profile item's holds and leases whose expiry has passed."""
    now = time.time() if now is None else now
    return {hold_id: entry for hold_id, entry in entries(profile).items() if entry.expires_at <= now}


def expired_holds(profile: dict[str, Any], now: float | None = None) -> dict[str, int]:
    """hold id -> nanos of the credits the profile item's expired holds took: available again once swept.
    An expired lease is not counted: part of it was spent, which only its ledger says."""
    return {
        hold_id: entry.nanos
        for hold_id, entry in expired_entries(profile, now).items()
        if entry.credits and not entry.lease
    }


def live_leases(profile: dict[str, Any], now: float | None = None) -> dict[str, int]:
    """lease id -> nanos the profile item's unexpired leases took off the balance (some of it may be unspent)."""
    now = time.time() if now is None else now
    return {hold_id: e.nanos for hold_id, e in entries(profile).items() if e.lease and e.expires_at > now}


@dataclass
class ProfileWrite:
    """One conditional UpdateItem on an account's profile item, built term by term."""

    account_id: str
    sets: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def move_budgets(self, counters: Sequence[str], amount: str, most: Mapping[str, int] | None = None) -> None:
        """Add ``amount`` (a value placeholder) to each budget counter; with ``most``, only while each counter
        is at most its ``most`` (its limit minus the amount) before the write."""
        for i, counter in enumerate(counters):
            self.names[f"#b{i}"] = counter
            self.values[":zero"] = 0
            self.sets.append(f"#b{i} = if_not_exists(#b{i}, :zero) + {amount}")
            if most is not None:
                self.values[f":most{i}"] = most[counter]
                self.conditions.append(f"(attribute_not_exists(#b{i}) OR #b{i} <= :most{i})")

    def drop(self, stale: Sequence[str]) -> None:
        """Remove past periods' counters."""
        for i, counter in enumerate(stale):
            self.names[f"#s{i}"] = counter
            self.removes.append(f"#s{i}")

    def kwargs(self) -> dict[str, Any]:
        update = "SET " + ", ".join(self.sets) if self.sets else ""
        if self.removes:
            update += " REMOVE " + ", ".join(self.removes)
        kwargs: dict[str, Any] = {
            "Key": {"pk": accounts.partition_key(self.account_id), "sk": "PROFILE"},
            "UpdateExpression": update.strip(),
        }
        if self.conditions:
            kwargs["ConditionExpression"] = " AND ".join(self.conditions)
        if self.names:
            kwargs["ExpressionAttributeNames"] = self.names
        if self.values:
            kwargs["ExpressionAttributeValues"] = self.values
        return kwargs

    def apply(self, budgets: Mapping[str, int] | None = None, over: list[str] | None = None) -> bool:
        """Run the write; False when its condition failed. With ``budgets`` (counter -> most) and ``over``, a
        refusal appends the counters that were past their most, as the write saw them (no read of its own).
        A profile written before holds existed gets its ``holds`` map first."""
        kwargs = self.kwargs()
        if budgets and over is not None:
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            accounts._table().update_item(**kwargs)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                if budgets and over is not None:
                    old = exc.response.get("Item") or {}  # the item as the write saw it, in DynamoDB's typed form
                    over.extend(c for c, most in budgets.items() if int((old.get(c) or {}).get("N", 0)) > most)
                return False
            if code != "ValidationException" or not _give_holds_map(self.account_id):
                raise
            return self.apply(budgets, over)
        return True


def _give_holds_map(account_id: str) -> bool:
    """Give a profile written before holds existed its map; False when it had one (the error was another)."""
    return accounts.update_if(
        Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        UpdateExpression="SET holds = :empty",
        ConditionExpression=Attr("pk").exists() & Attr("holds").not_exists(),
        ExpressionAttributeValues={":empty": {}},
    )


def hold_credits(
    account_id: str,
    hold_id: str,
    nanos: int,
    expires_at: int,
    budgets: Mapping[str, int] | None = None,
    stale: Sequence[str] = (),
    over: list[str] | None = None,
    credits: bool = True,
    lease: bool = False,
) -> bool:
    """Take ``nanos`` off the balance into a hold, only if the balance covers it. False if it does not.

    ``budgets`` (profile counter -> the most it may hold before this hold, its limit minus ``nanos``) are held in
    the same conditional write: each counter grows by ``nanos`` only if it stays within its limit, so no number of
    concurrent holds passes one. ``stale`` counters (past periods) are removed in that write. A refused hold
    appends to ``over`` the counters it would have passed, as the write saw them (no read of its own).
    ``credits`` False holds the budgets only (the balance is untouched); ``lease`` marks the entry a lease."""
    budgets = budgets or {}
    refused = [counter for counter, most in budgets.items() if most < 0]
    if refused:
        if over is not None:
            over.extend(refused)
        return False
    entry: dict[str, Any] = {"nanos": nanos, "expires_at": expires_at, "budgets": list(budgets)}
    if not credits:
        entry["credits"] = False
    if lease:
        entry["lease"] = True
    write = ProfileWrite(account_id, names={"#h": hold_id}, values={":n": nanos, ":hold": entry})
    if not credits and not budgets:
        return False  # a budget-only hold without budgets holds nothing
    write.sets.append("holds.#h = :hold")
    if credits:
        write.sets.append("credits_nanos = credits_nanos - :n")
        write.conditions.append("credits_nanos >= :n")
    write.move_budgets(list(budgets), ":n", budgets)
    write.drop(stale)
    return write.apply(budgets, over)


def close_hold(
    account_id: str, hold_id: str, refund_nanos: int, budgets: Sequence[str] = (), credits: bool = True
) -> bool:
    """Remove a hold, giving ``refund_nanos`` back (negative: taking that much more, only if the balance covers
    it), to the balance (unless ``credits`` is False) and to the ``budgets`` counters it held. False if the hold
    was already closed, or the extra is not covered (then nothing changes)."""
    write = ProfileWrite(account_id, names={"#h": hold_id})
    write.removes.append("holds.#h")
    write.conditions.append("attribute_exists(holds.#h)")
    if credits:
        write.values.update({":refund": refund_nanos, ":extra": max(0, -refund_nanos)})
        write.sets.append("credits_nanos = credits_nanos + :refund")
        write.conditions.append("credits_nanos >= :extra")
    if budgets:
        write.values[":back"] = -refund_nanos
        write.move_budgets(budgets, ":back")
    return write.apply()


def take_credits(account_id: str, nanos: int) -> bool:
    """Take ``nanos`` off the balance only if it covers them; False (and no change) otherwise."""
    return accounts.update_if(
        Key={"pk": accounts.partition_key(account_id), "sk": "PROFILE"},
        UpdateExpression="SET credits_nanos = credits_nanos - :n",
        ConditionExpression="credits_nanos >= :n",
        ExpressionAttributeValues={":n": nanos},
    )


def charge_over_hold(
    account_id: str, nanos: int, hold_id: str | None = None, budgets: Sequence[str] = (), credits: bool = True
) -> bool:
    """Charge ``nanos`` that the balance may not cover: what it covers comes off it, the rest becomes debt,
    in one update conditional on the balance read (retried when it moved), so nothing is lost and the balance
    never goes below zero. With ``hold_id`` the hold (already off the balance) is closed in the same update
    and ``nanos`` is what comes on top of it; False, and no change, if that hold is closed already. The
    ``budgets`` counters grow by ``nanos`` (a budget counts what was spent, past its limit if need be);
    ``credits`` False charges the budgets only. A charge that leaves debt moves the account's epoch in the same
    transaction: instances reusing a snapshot stop planning shared capacity for it at once."""
    while True:
        profile = accounts.profile_item(account_id)
        if profile is None:
            return False
        if hold_id is not None and hold_id not in (profile.get("holds") or {}):
            return False
        write = ProfileWrite(account_id)
        owed = 0
        if credits:
            balance = int(profile.get("credits_nanos", 0))
            taken = max(0, min(balance, nanos))
            owed = nanos - taken
            write.values.update({":balance": balance, ":taken": taken, ":owed": owed, ":zero": 0})
            write.sets += [
                "credits_nanos = credits_nanos - :taken",
                "debt_nanos = if_not_exists(debt_nanos, :zero) + :owed",
            ]
            write.conditions.append("credits_nanos = :balance")
        if budgets:
            write.values[":charged"] = nanos
            write.move_budgets(budgets, ":charged")
        if hold_id is not None:
            write.names["#h"] = hold_id
            write.removes.append("holds.#h")
            write.conditions.append("attribute_exists(holds.#h)")
        if not write.sets and not write.removes:
            return True  # nothing to charge
        if owed > 0 and not accounts.transact(account_id, [{"Update": write.kwargs()}]):
            return True
        if owed <= 0 and write.apply():
            return True
        # the balance moved, or the hold closed: read again
