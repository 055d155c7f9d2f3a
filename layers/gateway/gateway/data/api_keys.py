"""Hashed gateway API keys in the accounts table: authenticate (with its proven-key cache), create, list, revoke.

A key not yet proven in this process is first checked with one GetItem of its own hash item, so a wrong secret
never costs a read of the partition (see ``authenticate``); on a warm request the partition Query
(``accounts.load_account``) is the only DynamoDB read before the upstream call, or, for a model request with
``ACCOUNT_CACHE_MS`` set, one GetItem of an epoch replica while the instance's snapshot is current
(``gateway.data.account_cache``). Every change of a key's settings moves the account's epoch (``accounts.transact``);
counters (rate slots, ``last_used_at``) do not: their writes are conditional on the stored item.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import account_cache, accounts

API_KEY_PREFIX = "gwk_"
API_KEY_ID_PREFIX = "ak_"
# ``last_used_at`` is written at most this often per key (and off the request's path), not on every request.
LAST_USED_RESOLUTION_S = 60
RATE_WINDOW_S = 60
WINDOW_FULL = -1  # in the slot book: this minute's slots are all taken
RATE_BATCH_SHARE = 20  # an instance takes at most 1/20 of a key's per-minute limit in one write


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


class ApiKey(BaseModel):
    """A gateway API key as stored (``APIKEY#<sha256>`` in its account's partition): settings and counters only,
    never the key itself. Its id is derived from the hash, so keys minted before ids existed have one too."""

    model_config = ConfigDict(frozen=True)
    digest: str
    name: str | None = None
    # A key written before management existed was its account's only key, and managed it: it keeps that right.
    management: bool = True
    hint: str | None = None
    rate_limit_rpm: int | None = None
    limit: dict[str, Any] | None = None  # {"usd", "period", "include_byok"}: see gateway.billing.budgets
    allowed_models: list[str] | None = None
    expires_at: str | None = None
    created_at: str | None = None
    last_used_at: str | None = None
    revoked: bool = False
    rate_window: int = 0  # the epoch minute ``rate_count`` counts requests of
    rate_count: int = 0

    @property
    def id(self) -> str:
        return f"{API_KEY_ID_PREFIX}{api_key_fingerprint(self.digest)}"

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return datetime.fromisoformat(self.expires_at.replace("Z", "+00:00")) <= (now or datetime.now(UTC))

    def public(self, spent: float = 0.0) -> dict[str, Any]:
        """The key object; ``spent`` (USD in the current period of its limit) comes from the account's counters."""
        limit = None
        if self.limit is not None:
            limit = {**self.limit, "usd": float(self.limit["usd"]), "include_byok": bool(self.limit["include_byok"])}
        return {
            "id": self.id,
            "name": self.name,
            "management": self.management,
            "hint": self.hint,
            "limit": limit,
            "spent": spent,
            "rate_limit_rpm": self.rate_limit_rpm,
            "allowed_models": self.allowed_models,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


def key_from_item(item: dict[str, Any]) -> ApiKey:
    data = accounts.plain(item)
    for name in ("rate_limit_rpm", "rate_window", "rate_count"):
        if data.get(name) is not None:
            data[name] = int(data[name])
    return ApiKey.model_validate({**data, "digest": item["sk"].removeprefix("APIKEY#")})


# sha256 of a gateway key -> (expiry, account id), for keys this process has seen proven. Bounded: a key that
# falls out is simply proven again.
_proven: dict[str, tuple[float, str]] = {}
_proven_lock = threading.Lock()
_rate_lock = threading.Lock()
_rate_slots: dict[str, tuple[int, int]] = {}  # "<account>/<key digest>" -> (minute window, slots left to spend)
_rate_key_locks: dict[str, threading.Lock] = {}
# sha256 of a gateway key -> the ``last_used_at`` this process stamped: a reused snapshot still shows the older one.
_stamped: dict[str, str] = {}
PROVEN_KEYS_MAX = 4096


def authenticate(api_key: str, *, note_use: bool = False, reuse: bool = False) -> accounts.AccountSnapshot | None:
    """The caller's account when ``api_key`` is a live gateway key, else None (never says which part failed).

    A wrong secret costs one GetItem of one small item (``APIKEY#<sha256>``), whatever the account holds; only
    a key proven that way gets its account partition read. A process remembers proven keys (by hash) for
    ``AUTH_CACHE_TTL_S``, so a warm request makes just the partition Query, which still carries every gateway
    key's item: a deleted, revoked or expired key is refused on the very next request, cached or not.
    ``reuse`` (model requests) takes the snapshot from the instance's cache (``account_cache.load``, keyed by the
    proven key's account), which is as current as the Query for every key change: they all move the epoch it
    checks. ``note_use`` renews the key's ``last_used_at`` (see ``_note_use``).
    """
    account_id = account_id_from_api_key(api_key)
    if account_id is None:
        return None
    digest = hash_api_key(api_key)
    if not _is_proven(digest, account_id):
        item = (
            accounts._table()
            .get_item(Key={"pk": accounts.partition_key(account_id), "sk": f"APIKEY#{digest}"}, ConsistentRead=True)
            .get("Item")
        )
        if item is None or item.get("revoked", False):
            return None
        _remember(digest, account_id)
    snapshot = account_cache.load(account_id) if reuse else accounts.load_account(account_id)
    caller = None
    if snapshot is not None:
        caller = next((k for stored, k in snapshot.api_keys.items() if hmac.compare_digest(digest, stored)), None)
    if snapshot is None or caller is None or caller.revoked:
        _forget(digest)
        return None
    if caller.expired():
        return None
    snapshot.caller = caller
    if note_use:  # a model request (its function may write the key's item)
        _note_use(account_id, caller)
    return snapshot


def _note_use(account_id: str, key: ApiKey) -> None:
    """Keep ``last_used_at`` to within ``LAST_USED_RESOLUTION_S`` without a write per request: the key's item
    (read with the partition anyway) says when it was last stamped; only a stamp older than that is renewed, by
    one conditional write on a background thread (so never before the upstream), which concurrent instances
    cannot repeat within the resolution."""
    now = datetime.now(UTC)
    cutoff = (now - timedelta(seconds=LAST_USED_RESOLUTION_S)).isoformat(timespec="milliseconds")
    cutoff = cutoff.replace("+00:00", "Z")
    with _proven_lock:
        last_used = max(key.last_used_at or "", _stamped.get(key.digest, ""))
    if last_used > cutoff:
        return
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with _proven_lock:
        if len(_stamped) >= PROVEN_KEYS_MAX:
            _stamped.pop(next(iter(_stamped)))
        _stamped[key.digest] = stamp
    threading.Thread(target=_stamp_use, args=(account_id, key.digest, stamp, cutoff), daemon=True).start()


def _stamp_use(account_id: str, digest: str, stamp: str, cutoff: str) -> None:
    try:  # the resource's client, unlike the Table resource, is thread-safe
        aws.dynamodb().meta.client.update_item(
            TableName=get_settings().accounts_table,
            Key={"pk": accounts.partition_key(account_id), "sk": f"APIKEY#{digest}"},
            UpdateExpression="SET last_used_at = :now",
            ConditionExpression="attribute_exists(pk) AND "
            "(attribute_not_exists(last_used_at) OR last_used_at < :cutoff)",
            ExpressionAttributeValues={":now": stamp, ":cutoff": cutoff},
        )
    except Exception:  # a lost stamp only makes last_used_at older; the next request renews it
        return


def take_rate_slot(account_id: str, key: ApiKey, now: float | None = None) -> int | None:
    """Count one request against ``key.rate_limit_rpm`` in the current minute; None when it fits, else the
    seconds until the window ends (the ``retry-after``). Shared by every instance: slots are taken from the key's
    item by conditional writes (no read of their own: the authentication read brought the counters), a batch of
    up to 1/``RATE_BATCH_SHARE`` of the limit at a time, so a busy key costs one write per batch, not per request.
    An instance spends its batch in this window only; what it has not spent when the minute ends is lost, so
    instances together never pass the limit, and at worst one refuses while another holds a few unspent slots.
    Once the window is full, this instance refuses its other requests of that minute without a write."""
    limit = key.rate_limit_rpm
    if limit is None:
        return None
    now = clock() if now is None else now
    window = int(now // RATE_WINDOW_S)
    retry_after = max(1, int((window + 1) * RATE_WINDOW_S - now + 0.999))
    if limit <= 0:
        return retry_after
    book_key = f"{account_id}/{key.digest}"  # the authenticated key, never a value the caller typed
    with _rate_lock:
        key_lock = _rate_key_locks.setdefault(book_key, threading.Lock())
    with key_lock:  # one taker per key in this process: a slot taken is spent here before anyone refuses
        with _rate_lock:
            held_window, left = _rate_slots.get(book_key, (window, 0))
        if held_window == window and left == WINDOW_FULL:
            return retry_after  # slots never come back within a minute: refused without a write
        if held_window != window or left == 0:
            left = _take_slots(account_id, key, window, limit)
            if left == 0:
                with _rate_lock:
                    _rate_slots[book_key] = (window, WINDOW_FULL)
                return retry_after
        with _rate_lock:
            _rate_slots[book_key] = (window, left - 1)
            if len(_rate_slots) > PROVEN_KEYS_MAX:  # bounded: slots of past minutes are worth nothing
                for stale in [k for k, (w, _) in _rate_slots.items() if w != window]:
                    del _rate_slots[stale], _rate_key_locks[stale]
    return None


def _take_slots(account_id: str, key: ApiKey, window: int, limit: int) -> int:
    """Slots taken for ``window`` on the key's item: a batch, else one, else 0 (the window is full)."""
    item_key = {"pk": accounts.partition_key(account_id), "sk": f"APIKEY#{key.digest}"}
    want = max(1, limit // RATE_BATCH_SHARE)
    same_window = key.rate_window == window
    for _ in range(3):
        if not same_window:
            if accounts.update_if(
                Key=item_key,
                UpdateExpression="SET rate_window = :w, rate_count = :n",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(rate_window) OR rate_window < :w)",
                ExpressionAttributeValues={":n": want, ":w": window},
            ):
                return want
            same_window = True  # another instance opened this window meanwhile: count in it
            continue
        if accounts.update_if(
            Key=item_key,
            UpdateExpression="SET rate_count = rate_count + :n",
            ConditionExpression="attribute_exists(pk) AND rate_window = :w AND rate_count <= :room",
            ExpressionAttributeValues={":n": want, ":w": window, ":room": limit - want},
        ):
            return want
        if want == 1:
            return 0  # the window is full
        want = 1  # fewer than a batch left: one at a time
    return 0


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
        _stamped.clear()
    account_cache.clear()
    with _rate_lock:
        _rate_slots.clear()
        _rate_key_locks.clear()


def clock() -> float:
    """Epoch seconds for rate windows (a test moves it instead of waiting a minute)."""
    return time.time()


class ApiKeyLimitReached(Exception):
    """The account already holds ``MAX_API_KEYS_PER_ACCOUNT`` gateway keys."""


def create_api_key(account_id: str, api_key: str | None = None, settings: dict[str, Any] | None = None) -> str:
    """Mint a key for an account (``make admin``): a management key unless ``settings`` says otherwise;
    ``api_key`` pins it (dev stack)."""
    current = sum(
        1 for item in accounts.query_partition(accounts.partition_key(account_id)) if item["sk"].startswith("APIKEY#")
    )
    key, _ = mint_api_key(account_id, {"management": True, **(settings or {})}, current_count=current, api_key=api_key)
    return key


def mint_api_key(
    account_id: str, settings: dict[str, Any], *, current_count: int, api_key: str | None = None
) -> tuple[str, ApiKey]:
    """Store a new gateway key (only its hash) with ``settings`` and count it on the profile in one transaction,
    so parallel creates cannot pass ``MAX_API_KEYS_PER_ACCOUNT``; ``current_count`` seeds a profile written
    before the count existed. Returns the key, shown this once, and what was stored. Raises
    ``ApiKeyLimitReached``."""
    key = api_key or f"{API_KEY_PREFIX}{account_id.removeprefix('acct_')}_{secrets.token_urlsafe(32)}"
    if account_id_from_api_key(key) != account_id:
        raise ValueError("api key does not belong to the account")
    digest = hash_api_key(key)
    item = {k: v for k, v in settings.items() if v is not None}
    item.update(
        {
            "pk": accounts.partition_key(account_id),
            "sk": f"APIKEY#{digest}",
            "hint": f"{API_KEY_PREFIX}...{key[-4:]}",
            "created_at": accounts.now_iso(),
            "revoked": False,
        }
    )
    put = {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
    limit = get_settings().max_api_keys_per_account
    codes = accounts.counted_write(account_id, put, "api_key_count", limit=limit, current=current_count)
    if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
        raise ApiKeyLimitReached
    if codes:
        raise ValueError("this gateway key exists already")
    return key, key_from_item(item)


def update_api_key(account_id: str, digest: str, changes: dict[str, Any]) -> ApiKey | None:
    """Apply ``changes`` (attribute -> value, None removes; at least one); None if the key is gone."""
    key = {"pk": accounts.partition_key(account_id), "sk": f"APIKEY#{digest}"}
    item = accounts.update_attributes(account_id, key, changes)
    return None if item is None else key_from_item(item)


def delete_api_key(account_id: str, digest: str) -> bool:
    """Delete a key (the next request with it is refused: authentication rechecks the key's item on every
    request) and uncount it; False if it was already gone."""
    key = {"pk": accounts.partition_key(account_id), "sk": f"APIKEY#{digest}"}
    codes = accounts.counted_write(
        account_id, {"Delete": {"Key": key, "ConditionExpression": "attribute_exists(pk)"}}, "api_key_count"
    )
    if codes and codes[0] == "ConditionalCheckFailed":
        return False
    if codes:  # a profile that never counted its keys
        return accounts.delete_existing(account_id, key)
    return True


def api_key_fingerprint(digest: str) -> str:
    """What an operator sees of a gateway key: a prefix of its hash (the key itself is never stored)."""
    return digest[:16]


def list_api_keys(account_id: str) -> list[dict[str, Any]]:
    return [
        {
            **key_from_item(item).public(),
            "fingerprint": api_key_fingerprint(item["sk"].removeprefix("APIKEY#")),
            "revoked": bool(item.get("revoked", False)),
        }
        for item in accounts.query_partition(accounts.partition_key(account_id))
        if item["sk"].startswith("APIKEY#")
    ]


def revoke_api_key(account_id: str, fingerprint: str) -> bool:
    """Revoke the account's gateway key with this fingerprint; False if none (or several) match."""
    matches = [
        item["sk"]
        for item in accounts.query_partition(accounts.partition_key(account_id))
        if item["sk"].startswith("APIKEY#") and api_key_fingerprint(item["sk"].removeprefix("APIKEY#")) == fingerprint
    ]
    if len(matches) != 1:
        return False
    revoke = {
        "Key": {"pk": accounts.partition_key(account_id), "sk": matches[0]},
        "UpdateExpression": "SET revoked = :t",
        "ExpressionAttributeValues": {":t": True},
    }
    return not accounts.transact(account_id, [{"Update": revoke}])
