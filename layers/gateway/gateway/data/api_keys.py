"""Hashed gateway API keys in the accounts table: authenticate (with its proven-key cache), create, list, revoke.

A key not yet proven in this process is first checked with one GetItem of its own hash item, so a wrong secret
never costs a read of the partition (see ``authenticate``); on a warm request the partition Query
(``accounts.load_account``) is the only DynamoDB read before the upstream call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from gateway.core.settings import get_settings
from gateway.data import accounts

API_KEY_PREFIX = "gwk_"


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


# sha256 of a gateway key -> (expiry, account id), for keys this process has seen proven. Bounded: a key that
# falls out is simply proven again.
_proven: dict[str, tuple[float, str]] = {}
_proven_lock = threading.Lock()
PROVEN_KEYS_MAX = 4096


def authenticate(api_key: str) -> accounts.AccountSnapshot | None:
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
        item = (
            accounts._table()
            .get_item(Key={"pk": accounts.partition_key(account_id), "sk": f"APIKEY#{digest}"}, ConsistentRead=True)
            .get("Item")
        )
        if item is None or item.get("revoked", False):
            return None
        _remember(digest, account_id)
    snapshot = accounts.load_account(account_id)
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


def create_api_key(account_id: str, api_key: str | None = None) -> str:
    """Mint a gateway API key for an account; only its hash is stored. ``api_key`` pins it (dev stack)."""
    key = api_key or f"{API_KEY_PREFIX}{account_id.removeprefix('acct_')}_{secrets.token_urlsafe(32)}"
    if account_id_from_api_key(key) != account_id:
        raise ValueError("api key does not belong to the account")
    accounts._table().put_item(
        Item={
            "pk": accounts.partition_key(account_id),
            "sk": f"APIKEY#{hash_api_key(key)}",
            "created_at": accounts.now_iso(),
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
    accounts._table().update_item(
        Key={"pk": accounts.partition_key(account_id), "sk": matches[0]},
        UpdateExpression="SET revoked = :t",
        ExpressionAttributeValues={":t": True},
    )
    return True
