"""Vertex access tokens from a stored service account, via google-auth over the shared transport.

Tokens are cached in memory until five minutes before they expire, keyed by what only the rightful owner has:
who stored the key (``Target.owner``: account and key id) and a digest of the whole key material, private key
included, plus the token endpoint and scopes. Never by ``client_email`` / ``private_key_id`` alone: anyone can
type those, and a customer storing a victim's email and key id with a key of their own must mint (and fail) its
own token, not be handed the victim's. The token endpoint
is re-checked against the allowlist before every fetch (the allowlist can change between deploys), requests go
through ``gateway.providers.transport`` (shared pool, no redirects, the caller's timeout), and google-auth's own retry
loop is cut short: the routing loop owns retries and the deadline.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx

from gateway.core.settings import get_settings
from gateway.providers import transport
from gateway.providers.base import AttemptFailed, Outcome
from gateway.security.credentials import ServiceAccountCredentials

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN_S = 300.0

CacheKey = tuple[str, str, str, tuple[str, ...]]

_tokens: dict[CacheKey, tuple[str, float]] = {}
_locks: dict[CacheKey, threading.Lock] = {}
_registry_lock = threading.Lock()


def access_token(credentials: ServiceAccountCredentials, timeout: float, *, owner: str) -> str:
    """A valid OAuth access token for ``credentials`` stored by ``owner``. Raises AttemptFailed; never includes
    a secret."""
    if credentials.token_uri not in get_settings().token_uri_allowlist:
        raise AttemptFailed("service account token_uri is not an allowed token endpoint")
    key = _cache_key(credentials, owner)
    with _registry_lock:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        cached = _tokens.get(key)
        if cached is not None and cached[1] - REFRESH_MARGIN_S > time.time():
            return cached[0]
        token, expires_at = _fetch(credentials, timeout)
        _tokens[key] = (token, expires_at)
        return token


def reset() -> None:
    with _registry_lock:
        _tokens.clear()
        _locks.clear()


def _cache_key(credentials: ServiceAccountCredentials, owner: str) -> CacheKey:
    material = json.dumps(credentials.google_info(), sort_keys=True, separators=(",", ":")).encode()
    return owner, hashlib.sha256(material).hexdigest(), credentials.token_uri, SCOPES


def _fetch(credentials: ServiceAccountCredentials, timeout: float) -> tuple[str, float]:
    from google.auth import exceptions
    from google.oauth2 import service_account

    try:
        sa = service_account.Credentials.from_service_account_info(credentials.google_info(), scopes=list(SCOPES))
    except (ValueError, TypeError):
        raise AttemptFailed("service account key could not be loaded") from None
    request = _TransportRequest(credentials.token_uri, timeout)
    try:
        sa.refresh(request)
    except _TokenEndpointError as exc:
        raise AttemptFailed(exc.message, status_code=exc.status_code, outcome=exc.outcome) from None
    except exceptions.GoogleAuthError:
        status = request.last_status
        raise AttemptFailed("token endpoint refused the service account", status_code=status) from None
    token = sa.token
    if not isinstance(token, str) or not token:
        raise AttemptFailed("token endpoint returned no access token", status_code=request.last_status)
    expiry = sa.expiry
    if expiry is None:
        return token, time.time() + 3600
    if expiry.tzinfo is None:  # google-auth keeps expiry as naive UTC
        expiry = expiry.replace(tzinfo=UTC)
    return token, expiry.timestamp()


class _TokenEndpointError(Exception):
    def __init__(self, message: str, status_code: int | None, outcome: Outcome) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.outcome: Outcome = outcome


@dataclass
class _Response:
    """The google.auth.transport.Response interface."""

    status: int
    headers: dict[str, str]
    data: bytes


class _TransportRequest:
    """google.auth.transport.Request over the shared client; only the allowed token endpoint is reachable."""

    def __init__(self, token_uri: str, timeout: float) -> None:
        self._token_uri = token_uri
        self._timeout = timeout
        self.last_status: int | None = None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> _Response:
        if url != self._token_uri or url not in get_settings().token_uri_allowlist:
            raise _TokenEndpointError("token request to a non-allowlisted URL refused", None, "error")
        upstream = transport.UpstreamRequest(method, url, dict(headers or {}), body or b"")
        try:
            response = transport.send(upstream, self._timeout)
        except httpx.TimeoutException:
            raise _TokenEndpointError("token endpoint timed out", None, "timeout") from None
        except httpx.HTTPError:
            raise _TokenEndpointError("token endpoint connection failed", None, "connection_error") from None
        self.last_status = response.status_code
        if response.status_code != 200:
            # Raising here stops google-auth's sleep-and-retry loop; the routing loop decides what is next.
            raise _TokenEndpointError(
                f"token endpoint returned HTTP {response.status_code}", response.status_code, "error"
            )
        return _Response(response.status_code, dict(response.headers), response.content)
