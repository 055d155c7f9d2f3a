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

from gateway.core.errors import BrokenKey, GatewayError
from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import byok_keys
from gateway.security import crypto
from gateway.security.credential_formats import validate_token_uri
from gateway.security.credentials import (
    ApiKeyCredentials,
    AwsCredentials,
    ServiceAccountCredentials,
    from_plaintext,
)

AnyCredentials = ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials

PLATFORM_TTL_S = 60.0

_lock = threading.Lock()
_decrypted: dict[tuple[str, str, str], tuple[float, AnyCredentials]] = {}
_platform: tuple[float, list[byok_keys.StoredKey]] | None = None
_refreshing = threading.Lock()


def _cache_key(key: byok_keys.StoredKey) -> tuple[str, str, str]:
    return (key.account_id, key.key_id, hashlib.sha256(key.ciphertext).hexdigest())


def resolve(key: byok_keys.StoredKey) -> AnyCredentials:
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


def platform_keys() -> list[byok_keys.StoredKey]:
    """Shared-capacity credentials. Past their lifetime the cached list is still served while one background
    thread reloads it, so no request waits on that read once the process is warm."""
    now = time.monotonic()
    with _lock:
        cached = _platform
    if cached is None:
        return _load_platform_keys()
    if cached[0] <= now and _refreshing.acquire(blocking=False):
        threading.Thread(target=_refresh_platform_keys, name="platform-keys", daemon=True).start()
    return cached[1]


def _load_platform_keys() -> list[byok_keys.StoredKey]:
    global _platform  # noqa: PLW0603
    keys = [k for k in byok_keys.platform_keys() if k.enabled]
    with _lock:
        _platform = (time.monotonic() + PLATFORM_TTL_S, keys)
    return keys


def _refresh_platform_keys() -> None:
    try:
        _load_platform_keys()
    except Exception as exc:  # keep serving the previous list; the next expiry tries again
        logger.warning("platform credentials refresh failed", extra={"error_type": type(exc).__name__})
    finally:
        _refreshing.release()


def clear() -> None:
    global _platform  # noqa: PLW0603
    with _lock:
        _decrypted.clear()
        _platform = None
