"""Operator actions behind ``make admin``: accounts, credits and shared-capacity (platform) credentials.

Platform credentials are validated and encrypted exactly like a customer's BYOK key, under the customer id
``platform`` and key id = provider slug.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.catalog import PROVIDERS
from gateway.core.errors import Unprocessable
from gateway.data import accounts as store
from gateway.data import api_keys, byok_keys
from gateway.security import crypto
from gateway.security.credential_formats import parse_credentials
from gateway.security.credentials import to_plaintext


def create_account(name: str, credits: Decimal, api_key: str | None = None) -> tuple[store.Account, str]:
    account_id = api_keys.account_id_from_api_key(api_key) if api_key else None
    if api_key and account_id is None:
        raise ValueError("api key must look like gwk_<16 hex>_<secret>")
    account = store.create_account(name, credits, account_id=account_id)
    return account, api_keys.create_api_key(account.account_id, api_key)


def set_platform_key(provider: str, raw_credentials: Any, region: str | None = None) -> byok_keys.StoredKey:
    if provider not in PROVIDERS:
        raise Unprocessable(f"unknown provider; expected one of {', '.join(PROVIDERS)}", param="provider")
    parsed = parse_credentials(provider, raw_credentials, region)
    context = crypto.encryption_context(store.PLATFORM_ACCOUNT, provider, provider)
    now = store.now_iso()
    key = byok_keys.StoredKey(
        account_id=store.PLATFORM_ACCOUNT,
        key_id=provider,
        provider=provider,
        name=f"shared {provider}",
        region=parsed.region,
        hint=parsed.hint,
        created_at=now,
        updated_at=now,
        ciphertext=crypto.encrypt(to_plaintext(parsed.credentials), context),
    )
    byok_keys.replace_platform_key(key)
    return key


def reencrypt_credentials() -> dict[str, int]:
    """Rewrite every credential the AWS Encryption SDK stored (before issue 24) in today's format, so that no
    instance imports the SDK to read it again. A key rotated or deleted meanwhile is left to that change; one
    that does not decrypt under its own item's context is left as it is (requests report it broken)."""
    counts = {"rewritten": 0, "current": 0, "changed_meanwhile": 0, "undecryptable": 0}
    for key in byok_keys.every_key():
        if not crypto.written_by_the_sdk(key.ciphertext):
            counts["current"] += 1
            continue
        context = crypto.encryption_context(key.account_id, key.key_id, key.provider)
        try:
            plaintext = crypto.decrypt(key.ciphertext, context)
        except crypto.DecryptionFailed:
            counts["undecryptable"] += 1
            continue
        rewritten = crypto.encrypt(plaintext, context)
        if byok_keys.replace_ciphertext(key.account_id, key.key_id, key.ciphertext, rewritten):
            counts["rewritten"] += 1
        else:
            counts["changed_meanwhile"] += 1
    return counts
