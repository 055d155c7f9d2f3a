"""Gateway API keys (``/v1/api-keys``): create (the key shown once), list, read, update and delete, by a
management key only; ordinary keys may call the model routes and read their account's logs and usage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.billing import budgets
from gateway.core import catalog
from gateway.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.data import accounts, api_keys

NAME_MAX = 100
MODELS_MAX = 500
KeyName = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Rpm = Annotated[int, Field(ge=1, le=1_000_000)]


def require_management(snapshot: accounts.AccountSnapshot) -> None:
    """403 ``forbidden`` unless the caller's gateway key is a management key."""
    if snapshot.caller is not None and not snapshot.caller.management:
        raise Forbidden("this API key cannot manage API keys or BYOK keys; use a management key")


def canonical_models(names: list[str] | None, param: str = "allowed_models") -> list[str] | None:
    """Catalog ids for ``names`` (aliases resolved, each once); 422 naming an unknown one."""
    if names is None:
        return None
    ids: list[str] = []
    for index, name in enumerate(names):
        model = catalog.get_catalog().model(name)
        if model is None:
            raise Unprocessable(f"{param}[{index}] is not a catalog model; GET /v1/models lists them", param=param)
        if model.id not in ids:
            ids.append(model.id)
    return ids


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Unprocessable("expires_at needs a time zone (ISO 8601, e.g. 2027-01-01T00:00:00Z)", param="expires_at")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class KeyLimit(BaseModel):
    """A key's budget: USD of shared capacity per UTC period; with ``include_byok`` BYOK requests count too, at
    list price (what the same tokens would cost on shared capacity)."""

    model_config = ConfigDict(extra="forbid")
    usd: Decimal = Field(gt=0, le=1_000_000, decimal_places=9)
    period: Literal["day", "week", "month", "total"]
    include_byok: bool = False


class SharedLimit(BaseModel):
    """The account's cap on shared-capacity spend per UTC period."""

    model_config = ConfigDict(extra="forbid")
    usd: Decimal = Field(gt=0, le=1_000_000, decimal_places=9)
    period: Literal["day", "week", "month"]


class UpdateAccountRequest(BaseModel):
    """``PATCH /v1/account``: ``shared_limit`` null removes the cap."""

    model_config = ConfigDict(extra="forbid")
    shared_limit: SharedLimit | None


def account_view(snapshot: accounts.AccountSnapshot, key_limit: int) -> dict[str, Any]:
    """``GET /v1/account``: credits, debt, BYOK keys held of the limit, and the shared-capacity cap."""
    account = snapshot.account
    shared = None
    if account.shared_limit is not None:
        shared = {
            "usd": float(account.shared_limit["usd"]),
            "period": account.shared_limit["period"],
            "spent": budgets.shared_spent(account),
        }
    return {
        "account_id": account.account_id,
        "name": account.name,
        "credits": float(account.credits),
        "debt": float(account.debt),
        "keys": {"count": len(snapshot.keys), "limit": key_limit},
        "shared_limit": shared,
    }


def update_account(snapshot: accounts.AccountSnapshot, request: UpdateAccountRequest) -> None:
    require_management(snapshot)
    limit = request.shared_limit.model_dump() if request.shared_limit is not None else None
    accounts.set_shared_limit(snapshot.account.account_id, limit)


class CreateApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: KeyName
    management: bool = False
    limit: KeyLimit | None = None
    rate_limit_rpm: Rpm | None = None
    allowed_models: list[str] | None = Field(None, max_length=MODELS_MAX)
    expires_at: datetime | None = None

    @field_validator("allowed_models")
    @classmethod
    def _bounded_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(len(name) > 200 for name in value):
            raise ValueError("model names are at most 200 characters")
        return value


class UpdateApiKeyRequest(CreateApiKeyRequest):
    name: KeyName | None = None  # type: ignore[assignment]
    management: bool | None = None  # type: ignore[assignment]


def settings(request: CreateApiKeyRequest) -> dict[str, Any]:
    fields = request.model_fields_set if isinstance(request, UpdateApiKeyRequest) else type(request).model_fields.keys()
    settings: dict[str, Any] = {}
    for name in fields:
        value = getattr(request, name)
        if name == "allowed_models":
            value = canonical_models(value)
        elif name == "expires_at":
            value = _iso(value)
        elif name == "limit" and value is not None:
            value = value.model_dump()
        settings[name] = value
    return settings


def create(snapshot: accounts.AccountSnapshot, request: CreateApiKeyRequest) -> dict[str, Any]:
    require_management(snapshot)
    try:
        key, stored = api_keys.mint_api_key(
            snapshot.account.account_id, settings(request), current_count=len(snapshot.api_keys)
        )
    except api_keys.ApiKeyLimitReached:
        raise Conflict(
            "this account holds its maximum number of API keys (MAX_API_KEYS_PER_ACCOUNT); delete one first",
            code="api_key_limit_reached",
        ) from None
    return {**stored.public(), "key": key}


def public(snapshot: accounts.AccountSnapshot, key: api_keys.ApiKey) -> dict[str, Any]:
    return key.public(spent=budgets.spent(snapshot.account, key))


def listed(snapshot: accounts.AccountSnapshot) -> list[dict[str, Any]]:
    require_management(snapshot)
    keys = [key for key in snapshot.api_keys.values() if not key.revoked]
    return [public(snapshot, key) for key in sorted(keys, key=lambda k: (k.created_at or "", k.id))]


def find(snapshot: accounts.AccountSnapshot, key_id: str) -> api_keys.ApiKey:
    require_management(snapshot)
    key = next((k for k in snapshot.api_keys.values() if k.id == key_id and not k.revoked), None)
    if key is None:
        raise NotFound("no such API key", code="api_key_not_found")
    return key


def update(snapshot: accounts.AccountSnapshot, key_id: str, request: UpdateApiKeyRequest) -> dict[str, Any]:
    key = find(snapshot, key_id)
    changes = settings(request)
    if changes.get("name", "") is None or changes.get("management", False) is None:
        raise Unprocessable("name and management cannot be removed", param="name")
    if not changes:
        return public(snapshot, key)
    updated = api_keys.update_api_key(snapshot.account.account_id, key.digest, changes)
    if updated is None:
        raise NotFound("no such API key", code="api_key_not_found")
    return public(snapshot, updated)


def delete(snapshot: accounts.AccountSnapshot, key_id: str) -> None:
    key = find(snapshot, key_id)
    if not api_keys.delete_api_key(snapshot.account.account_id, key.digest):
        raise NotFound("no such API key", code="api_key_not_found")
