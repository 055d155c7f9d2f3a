"""Decrypted credentials, cached per process.

The cache key includes a digest of the ciphertext, so a rotated key misses at once; enabled/deleted state is
not cached at all (it comes from the per-request account Query), so a disabled or deleted key stops being used
on the very next request. A warm request therefore never calls KMS. Platform (shared-capacity) credentials are
listed from DynamoDB at most once per ``PLATFORM_TTL_S``.
"""

from __future__ import annotations

import hashlib
import threading
import time

from gateway import crypto, store
from gateway.credentials import (
    ApiKeyCredentials,
    AwsCredentials,
    ServiceAccountCredentials,
    from_plaintext,
    validate_token_uri,
)
from gateway.errors import BrokenKey, GatewayError
from gateway.settings import get_settings

AnyCredentials = ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials

PLATFORM_TTL_S = 60.0

_lock = threading.Lock()
_decrypted: dict[tuple[str, str, str], tuple[float, AnyCredentials]] = {}
_platform: tuple[float, list[store.StoredKey]] | None = None


def _cache_key(key: store.StoredKey) -> tuple[str, str, str]:
    return (key.account_id, key.key_id, hashlib.sha256(key.ciphertext).hexdigest())


def resolve(key: store.StoredKey) -> AnyCredentials:
    """The usable credentials behind a stored key, or ``BrokenKey`` if they cannot be trusted."""
    cache_key = _cache_key(key)
    now = time.monotonic()
    with _lock:
        hit = _decrypted.get(cache_key)
    if hit and hit[0] > now:
        return hit[1]
    context = crypto.encryption_context(key.account_id, key.key_id, key.provider)
    try:
        credentials = from_plaintext(crypto.decrypt(key.ciphertext, context))
        if isinstance(credentials, ServiceAccountCredentials):
            validate_token_uri(credentials.token_uri)
    except (crypto.DecryptionFailed, ValueError, GatewayError):
        # ValueError covers pydantic's ValidationError, whose text may quote the plaintext: never re-raised.
        raise BrokenKey("stored credentials could not be decrypted or are no longer valid") from None
    ttl = get_settings().credential_cache_ttl_s
    with _lock:
        _decrypted[cache_key] = (now + ttl, credentials)
    return credentials


def platform_keys() -> list[store.StoredKey]:
    global _platform  # noqa: PLW0603 - the process-wide cache of shared-capacity credentials
    now = time.monotonic()
    with _lock:
        cached = _platform
    if cached and cached[0] > now:
        return cached[1]
    keys = [k for k in store.platform_keys() if k.enabled]
    with _lock:
        _platform = (now + PLATFORM_TTL_S, keys)
    return keys


def clear() -> None:
    global _platform  # noqa: PLW0603
    with _lock:
        _decrypted.clear()
        _platform = None
