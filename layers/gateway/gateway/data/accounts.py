"""Data access for the accounts table: accounts, hashed gateway API keys, BYOK and platform credentials.

Single-table design: everything a request needs about its customer lives in one partition
(``ACCOUNT#<id>``), so one strongly consistent Query confirms the caller's key is live, reads its credits and
lists its BYOK keys. A key not yet proven in this process is first checked with one GetItem of its own hash
item, so a wrong secret never costs a read of the partition (see ``authenticate``); on a warm request the Query
is the only DynamoDB read before the upstream call. Only this module touches the accounts table.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from gateway.core import aws
from gateway.core.ids import new_account_id
from gateway.core.settings import get_settings

PLATFORM_ACCOUNT = "platform"
# Balances are stored as whole nano-USD so every atomic ADD is exact integer arithmetic (no decimal exponents).
NANOS_PER_USD = Decimal(1_000_000_000)
API_KEY_PREFIX = "gwk_"
# A BYOK key's cooldown lives next to the key in its account's partition, so the one Query per request that
# loads the keys brings every instance's cooldowns along; expires_at lets DynamoDB TTL remove it.
COOLDOWN_PREFIX = "COOLDOWN#"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pk(account_id: str) -> str:
    return "PLATFORM" if account_id == PLATFORM_ACCOUNT else f"ACCOUNT#{account_id}"


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def account_id_from_api_key(api_key: str) -> str | None:
    """Gateway keys are ``gwk_<account hex>_<secret>``: the account part routes the lookup, the hash proves it."""
    if not api_key.startswith(API_KEY_PREFIX):
        return None
    account_hex, sep, secret = api_key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(account_hex) != 16 or not secret:
        return None
    try:
        int(account_hex, 16)
    except ValueError:
        return None
    return f"acct_{account_hex}"


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


class StoredKey(BaseModel):
    """A BYOK (or platform) credential as stored: metadata in clear, credentials only as ciphertext."""

    model_config = ConfigDict(frozen=True)
    account_id: str
    key_id: str
    provider: str
    name: str | None = None
    enabled: bool = True
    always_use: bool = False
    region: str | None = None
    provisioned_throughput: bool = False
    hint: str
    created_at: str
    updated_at: str
    last_test: dict[str, Any] | None = None
    revision: int = 1
    ciphertext: bytes

    def public(self) -> dict[str, Any]:
        return {
            "id": self.key_id,
            "provider": self.provider,
            "name": self.name,
            "enabled": self.enabled,
            "always_use": self.always_use,
            "region": self.region,
            "provisioned_throughput": self.provisioned_throughput,
            "hint": self.hint,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_test": self.last_test,
        }


@dataclass
class AccountSnapshot:
    account: Account
    api_key_hashes: dict[str, bool] = field(default_factory=dict)  # sha256 -> revoked
    keys: list[StoredKey] = field(default_factory=list)
    key_cooldowns: dict[str, int] = field(default_factory=dict)  # BYOK key id -> end of its cooldown, epoch ms

    def key(self, key_id: str) -> StoredKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)


def _table() -> Any:
    return aws.table(get_settings().accounts_table)


def _plain(value: Any) -> Any:
    """DynamoDB types to Python: Binary to bytes, whole Decimals stay Decimal (credits need exactness)."""
    if hasattr(value, "value") and type(value).__name__ == "Binary":
        return bytes(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key_from_item(item: dict[str, Any]) -> StoredKey:
    data = _plain(item)
    data["revision"] = int(data.get("revision", 1))
    if data.get("last_test") and "latency_ms" in data["last_test"]:
        data["last_test"]["latency_ms"] = int(data["last_test"]["latency_ms"])
        if data["last_test"].get("error") and data["last_test"]["error"].get("status_code") is not None:
            data["last_test"]["error"]["status_code"] = int(data["last_test"]["error"]["status_code"])
    return StoredKey.model_validate(data)


def _query_partition(pk: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(pk), "ConsistentRead": True}
    while True:
        page = _table().query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def load_account(account_id: str) -> AccountSnapshot | None:
    profile: Account | None = None
    hashes: dict[str, bool] = {}
    keys: list[StoredKey] = []
    cooldowns: dict[str, int] = {}
    for item in _query_partition(_pk(account_id)):
        sk = item["sk"]
        if sk == "PROFILE":
            profile = Account(
                account_id=account_id,
                name=item.get("name", ""),
                # Holds past their expiry belong to requests that can no longer be running: their amount is
                # available again (``credits.reserve`` releases them for real when it needs the room).
                credits=to_usd(int(item.get("credits_nanos", 0)) + sum(expired_holds(item).values())),
                created_at=item["created_at"],
                debt=to_usd(item.get("debt_nanos", 0)),
                key_count=None if item.get("key_count") is None else int(item["key_count"]),
            )
        elif sk.startswith("APIKEY#"):
            hashes[sk.removeprefix("APIKEY#")] = bool(item.get("revoked", False))
        elif sk.startswith("KEY#"):
            keys.append(_key_from_item({**item, "account_id": account_id}))
        elif sk.startswith(COOLDOWN_PREFIX) and "cooldown_until_ms" in item:
            cooldowns[sk.removeprefix(COOLDOWN_PREFIX)] = int(item["cooldown_until_ms"])
    if profile is None:
        return None
    keys.sort(key=lambda k: (k.created_at, k.key_id))
    return AccountSnapshot(account=profile, api_key_hashes=hashes, keys=keys, key_cooldowns=cooldowns)


# sha256 of a gateway key -> (expiry, account id), for keys this process has seen proven. Bounded: a key that
# falls out is simply proven again.
_proven: dict[str, tuple[float, str]] = {}
_proven_lock = threading.Lock()
PROVEN_KEYS_MAX = 4096


def authenticate(api_key: str) -> AccountSnapshot | None:
    """The caller's account when ``api_key`` is a live gateway key, else None (never says which part failed).

    A wrong secret costs one GetItem of one small item (``APIKEY#<sha256>``), whatever the account holds; only
    a key proven that way gets its account partition read. A process remembers proven keys (by hash) for
    ``AUTH_CACHE_TTL_S``, so a warm request makes just the partition Query, which still carries every gateway
    key's revoked flag: revocation takes effect on the very next request, cached or not.
    """
    account_id = account_id_from_api_key(api_key)
    if account_id is None:
        return None
    digest = hash_api_key(api_key)
    if not _is_proven(digest, account_id):
        item = _table().get_item(Key={"pk": _pk(account_id), "sk": f"APIKEY#{digest}"}, ConsistentRead=True).get("Item")
        if item is None or item.get("revoked", False):
            return None
        _remember(digest, account_id)
    snapshot = load_account(account_id)
    live = snapshot is not None and any(
        hmac.compare_digest(digest, stored) and not revoked for stored, revoked in snapshot.api_key_hashes.items()
    )
    if not live:
        _forget(digest)
        return None
    return snapshot


def _is_proven(digest: str, account_id: str) -> bool:
    with _proven_lock:
        hit = _proven.get(digest)
    return hit is not None and hit[0] > time.monotonic() and hit[1] == account_id


def _remember(digest: str, account_id: str) -> None:
    ttl = get_settings().auth_cache_ttl_s
    if ttl <= 0:
        return
    with _proven_lock:
        if len(_proven) >= PROVEN_KEYS_MAX:
            _proven.pop(next(iter(_proven)))  # the oldest entry
        _proven[digest] = (time.monotonic() + ttl, account_id)


def _forget(digest: str) -> None:
    with _proven_lock:
        _proven.pop(digest, None)


def clear_auth_cache() -> None:
    with _proven_lock:
        _proven.clear()


# --- accounts (admin CLI) ---------------------------------------------------------------------------------


def create_account(name: str, credits: Decimal, account_id: str | None = None) -> Account:
    account = Account(
        account_id=account_id or new_account_id(), name=name, credits=to_usd(to_nanos(credits)), created_at=now_iso()
    )
    _table().put_item(
        Item={
            "pk": _pk(account.account_id),
            "sk": "PROFILE",
            "name": name,
            "credits_nanos": to_nanos(credits),
            "created_at": account.created_at,
            "key_count": 0,
            "holds": {},
        },
        ConditionExpression=Attr("pk").not_exists(),
    )
    return account


def create_api_key(account_id: str, api_key: str | None = None) -> str:
    """Mint a gateway API key for an account; only its hash is stored. ``api_key`` pins it (dev stack)."""
    key = api_key or f"{API_KEY_PREFIX}{account_id.removeprefix('acct_')}_{secrets.token_urlsafe(32)}"
    if account_id_from_api_key(key) != account_id:
        raise ValueError("api key does not belong to the account")
    _table().put_item(
        Item={
            "pk": _pk(account_id),
            "sk": f"APIKEY#{hash_api_key(key)}",
            "created_at": now_iso(),
            "revoked": False,
        }
    )
    return key


def api_key_fingerprint(digest: str) -> str:
    """What an operator sees of a gateway key: a prefix of its hash (the key itself is never stored)."""
    return digest[:16]


def list_api_keys(account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "fingerprint": api_key_fingerprint(item["sk"].removeprefix("APIKEY#")),
            "created_at": item.get("created_at"),
            "revoked": bool(item.get("revoked", False)),
        }
        for item in _query_partition(_pk(account_id))
        if item["sk"].startswith("APIKEY#")
    ]


def revoke_api_key(account_id: str, fingerprint: str) -> bool:
    """Revoke the account's gateway key with this fingerprint; False if none (or several) match."""
    matches = [
        item["sk"]
        for item in _query_partition(_pk(account_id))
        if item["sk"].startswith("APIKEY#") and api_key_fingerprint(item["sk"].removeprefix("APIKEY#")) == fingerprint
    ]
    if len(matches) != 1:
        return False
    _table().update_item(
        Key={"pk": _pk(account_id), "sk": matches[0]},
        UpdateExpression="SET revoked = :t",
        ExpressionAttributeValues={":t": True},
    )
    return True


def to_nanos(usd: Decimal) -> int:
    """Whole nano-USD, rounding towards minus infinity: a sub-nano fraction (catalog prices never produce one)
    makes a charge one nano larger and is dropped from a top-up."""
    return int((usd * NANOS_PER_USD).to_integral_value(rounding=ROUND_FLOOR))


def to_usd(nanos: Any) -> Decimal:
    return Decimal(int(nanos)) / NANOS_PER_USD


def add_credits(account_id: str, amount: Decimal) -> Decimal:
    """Atomically add (or, negative, take) USD credits; returns the new balance. KeyError if no account.
    Credits added pay the account's debt first (``pay_debt``); only the rest reaches the balance."""
    nanos = to_nanos(amount)
    if nanos > 0:
        nanos -= pay_debt(account_id, nanos)
    try:
        result = _table().update_item(
            Key={"pk": _pk(account_id), "sk": "PROFILE"},
            UpdateExpression="ADD credits_nanos :amount",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeValues={":amount": nanos},
            ReturnValues="ALL_NEW",  # adding 0 (all of it paid debt) updates nothing UPDATED_NEW would show
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise KeyError(account_id) from None
        raise
    return to_usd(result["Attributes"]["credits_nanos"])


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
        if _update_if(
            Key={"pk": _pk(account_id), "sk": "PROFILE"},
            UpdateExpression="SET debt_nanos = debt_nanos - :paid",
            ConditionExpression="debt_nanos = :owed",
            ExpressionAttributeValues={":paid": paid, ":owed": owed},
        ):
            return paid
        # the debt moved meanwhile: read it again


def _update_if(**kwargs: Any) -> bool:
    """One conditional UpdateItem on the accounts table; False (and no change) when its condition fails."""
    try:
        _table().update_item(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- credit holds (see gateway.billing.credits) -----------------------------------------------------------------
#
# A hold is an entry of the profile's ``holds`` map, {hold id: {"nanos", "expires_at"}}, written in the same
# conditional update that takes its amount off ``credits_nanos``: the balance never counts money a request in
# flight may still spend, and no update can take it below zero.


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
        "Key": {"pk": _pk(account_id), "sk": "PROFILE"},
        "UpdateExpression": "SET credits_nanos = credits_nanos - :n, holds.#h = :hold",
        "ConditionExpression": "credits_nanos >= :n",
        "ExpressionAttributeNames": {"#h": hold_id},
        "ExpressionAttributeValues": {":n": nanos, ":hold": {"nanos": nanos, "expires_at": expires_at}},
    }
    try:
        _table().update_item(**kwargs)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
            return False
        if code != "ValidationException":
            raise
        # A profile written before holds existed has no map to add to: give it one, then try again.
        _table().update_item(
            Key={"pk": _pk(account_id), "sk": "PROFILE"},
            UpdateExpression="SET holds = if_not_exists(holds, :empty)",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeValues={":empty": {}},
        )
        return hold_credits(account_id, hold_id, nanos, expires_at)
    return True


def close_hold(account_id: str, hold_id: str, refund_nanos: int) -> bool:
    """Remove a hold, giving ``refund_nanos`` back (negative: taking that much more, only if the balance covers
    it). False if the hold was already closed, or the extra is not covered (then nothing changes)."""
    return _update_if(
        Key={"pk": _pk(account_id), "sk": "PROFILE"},
        UpdateExpression="SET credits_nanos = credits_nanos + :refund REMOVE holds.#h",
        ConditionExpression="attribute_exists(holds.#h) AND credits_nanos >= :extra",
        ExpressionAttributeNames={"#h": hold_id},
        ExpressionAttributeValues={":refund": refund_nanos, ":extra": max(0, -refund_nanos)},
    )


def take_credits(account_id: str, nanos: int) -> bool:
    """Take ``nanos`` off the balance only if it covers them; False (and no change) otherwise."""
    return _update_if(
        Key={"pk": _pk(account_id), "sk": "PROFILE"},
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
        profile = profile_item(account_id)
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
        if _update_if(
            Key={"pk": _pk(account_id), "sk": "PROFILE"},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues={":balance": balance, ":taken": taken, ":owed": nanos - taken, ":zero": 0},
            **kwargs,
        ):
            return True
        # the balance moved, or the hold closed: read again


def profile_item(account_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key={"pk": _pk(account_id), "sk": "PROFILE"}, ConsistentRead=True).get("Item")
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


# --- credentials (BYOK and platform) ------------------------------------------------------------------------


class KeyLimitReached(Exception):
    """The account already holds its maximum number of BYOK keys."""


def _cancel_codes(exc: ClientError) -> list[str]:
    return [reason.get("Code", "") for reason in exc.response.get("CancellationReasons", [])]


def put_key(key: StoredKey, *, limit: int, current_count: int) -> None:
    """Store a new key and count it on the profile in one transaction, so parallel creates cannot exceed
    ``limit``. ``current_count`` (the keys the caller's snapshot holds) seeds the count on a profile written
    before it existed. Raises ``KeyLimitReached``.

    Idempotent under botocore's retries: the transaction carries a client token (DynamoDB answers a replay
    within ten minutes as a success), and a replay that still finds the key written by its first try is that
    success too: the key id is fresh, so only this call can have written a key with it.
    """
    item = key.model_dump(exclude={"account_id"}, exclude_none=True)
    item.update({"pk": _pk(key.account_id), "sk": f"KEY#{key.key_id}"})
    table_name = get_settings().accounts_table
    client = aws.dynamodb().meta.client  # the resource's client takes and returns plain Python values
    try:
        client.transact_write_items(
            ClientRequestToken=key.key_id,
            TransactItems=[
                {
                    "Put": {
                        "TableName": table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": {"pk": _pk(key.account_id), "sk": "PROFILE"},
                        "UpdateExpression": "SET key_count = if_not_exists(key_count, :current) + :one",
                        "ConditionExpression": "attribute_exists(pk) AND "
                        "((attribute_not_exists(key_count) AND :current < :limit) OR key_count < :limit)",
                        "ExpressionAttributeValues": {":current": current_count, ":one": 1, ":limit": limit},
                    }
                },
            ],
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        codes = _cancel_codes(exc)
        if codes and codes[0] == "ConditionalCheckFailed" and _is_stored(key):
            return  # a retry of a create whose first try went through
        if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            raise KeyLimitReached from None
        raise


def _is_stored(key: StoredKey) -> bool:
    existing = (
        _table().get_item(Key={"pk": _pk(key.account_id), "sk": f"KEY#{key.key_id}"}, ConsistentRead=True).get("Item")
    )
    return existing is not None and _plain(existing.get("ciphertext")) == key.ciphertext


def replace_platform_key(key: StoredKey) -> None:
    item = key.model_dump(exclude={"account_id"}, exclude_none=True)
    item.update({"pk": _pk(PLATFORM_ACCOUNT), "sk": f"KEY#{key.key_id}"})
    _table().put_item(Item=item)


def update_key(account_id: str, key_id: str, changes: dict[str, Any]) -> StoredKey | None:
    """Apply ``changes`` (attribute -> value, None removes) and bump the revision; None if the key is gone."""
    sets = ["updated_at = :updated_at", "revision = if_not_exists(revision, :zero) + :one"]
    removes: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {":updated_at": now_iso(), ":zero": 0, ":one": 1}
    for i, (name, value) in enumerate(changes.items()):
        names[f"#f{i}"] = name
        if value is None:
            removes.append(f"#f{i}")
        else:
            sets.append(f"#f{i} = :v{i}")
            values[f":v{i}"] = value
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    kwargs: dict[str, Any] = {
        "Key": {"pk": _pk(account_id), "sk": f"KEY#{key_id}"},
        "UpdateExpression": expression,
        "ConditionExpression": Attr("pk").exists(),
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    try:
        result = _table().update_item(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    item = result["Attributes"]
    item["account_id"] = account_id
    return _key_from_item(item)


def record_key_test(account_id: str, key_id: str, last_test: dict[str, Any], revision: int) -> bool:
    """Store a test result unless the key was deleted or rotated meanwhile (the result would be stale)."""
    try:
        _table().update_item(
            Key={"pk": _pk(account_id), "sk": f"KEY#{key_id}"},
            UpdateExpression="SET last_test = :t",
            ConditionExpression=Attr("pk").exists() & Attr("revision").eq(revision),
            ExpressionAttributeValues={":t": last_test},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def delete_key(account_id: str, key_id: str, *, counted: bool = True) -> bool:
    """Delete a key and uncount it in one transaction; False if it was already gone. ``counted`` is False for a
    profile that predates the count (the next create seeds it from the keys that are left)."""
    if not counted:
        try:
            _table().delete_item(
                Key={"pk": _pk(account_id), "sk": f"KEY#{key_id}"}, ConditionExpression=Attr("pk").exists()
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
    table_name = get_settings().accounts_table
    try:
        aws.dynamodb().meta.client.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": table_name,
                        "Key": {"pk": _pk(account_id), "sk": f"KEY#{key_id}"},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": {"pk": _pk(account_id), "sk": "PROFILE"},
                        "UpdateExpression": "SET key_count = key_count - :one",
                        "ConditionExpression": "key_count > :zero",
                        "ExpressionAttributeValues": {":one": 1, ":zero": 0},
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        codes = _cancel_codes(exc)
        if codes and codes[0] == "ConditionalCheckFailed":
            return False
        if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            # The count says zero while a key exists (it was reseeded from a stale snapshot): delete anyway.
            return delete_key(account_id, key_id, counted=False)
        raise
    return True


def record_key_cooldown(account_id: str, key_id: str, until_ms: int, expires_at: int) -> None:
    """Put a BYOK key in cooldown until ``until_ms`` (epoch ms), unless a longer cooldown is already recorded.

    Called from a background thread: the resource's client, unlike the Table resource, is thread-safe.
    """
    try:
        aws.dynamodb().meta.client.update_item(
            TableName=get_settings().accounts_table,
            Key={"pk": _pk(account_id), "sk": f"{COOLDOWN_PREFIX}{key_id}"},
            UpdateExpression="SET cooldown_until_ms = :until, expires_at = :exp",
            ConditionExpression="attribute_not_exists(cooldown_until_ms) OR cooldown_until_ms < :until",
            ExpressionAttributeValues={":until": until_ms, ":exp": expires_at},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def platform_keys() -> list[StoredKey]:
    keys = []
    for item in _query_partition(_pk(PLATFORM_ACCOUNT)):
        if item["sk"].startswith("KEY#"):
            item["account_id"] = PLATFORM_ACCOUNT
            keys.append(_key_from_item(item))
    return keys
