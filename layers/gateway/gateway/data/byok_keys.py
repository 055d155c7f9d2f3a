"""BYOK and platform credentials in the accounts table, and the cooldowns recorded next to them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import accounts

# A BYOK key's cooldown lives next to the key in its account's partition, so the Query that loads the keys brings
# every instance's cooldowns along; expires_at lets DynamoDB TTL remove it. A cooldown does not move the account's
# epoch: a reused snapshot may miss another instance's for up to ACCOUNT_CACHE_MS (this instance's own are in its
# routing signals at once), and a cooled-down key tried meanwhile only fails over as it would have without one.
COOLDOWN_PREFIX = "COOLDOWN#"


PUBLIC_FIELDS = (
    "provider",
    "name",
    "enabled",
    "always_use",
    "priority",
    "allowed_models",
    "region",
    "provisioned_throughput",
    "hint",
    "created_at",
    "updated_at",
    "last_test",
)


class StoredKey(BaseModel):
    """A BYOK (or platform) credential as stored: metadata in clear, credentials only as ciphertext."""

    model_config = ConfigDict(frozen=True)
    account_id: str
    key_id: str
    provider: str
    name: str | None = None
    enabled: bool = True
    always_use: bool = False
    # "first": before all shared capacity; "after_shared": only once every shared attempt has failed.
    priority: Literal["first", "after_shared"] = "first"
    allowed_models: list[str] | None = None  # catalog ids this key may serve; None: every model
    region: str | None = None
    provisioned_throughput: bool = False
    hint: str
    created_at: str
    updated_at: str
    last_test: dict[str, Any] | None = None
    revision: int = 1
    ciphertext: bytes

    def public(self) -> dict[str, Any]:
        """The key as the API shows it: an allowlist of fields (never the ciphertext or anything new by default)."""
        return {"id": self.key_id, **{name: getattr(self, name) for name in PUBLIC_FIELDS}}


def key_from_item(item: dict[str, Any]) -> StoredKey:
    data = accounts.plain(item)
    data["revision"] = int(data.get("revision", 1))
    if data.get("last_test") and "latency_ms" in data["last_test"]:
        data["last_test"]["latency_ms"] = int(data["last_test"]["latency_ms"])
        if data["last_test"].get("error") and data["last_test"]["error"].get("status_code") is not None:
            data["last_test"]["error"]["status_code"] = int(data["last_test"]["error"]["status_code"])
    return StoredKey.model_validate(data)


class KeyLimitReached(Exception):
    """The account already holds its maximum number of BYOK keys."""


def put_key(key: StoredKey, *, limit: int, current_count: int) -> None:
    """Store a new key and count it on the profile in one transaction, so parallel creates cannot exceed
    ``limit``. ``current_count`` (the keys the caller's snapshot holds) seeds the count on a profile written
    before it existed. Raises ``KeyLimitReached``.

    Idempotent under botocore's retries: the transaction carries a client token (DynamoDB answers a replay
    within ten minutes as a success), and a replay that still finds the key written by its first try is that
    success too: the key id is fresh, so only this call can have written a key with it.
    """
    item = key.model_dump(exclude={"account_id"}, exclude_none=True)
    item.update({"pk": accounts.partition_key(key.account_id), "sk": f"KEY#{key.key_id}"})
    put = {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
    codes = accounts.counted_write(
        key.account_id, put, "key_count", limit=limit, current=current_count, token=key.key_id
    )
    if not codes:
        return
    if codes[0] == "ConditionalCheckFailed" and _is_stored(key):
        return  # a retry of a create whose first try went through
    if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
        raise KeyLimitReached
    raise RuntimeError("a fresh BYOK key id is already taken")


def _is_stored(key: StoredKey) -> bool:
    existing = (
        accounts._table()
        .get_item(Key={"pk": accounts.partition_key(key.account_id), "sk": f"KEY#{key.key_id}"}, ConsistentRead=True)
        .get("Item")
    )
    return existing is not None and accounts.plain(existing.get("ciphertext")) == key.ciphertext


def replace_platform_key(key: StoredKey) -> None:
    item = key.model_dump(exclude={"account_id"}, exclude_none=True)
    item.update({"pk": accounts.partition_key(accounts.PLATFORM_ACCOUNT), "sk": f"KEY#{key.key_id}"})
    accounts._table().put_item(Item=item)


def update_key(account_id: str, key_id: str, changes: dict[str, Any]) -> StoredKey | None:
    """Apply ``changes`` (attribute -> value, None removes) and bump the revision; None if the key is gone."""
    item = accounts.update_attributes(
        account_id,
        {"pk": accounts.partition_key(account_id), "sk": f"KEY#{key_id}"},
        changes,
        sets=["updated_at = :updated_at", "revision = if_not_exists(revision, :zero) + :one"],
        values={":updated_at": accounts.now_iso(), ":zero": 0, ":one": 1},
    )
    if item is None:
        return None
    item["account_id"] = account_id
    return key_from_item(item)


def record_key_test(account_id: str, key_id: str, last_test: dict[str, Any], revision: int) -> bool:
    """Store a test result unless the key was deleted or rotated meanwhile (the result would be stale)."""
    return _set_if(account_id, key_id, "last_test", last_test, Attr("pk").exists() & Attr("revision").eq(revision))


def _set_if(account_id: str, key_id: str, attribute: str, value: Any, condition: Any) -> bool:
    """Set one attribute of a key if ``condition`` holds; False if it did not."""
    try:
        accounts._table().update_item(
            Key={"pk": accounts.partition_key(account_id), "sk": f"KEY#{key_id}"},
            UpdateExpression=f"SET {attribute} = :value",
            ConditionExpression=condition,
            ExpressionAttributeValues={":value": value},
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
        return accounts.delete_existing(account_id, {"pk": accounts.partition_key(account_id), "sk": f"KEY#{key_id}"})
    delete = {
        "Delete": {
            "Key": {"pk": accounts.partition_key(account_id), "sk": f"KEY#{key_id}"},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    codes = accounts.counted_write(account_id, delete, "key_count")
    if codes and codes[0] == "ConditionalCheckFailed":
        return False
    if codes:
        # The count says zero while a key exists (it was reseeded from a stale snapshot): delete anyway.
        return delete_key(account_id, key_id, counted=False)
    return True


def record_key_cooldown(account_id: str, key_id: str, until_ms: int, expires_at: int) -> None:
    """Put a BYOK key in cooldown until ``until_ms`` (epoch ms), unless a longer cooldown is already recorded.

    Called from a background thread: the resource's client, unlike the Table resource, is thread-safe.
    """
    try:
        aws.dynamodb().meta.client.update_item(
            TableName=get_settings().accounts_table,
            Key={"pk": accounts.partition_key(account_id), "sk": f"{COOLDOWN_PREFIX}{key_id}"},
            UpdateExpression="SET cooldown_until_ms = :until, expires_at = :exp",
            ConditionExpression="attribute_not_exists(cooldown_until_ms) OR cooldown_until_ms < :until",
            ExpressionAttributeValues={":until": until_ms, ":exp": expires_at},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def platform_keys() -> list[StoredKey]:
    keys = []
    for item in accounts.query_partition(accounts.partition_key(accounts.PLATFORM_ACCOUNT)):
        if item["sk"].startswith("KEY#"):
            item["account_id"] = accounts.PLATFORM_ACCOUNT
            keys.append(key_from_item(item))
    return keys


def every_key() -> Iterator[StoredKey]:
    """Every stored BYOK and platform key, by a paginated Scan (an operator's task, never a request's)."""
    kwargs: dict[str, Any] = {"FilterExpression": Attr("sk").begins_with("KEY#")}
    while True:
        page = accounts._table().scan(**kwargs)
        for item in page.get("Items", []):
            pk = item["pk"]
            item["account_id"] = accounts.PLATFORM_ACCOUNT if pk == "PLATFORM" else pk.removeprefix("ACCOUNT#")
            item["key_id"] = item["sk"].removeprefix("KEY#")
            yield key_from_item(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def replace_ciphertext(account_id: str, key_id: str, old: bytes, new: bytes) -> bool:
    """Store ``new`` as the key's ciphertext unless it no longer holds ``old`` (rotated or deleted meanwhile).
    The credentials are the same, so the revision and the last test stay."""
    return _set_if(account_id, key_id, "ciphertext", new, Attr("ciphertext").eq(old))
