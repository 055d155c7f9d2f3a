"""Which credentials the simulator trusts, and the OAuth access tokens it has issued."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

REJECT_MARKER = "invalid"  # in lenient mode, a credential containing this is refused
TOKEN_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class IssuedToken:
    client_email: str
    expires_at: float


class CredentialStore:
    """Strict: only registered credentials pass. Lenient: any well-formed one without "invalid" passes."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self._lock = threading.Lock()
        self._api_keys: dict[str, set[str]] = {}
        self._aws_secrets: dict[str, str] = {}
        self._service_accounts: dict[str, RSAPublicKey] = {}
        self._tokens: dict[str, IssuedToken] = {}

    def accept_api_key(self, provider: str, api_key: str) -> None:
        with self._lock:
            self._api_keys.setdefault(provider, set()).add(api_key)

    def accept_aws(self, access_key_id: str, secret_access_key: str) -> None:
        with self._lock:
            self._aws_secrets[access_key_id] = secret_access_key

    def accept_service_account(self, info: dict[str, Any]) -> None:
        private_key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        if not isinstance(private_key, RSAPrivateKey):
            raise ValueError("service account private_key must be an RSA key")
        with self._lock:
            self._service_accounts[info["client_email"]] = private_key.public_key()

    def api_key_ok(self, provider: str, api_key: str) -> bool:
        if not self.strict:
            return bool(api_key) and REJECT_MARKER not in api_key
        with self._lock:
            return api_key in self._api_keys.get(provider, set())

    def aws_secret(self, access_key_id: str) -> str | None:
        with self._lock:
            return self._aws_secrets.get(access_key_id)

    def lenient_identity_ok(self, identity: str) -> bool:
        return bool(identity) and REJECT_MARKER not in identity

    def service_account_key(self, client_email: str) -> RSAPublicKey | None:
        with self._lock:
            return self._service_accounts.get(client_email)

    def issue_token(self, client_email: str) -> str:
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(client_email, time.time() + TOKEN_LIFETIME_SECONDS)
        return token

    def token_owner(self, token: str) -> str | None:
        """The client_email a live issued token belongs to, else None."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at < time.time():
            return None
        return issued.client_email
