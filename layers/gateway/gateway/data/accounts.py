"""The accounts table's partition and its profile item: accounts, credits and debt.

Single-table design: everything a request needs about its customer lives in one partition
(``ACCOUNT#<id>``), so one strongly consistent Query confirms the caller's key is live, reads its credits and
lists its BYOK keys (``load_account``). One module per entity of the table: this one (the profile and the
partition helpers), ``api_keys`` (hashed gateway keys), ``holds`` (credit holds on the profile) and
``byok_keys`` (BYOK and platform credentials, cooldowns). They reach the table only through ``_table`` here,
looked up on this module at call time. Only these modules touch the accounts table.

Every write that authentication or routing trusts goes through ``transact``, which moves the account's epoch
(``account_epoch``) in the same transaction: instances that reuse snapshots (``account_cache``) read the
partition again on their next request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from gateway.core import aws
from gateway.core.ids import new_account_id
from gateway.core.settings import get_settings
from gateway.data import account_epoch, api_keys, byok_keys, holds

if TYPE_CHECKING:
    from gateway.data.api_keys import ApiKey
    from gateway.data.byok_keys import StoredKey

PLATFORM_ACCOUNT = "platform"
# Balances are stored as whole nano-USD so every atomic ADD is exact integer arithmetic (no decimal exponents).
NANOS_PER_USD = Decimal(1_000_000_000)
# A transaction cancelled by a concurrent one on the same items (the account's epoch replicas) is run again.
CONFLICT_RETRIES = 5


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def partition_key(account_id: str) -> str:
    return "PLATFORM" if account_id == PLATFORM_ACCOUNT else f"ACCOUNT#{account_id}"


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)
    account_id: str
    name: str
    credits: Decimal
    created_at: str
    # USD owed from settlements above their hold (see ``charge_over_hold``); while above 0 only BYOK serves.
    debt: Decimal = Decimal(0)
    # BYOK keys counted on the profile (see ``put_key``); None on a profile written before the count existed.
    key_count: int | None = None
    # Budget counters (``spend_<scope>_<period>`` -> nano-USD), see ``gateway.billing.budgets``.
    spend: dict[str, int] = Field(default_factory=dict)
    shared_limit: dict[str, Any] | None = None  # {"usd", "period"}: the account's cap on shared-capacity spend
    # USD taken off the balance by live credit leases (``gateway.billing.leases``): part of it may be unspent.
    leased: Decimal = Decimal(0)


@dataclass
class AccountSnapshot:
    account: Account
    api_keys: dict[str, ApiKey] = field(default_factory=dict)  # sha256 of each gateway key -> the key
    keys: list[StoredKey] = field(default_factory=list)
    key_cooldowns: dict[str, int] = field(default_factory=dict)  # BYOK key id -> end of its cooldown, epoch ms
    caller: ApiKey | None = None  # the gateway key the request authenticated with
    reused: bool = False  # handed out by the instance's snapshot cache (``gateway.data.account_cache``)

    def key(self, key_id: str) -> StoredKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    def copy(self, *, reused: bool = False) -> AccountSnapshot:
        """A copy for one request (containers copied, items shared: they are frozen), without a caller."""
        return replace(
            self,
            api_keys=dict(self.api_keys),
            keys=list(self.keys),
            key_cooldowns=dict(self.key_cooldowns),
            caller=None,
            reused=reused,
        )

    def pays_shared(self) -> bool:
        """Whether the balance may pay for shared capacity: credits (or a live lease holding some) and no debt.

        A reused snapshot that says no reads the profile again first: a settled hold, a released one or a closed
        lease gives credits back without moving the account's epoch, so a reused balance may be lower than the
        stored one. (One that is higher only lets an attempt try its hold, whose conditional write refuses it.)
        Debt moves the epoch both ways (``holds.charge_over_hold``, ``add_credits``), so it is never stale.
        """
        if self.reused and not self._has_credits() and self.account.debt <= 0:
            self.account = load_profile(self.account.account_id) or self.account
            self.reused = False
        return self._has_credits() and self.account.debt <= 0

    def _has_credits(self) -> bool:
        return self.account.credits > 0 or self.account.leased > 0


def _table() -> Any:
    return aws.table(get_settings().accounts_table)


def plain(value: Any) -> Any:
    """DynamoDB types to Python: Binary to bytes, whole Decimals stay Decimal (credits need exactness)."""
    if hasattr(value, "value") and type(value).__name__ == "Binary":
        return bytes(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def query_partition(pk: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(pk), "ConsistentRead": True}
    while True:
        page = _table().query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def account_from_profile(account_id: str, item: dict[str, Any]) -> Account:
    return Account(
        account_id=account_id,
        name=item.get("name", ""),
        # Holds past their expiry belong to requests that can no longer be running: their amount is
        # available again (``credits.reserve`` releases them for real when it needs the room).
        credits=to_usd(int(item.get("credits_nanos", 0)) + sum(holds.expired_holds(item).values())),
        created_at=item["created_at"],
        debt=to_usd(item.get("debt_nanos", 0)),
        key_count=None if item.get("key_count") is None else int(item["key_count"]),
        spend={name: int(value) for name, value in item.items() if name.startswith("spend_")},
        shared_limit=plain(item["shared_limit"]) if item.get("shared_limit") else None,
        leased=to_usd(sum(holds.live_leases(item).values())),
    )


def load_profile(account_id: str) -> Account | None:
    """The account's profile alone (one consistent GetItem), None if there is no such account."""
    item = profile_item(account_id)
    return None if item is None else account_from_profile(account_id, item)


def load_account(account_id: str) -> AccountSnapshot | None:
    profile: Account | None = None
    gateway_keys: dict[str, ApiKey] = {}
    keys: list[StoredKey] = []
    cooldowns: dict[str, int] = {}
    for item in query_partition(partition_key(account_id)):
        sk = item["sk"]
        if sk == "PROFILE":
            profile = account_from_profile(account_id, item)
        elif sk.startswith("APIKEY#"):
            gateway_keys[sk.removeprefix("APIKEY#")] = api_keys.key_from_item(item)
        elif sk.startswith("KEY#"):
            keys.append(byok_keys.key_from_item({**item, "account_id": account_id}))
        elif sk.startswith(byok_keys.COOLDOWN_PREFIX) and "cooldown_until_ms" in item:
            cooldowns[sk.removeprefix(byok_keys.COOLDOWN_PREFIX)] = int(item["cooldown_until_ms"])
    if profile is None:
        return None
    keys.sort(key=lambda k: (k.created_at, k.key_id))
    return AccountSnapshot(account=profile, api_keys=gateway_keys, keys=keys, key_cooldowns=cooldowns)


def create_account(name: str, credits: Decimal, account_id: str | None = None) -> Account:
    account = Account(
        account_id=account_id or new_account_id(), name=name, credits=to_usd(to_nanos(credits)), created_at=now_iso()
    )
    item = {
        "pk": partition_key(account.account_id),
        "sk": "PROFILE",
        "name": name,
        "credits_nanos": to_nanos(credits),
        "created_at": account.created_at,
        "key_count": 0,
        "holds": {},
    }
    if transact(account.account_id, [{"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}]):
        raise ValueError("this account exists already")
    return account


def to_nanos(usd: Decimal) -> int:
    """Whole nano-USD, rounding towards minus infinity: a sub-nano fraction (catalog prices never produce one)
    makes a charge one nano larger and is dropped from a top-up."""
    return int((usd * NANOS_PER_USD).to_integral_value(rounding=ROUND_FLOOR))


def to_usd(nanos: Any) -> Decimal:
    return Decimal(int(nanos)) / NANOS_PER_USD


def add_credits(account_id: str, amount: Decimal) -> Decimal:
    """Atomically add (or, negative, take) USD credits; returns the balance read right after. KeyError if no
    account. Credits added pay the account's debt first (``pay_debt``); only the rest reaches the balance. The
    account's epoch moves with the credits (after any debt paid), so reused snapshots see both at once."""
    nanos = to_nanos(amount)
    if nanos > 0:
        nanos -= pay_debt(account_id, nanos)
    add = {
        "Key": {"pk": partition_key(account_id), "sk": "PROFILE"},
        "UpdateExpression": "ADD credits_nanos :amount",
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeValues": {":amount": nanos},
    }
    profile = None if transact(account_id, [{"Update": add}]) else profile_item(account_id)
    if profile is None:
        raise KeyError(account_id)
    return to_usd(profile["credits_nanos"])


def pay_debt(account_id: str, nanos: int) -> int:
    """Pay up to ``nanos`` of the account's debt; how much was paid. Each payment is conditional on the debt
    it read, so concurrent payments and new debt never lose a nano. KeyError if no account."""
    while True:
        profile = profile_item(account_id)
        if profile is None:
            raise KeyError(account_id)
        owed = int(profile.get("debt_nanos", 0))
        paid = min(owed, nanos)
        if paid <= 0:
            return 0
        if update_if(
            Key={"pk": partition_key(account_id), "sk": "PROFILE"},
            UpdateExpression="SET debt_nanos = debt_nanos - :paid",
            ConditionExpression="debt_nanos = :owed",
            ExpressionAttributeValues={":paid": paid, ":owed": owed},
        ):
            return paid
        # the debt moved meanwhile: read it again


def update_if(**kwargs: Any) -> bool:
    """One conditional UpdateItem on the accounts table; False (and no change) when its condition fails."""
    try:
        _table().update_item(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def set_shared_limit(account_id: str, limit: dict[str, Any] | None) -> None:
    """Set (or, None, remove) the account's cap on shared-capacity spend. KeyError if no account."""
    update: dict[str, Any] = {
        "Key": {"pk": partition_key(account_id), "sk": "PROFILE"},
        "UpdateExpression": "REMOVE shared_limit",
        "ConditionExpression": "attribute_exists(pk)",
    }
    if limit is not None:
        update |= {"UpdateExpression": "SET shared_limit = :limit", "ExpressionAttributeValues": {":limit": limit}}
    if transact(account_id, [{"Update": update}]):
        raise KeyError(account_id)


def update_attributes(
    account_id: str,
    key: dict[str, str],
    changes: dict[str, Any],
    sets: Sequence[str] = (),
    values: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Apply ``changes`` (attribute -> value, None removes) and the extra ``sets`` (using ``values``) to an
    existing item of the account's partition, moving its epoch (``transact``); the item's attributes read right
    after, or None when the item is gone."""
    set_terms, removes, names, all_values = list(sets), [], {}, dict(values or {})
    for i, (name, value) in enumerate(changes.items()):
        names[f"#f{i}"] = name
        if value is None:
            removes.append(f"#f{i}")
        else:
            set_terms.append(f"#f{i} = :v{i}")
            all_values[f":v{i}"] = value
    parts = ("SET " + ", ".join(set_terms) if set_terms else "", "REMOVE " + ", ".join(removes) if removes else "")
    update: dict[str, Any] = {
        "Key": key,
        "UpdateExpression": " ".join(part for part in parts if part),
        "ConditionExpression": "attribute_exists(pk)",
    }
    if names:
        update["ExpressionAttributeNames"] = names
    if all_values:
        update["ExpressionAttributeValues"] = all_values
    if transact(account_id, [{"Update": update}]):
        return None
    item = _table().get_item(Key=key, ConsistentRead=True).get("Item")
    return None if item is None else dict(item)


def delete_existing(account_id: str, key: dict[str, str]) -> bool:
    """Delete an item of the account's partition, moving its epoch (``transact``); False if it was gone."""
    return not transact(account_id, [{"Delete": {"Key": key, "ConditionExpression": "attribute_exists(pk)"}}])


def transact(account_id: str, operations: list[dict[str, Any]], token: str | None = None) -> list[str]:
    """Run ``operations`` (TransactWriteItems entries on this table, without their TableName) in one transaction
    that also moves the account's epoch (``account_epoch.bump_items``): no instance reuses a snapshot read before
    them. Every write that authentication or routing trusts goes through here. [] when it went through, else the
    cancellation codes (one per entry, the operations' first) of a transaction a condition cancelled; one
    cancelled by a concurrent transaction on the same items is run again; any other failure raises."""
    table_name = get_settings().accounts_table
    items = [{kind: {"TableName": table_name, **spec}} for op in operations for kind, spec in op.items()]
    request: dict[str, Any] = {"TransactItems": items + account_epoch.bump_items(account_id)}
    if token is not None:
        request["ClientRequestToken"] = token
    for attempt in range(CONFLICT_RETRIES):
        try:
            aws.dynamodb().meta.client.transact_write_items(**request)  # the client takes plain Python values
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            codes = [reason.get("Code", "") for reason in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in codes:
                return codes
            if "TransactionConflict" not in codes or attempt == CONFLICT_RETRIES - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 (jitter, not a secret)
            # A cancelled transaction wrote nothing: the next try is a new one (the token covers botocore's own
            # retries of one call, and DynamoDB may answer a reused token with the cancellation it remembers).
            request.pop("ClientRequestToken", None)
            continue
        return []
    return []  # unreachable: the last attempt returns or raises


def counted_write(
    account_id: str,
    operation: dict[str, Any],
    counter: str,
    *,
    limit: int | None = None,
    current: int = 0,
    token: str | None = None,
) -> list[str]:
    """One transaction: ``operation`` (``{"Put": {...}}`` or ``{"Delete": {...}}`` on this table, without its
    TableName) and the profile's ``counter`` moved with it: up by one below ``limit`` for a Put (seeded from
    ``current`` on a profile that never counted), down by one above zero for a Delete; the account's epoch moves
    too (``transact``). [] when it went through, else the cancellation codes (the operation's, the counter's,
    then the epoch's) of a transaction a condition cancelled; any other failure raises."""
    ((kind, _),) = operation.items()
    profile: dict[str, Any] = {"Key": {"pk": partition_key(account_id), "sk": "PROFILE"}}
    if kind == "Put":
        profile |= {
            "UpdateExpression": f"SET {counter} = if_not_exists({counter}, :current) + :one",
            "ConditionExpression": f"attribute_exists(pk) AND ((attribute_not_exists({counter}) AND :current < :limit) "
            f"OR {counter} < :limit)",
            "ExpressionAttributeValues": {":current": current, ":one": 1, ":limit": limit},
        }
    else:
        profile |= {
            "UpdateExpression": f"SET {counter} = {counter} - :one",
            "ConditionExpression": f"{counter} > :zero",
            "ExpressionAttributeValues": {":one": 1, ":zero": 0},
        }
    return transact(account_id, [operation, {"Update": profile}], token)


def profile_item(account_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key={"pk": partition_key(account_id), "sk": "PROFILE"}, ConsistentRead=True).get("Item")
    return None if item is None else dict(item)


def list_accounts() -> list[Account]:
    accounts: list[Account] = []
    kwargs: dict[str, Any] = {"FilterExpression": Attr("sk").eq("PROFILE")}
    while True:
        page = _table().scan(**kwargs)
        for item in page.get("Items", []):
            accounts.append(
                Account(
                    account_id="acct_" + item["pk"].removeprefix("ACCOUNT#acct_"),
                    name=item.get("name", ""),
                    credits=to_usd(item.get("credits_nanos", 0)),
                    created_at=item["created_at"],
                    debt=to_usd(item.get("debt_nanos", 0)),
                )
            )
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(accounts, key=lambda a: a.created_at)
