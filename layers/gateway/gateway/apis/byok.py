"""The BYOK key service: create, change, delete and test a customer's provider credentials.

Pure domain logic: handlers pass the authenticated ``AccountSnapshot`` and a validated request model, and get
``StoredKey`` objects or test results back. A key is only ever looked up inside the caller's own snapshot, so
another customer's key id, a deleted one and a malformed one all give the same ``NotFound``.

Credentials are validated by ``gateway.security.credentials`` and encrypted here, bound by encryption context to the
customer, key id and provider; only ``ciphertext`` and ``hint`` reach the table. Decryption happens only in
``test_key`` through ``credential_cache.resolve`` (which owns the cache of decrypted credentials).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Secret, field_validator

from gateway.apis.api_keys import MODELS_MAX, canonical_models
from gateway.core import catalog
from gateway.core.errors import BrokenKey, Conflict, NotFound, Unprocessable
from gateway.core.ids import new_key_id
from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import accounts as store
from gateway.data import byok_keys
from gateway.security import credential_cache, credential_formats, credentials, crypto

PROVISIONED_THROUGHPUT_PROVIDERS = frozenset({"google-vertex"})
NAME_MAX = 100
REGION_MAX = 64
BROKEN_KEY_MESSAGE = "stored credentials could not be decrypted for this key; rotate them or delete the key"

KeyName = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Region = Annotated[str, Field(min_length=1, max_length=REGION_MAX)]
Priority = Literal["first", "after_shared"]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]


def _printable(name: str | None) -> str | None:
    if name is not None and not name.isprintable():
        raise ValueError("name must contain printable characters only")
    return name


class CreateKeyRequest(BaseModel):
    """``POST /v1/byok/keys``. Strict: booleans are booleans, strings are strings, unknown fields fail."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    provider: str
    # A string or an object depending on the provider; kept secret-typed until ``credentials`` parses it.
    credentials: Secret[Any]
    name: KeyName | None = None
    enabled: bool = True
    always_use: bool = False
    priority: Priority = "first"
    allowed_models: list[ModelName] | None = Field(None, max_length=MODELS_MAX)
    region: Region | None = None
    provisioned_throughput: bool = False
    test: bool = False

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str) -> str:
        if provider not in catalog.PROVIDERS:
            raise ValueError(f"unknown provider; expected one of {', '.join(catalog.PROVIDERS)}")
        return provider

    _name_printable = field_validator("name")(_printable)


class UpdateKeyRequest(BaseModel):
    """``PATCH /v1/byok/keys/{id}``: only the fields sent change; ``name: null`` clears the name,
    ``allowed_models: null`` lets the key serve every model again.

    The defaults are never applied: ``update_key`` reads only ``model_fields_set``. They exist so a field can
    be left out, while an explicit ``null`` for anything else is still a type error.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: KeyName | None = None
    enabled: bool = True
    always_use: bool = False
    priority: Priority = "first"
    allowed_models: list[ModelName] | None = Field(None, max_length=MODELS_MAX)
    credentials: Secret[Any] = Secret(None)
    region: Region = ""
    provisioned_throughput: bool = False

    _name_printable = field_validator("name")(_printable)


def _find(snapshot: store.AccountSnapshot, key_id: str) -> byok_keys.StoredKey:
    key = snapshot.key(key_id)
    if key is None:
        raise NotFound("BYOK key not found")
    return key


def _check_provisioned_throughput(provider: str, wanted: bool) -> None:
    if wanted and provider not in PROVISIONED_THROUGHPUT_PROVIDERS:
        raise Unprocessable(
            f"provisioned_throughput is only for {', '.join(sorted(PROVISIONED_THROUGHPUT_PROVIDERS))} keys",
            param="provisioned_throughput",
        )


def _encrypt(account_id: str, key_id: str, provider: str, parsed: credentials.ParsedCredentials) -> bytes:
    context = crypto.encryption_context(account_id, key_id, provider)
    return crypto.encrypt(credentials.to_plaintext(parsed.credentials), context)


def _connection_test(
    provider: str, creds: credential_cache.AnyCredentials, region: str | None, provisioned_throughput: bool, owner: str
) -> dict[str, Any]:
    # Imported here: routing pulls in every provider adapter, and only a connection test needs them.
    from gateway.routing.attempt import run_connection_test

    timeout_s = get_settings().key_test_timeout_ms / 1000
    # The provider's error text in the result is already scrubbed of these credentials by run_attempt.
    return run_connection_test(provider, creds, region, provisioned_throughput, timeout_s, owner=owner)


def _carries_region(raw: Any) -> bool:
    """Whether submitted credentials name their own region (AWS or service-account JSON)."""
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            raw = json.loads(raw)
        except ValueError:
            return False  # parse_credentials reports the bad JSON
    return isinstance(raw, dict) and "region" in raw


def _key_limit_reached(limit: int) -> Conflict:
    return Conflict(
        f"this account already holds the maximum of {limit} BYOK keys; delete one first",
        code="key_limit_reached",
    )


def create_key(snapshot: store.AccountSnapshot, request: CreateKeyRequest) -> byok_keys.StoredKey:
    """Validate, optionally test, encrypt and store a new key. A failed test stores nothing (422); an account
    at ``MAX_KEYS_PER_ACCOUNT`` gets 409 ``key_limit_reached`` (checked again atomically by the store)."""
    account_id = snapshot.account.account_id
    limit = get_settings().max_keys_per_account
    if len(snapshot.keys) >= limit:
        raise _key_limit_reached(limit)
    _check_provisioned_throughput(request.provider, request.provisioned_throughput)
    parsed = credential_formats.parse_credentials(
        request.provider, request.credentials.get_secret_value(), request.region
    )
    last_test: dict[str, Any] | None = None
    if request.test:
        result = _connection_test(
            request.provider,
            parsed.credentials,
            parsed.region,
            request.provisioned_throughput,
            owner=f"{account_id}/new",
        )
        last_test = {**result, "tested_at": store.now_iso()}
        if not result["ok"]:
            raise Unprocessable(
                "connection test failed; the key was not stored",
                code="key_test_failed",
                param="credentials",
                extra={"test": result},
            )
    key_id = new_key_id()
    now = store.now_iso()
    key = byok_keys.StoredKey(
        account_id=account_id,
        key_id=key_id,
        provider=request.provider,
        name=request.name,
        enabled=request.enabled,
        always_use=request.always_use,
        priority=request.priority,
        allowed_models=canonical_models(request.allowed_models),
        region=parsed.region,
        provisioned_throughput=request.provisioned_throughput,
        hint=parsed.hint,
        created_at=now,
        updated_at=now,
        last_test=last_test,
        ciphertext=_encrypt(account_id, key_id, request.provider, parsed),
    )
    try:
        byok_keys.put_key(key, limit=limit, current_count=len(snapshot.keys))
    except byok_keys.KeyLimitReached:
        raise _key_limit_reached(limit) from None
    logger.info("byok key created", extra={"key_id": key_id, "provider": request.provider})
    return key


def get_key(snapshot: store.AccountSnapshot, key_id: str) -> byok_keys.StoredKey:
    return _find(snapshot, key_id)


def update_key(snapshot: store.AccountSnapshot, key_id: str, request: UpdateKeyRequest) -> byok_keys.StoredKey:
    """Apply the fields the request set. A rotation re-validates, re-encrypts and clears last_test."""
    fields = request.model_fields_set
    if not fields:
        raise Unprocessable(
            "send at least one of: name, enabled, always_use, priority, allowed_models, credentials, region, "
            "provisioned_throughput",
            param="body",
        )
    key = _find(snapshot, key_id)
    account_id = snapshot.account.account_id
    changes: dict[str, Any] = {}
    if "name" in fields:
        changes["name"] = request.name
    for flag in ("enabled", "always_use", "priority", "provisioned_throughput"):
        if flag in fields:
            changes[flag] = getattr(request, flag)
    if "allowed_models" in fields:  # null: every model again
        changes["allowed_models"] = canonical_models(request.allowed_models)
    if "provisioned_throughput" in fields:
        _check_provisioned_throughput(key.provider, request.provisioned_throughput)
    if "credentials" in fields:
        raw = request.credentials.get_secret_value()
        if "region" in fields:
            region: str | None = request.region
        else:
            # Keep the key's region unless the new credentials carry their own.
            region = None if _carries_region(raw) else key.region
        parsed = credential_formats.parse_credentials(key.provider, raw, region)
        changes.update(
            ciphertext=_encrypt(account_id, key.key_id, key.provider, parsed),
            hint=parsed.hint,
            region=parsed.region,
            last_test=None,  # the result described the old credentials
        )
    elif "region" in fields:
        if key.provider not in credential_formats.REGIONS:
            raise Unprocessable(f"region is not used by {key.provider}", param="region")
        changes["region"] = credential_formats.validate_region(key.provider, request.region)
    updated = byok_keys.update_key(account_id, key.key_id, changes)
    if updated is None:
        raise NotFound("BYOK key not found")
    logger.info(
        "byok key updated",
        extra={"key_id": key.key_id, "provider": key.provider, "fields": sorted(fields)},
    )
    return updated


def delete_key(snapshot: store.AccountSnapshot, key_id: str) -> None:
    key = _find(snapshot, key_id)
    counted = snapshot.account.key_count is not None
    if not byok_keys.delete_key(snapshot.account.account_id, key.key_id, counted=counted):
        raise NotFound("BYOK key not found")
    logger.info("byok key deleted", extra={"key_id": key.key_id, "provider": key.provider})


def test_key(snapshot: store.AccountSnapshot, key_id: str) -> dict[str, Any]:
    """Run the connection test with a stored key and record the result on it (unless it changed meanwhile)."""
    key = _find(snapshot, key_id)
    try:
        creds = credential_cache.resolve(key)
    except BrokenKey:
        result: dict[str, Any] = {
            "ok": False,
            "provider": key.provider,
            "model": catalog.get_catalog().providers[key.provider].test_model.model_id,
            "latency_ms": 0,
            "error": {"status_code": None, "message": BROKEN_KEY_MESSAGE},
        }
    else:
        owner = f"{key.account_id}/{key.key_id}"
        result = _connection_test(key.provider, creds, key.region, key.provisioned_throughput, owner=owner)
    recorded = {**result, "tested_at": store.now_iso()}
    byok_keys.record_key_test(snapshot.account.account_id, key.key_id, recorded, key.revision)
    logger.info(
        "byok key tested",
        extra={
            "key_id": key.key_id,
            "provider": key.provider,
            "ok": result["ok"],
            "status_code": (result.get("error") or {}).get("status_code"),
        },
    )
    return recorded


def describe_providers() -> list[dict[str, Any]]:
    """Every provider and the credential formats it takes, each with its JSON schema, for a dashboard."""
    providers = catalog.get_catalog().providers
    return [
        {
            "slug": slug,
            "name": providers[slug].name,
            "formats": credential_formats.describe_formats(slug),
            "region": _region_description(slug),
            "provisioned_throughput": slug in PROVISIONED_THROUGHPUT_PROVIDERS,
            "test_model": providers[slug].test_model.model_id,
        }
        for slug in catalog.PROVIDERS
    ]


def _region_description(provider: str) -> dict[str, Any]:
    rule = credential_formats.REGIONS.get(provider)
    if rule is None:
        return {"accepted": False}
    return {"accepted": True, "default": rule.default, "pattern": rule.pattern, "example": rule.example}
