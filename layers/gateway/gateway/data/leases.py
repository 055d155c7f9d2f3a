"""Credit leases in the accounts table (see ``gateway.billing.leases`` for how an instance spends one).

A lease is an entry of the profile's ``holds`` map flagged ``"lease": true`` whose ``nanos`` is everything the
lease took off the balance (and onto its budget counters) so far: taken with ``holds.hold_credits``, grown and
renewed by ``top_up``, shrunk by ``give_back``, closed by ``close``. What the requests served under it cost is
added, one request at a time after its last byte, to the lease's ledger: an item of its own partition
(``LEASE#<lease id>``), so those writes never land on the account's profile. Closing a lease, by its instance or
by the sweep once it has expired, gives back what it took less what its ledger says was spent, and closes the
ledger in the same transaction (conditional on the spent amount read): a request settled after the close finds
the ledger closed and charges the profile directly, so every charge counts exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import accounts
from gateway.data.holds import ProfileWrite

# A closed ledger is kept this long (the table's TTL removes it): no request of its lease can still be running.
CLOSED_LEDGER_TTL_S = 86_400


def _ledger_key(lease_id: str) -> dict[str, str]:
    return {"pk": f"LEASE#{lease_id}", "sk": "LEDGER"}


def record_spend(lease_id: str, nanos: int) -> bool:
    """Add one request's cost to the lease's ledger; False when the lease is closed (charge it elsewhere)."""
    return accounts.update_if(
        Key=_ledger_key(lease_id),
        UpdateExpression="ADD spent_nanos :n",
        ConditionExpression="attribute_not_exists(closed)",
        ExpressionAttributeValues={":n": nanos},
    )


def spent(lease_id: str) -> int:
    """What the lease's ledger says its requests cost (0 before the first was settled)."""
    item = accounts._table().get_item(Key=_ledger_key(lease_id), ConsistentRead=True).get("Item") or {}
    return int(item.get("spent_nanos", 0))


def top_up(
    account_id: str,
    lease_id: str,
    nanos: int,
    expires_at: int,
    budgets: Mapping[str, int],
    stale: Sequence[str] = (),
) -> bool:
    """Grow the lease by ``nanos`` and move its expiry to ``expires_at``, in one conditional write that never
    takes the balance below zero nor a budget counter past its limit (``budgets``: counter -> most before the
    write). False, and no change, when something does not cover it or the lease is gone."""
    write = ProfileWrite(account_id, names={"#h": lease_id}, values={":n": nanos, ":exp": expires_at})
    write.sets += [
        "credits_nanos = credits_nanos - :n",
        "holds.#h.nanos = holds.#h.nanos + :n",
        "holds.#h.expires_at = :exp",
    ]
    write.conditions += ["attribute_exists(holds.#h)", "credits_nanos >= :n"]
    write.move_budgets(list(budgets), ":n", budgets)
    write.drop(stale)
    return write.apply()


def give_back(account_id: str, lease_id: str, nanos: int, budgets: Sequence[str]) -> bool:
    """Shrink the lease by ``nanos`` it has not spent nor lent to a request: back to the balance and off its
    budget counters. False when the lease is gone."""
    write = ProfileWrite(account_id, names={"#h": lease_id}, values={":n": nanos, ":back": -nanos})
    write.sets += ["credits_nanos = credits_nanos + :n", "holds.#h.nanos = holds.#h.nanos - :n"]
    write.conditions.append("attribute_exists(holds.#h)")
    write.move_budgets(budgets, ":back")
    return write.apply()


def close(account_id: str, lease_id: str, granted: int, spent_nanos: int, budgets: Sequence[str]) -> bool:
    """Close the lease: ``granted`` (what its entry holds) less ``spent_nanos`` (what its ledger holds) goes back
    to the balance and off its budget counters, and the ledger is closed, in one transaction conditional on
    both as read. False when either moved (read again) or the lease is gone."""
    refund = granted - spent_nanos
    profile = ProfileWrite(account_id, names={"#h": lease_id}, values={":refund": refund, ":granted": granted})
    profile.sets.append("credits_nanos = credits_nanos + :refund")
    profile.removes.append("holds.#h")
    profile.conditions += ["attribute_exists(holds.#h)", "holds.#h.nanos = :granted"]
    if budgets:
        profile.values[":back"] = -refund
        profile.move_budgets(budgets, ":back")
    table = get_settings().accounts_table
    # An update, not a put: the functions may only update the accounts table (template.yaml, least privilege)
    ledger: dict[str, Any] = {
        "TableName": table,
        "Key": _ledger_key(lease_id),
        "UpdateExpression": "SET closed = :closed, spent_nanos = :spent, expires_at = :expires",
        "ConditionExpression": "attribute_not_exists(closed) AND "
        + ("attribute_not_exists(spent_nanos)" if spent_nanos == 0 else "spent_nanos = :spent"),
        "ExpressionAttributeValues": {
            ":closed": True,
            ":spent": spent_nanos,
            ":expires": int(time.time()) + CLOSED_LEDGER_TTL_S,
        },
    }
    try:
        aws.dynamodb().meta.client.transact_write_items(
            TransactItems=[{"Update": {"TableName": table, **profile.kwargs()}}, {"Update": ledger}]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            return False
        raise
    return True


def sweep(account_id: str, lease_id: str, granted: int, budgets: Sequence[str]) -> bool:
    """Close an expired lease (its instance is gone): charge what its ledger says, give back the rest."""
    # A request settling at the same moment moves the ledger: read it again.
    return any(close(account_id, lease_id, granted, spent(lease_id), budgets) for _ in range(5))
