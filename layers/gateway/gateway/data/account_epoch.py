"""An account's epoch: a token every write that authentication or routing trusts replaces, kept on
``ACCOUNT_EPOCH_REPLICAS`` small items, each in a partition of its own (``EPOCH#<account>#<k>``).

A writer adds ``bump_items`` to the transaction of its change (``accounts.transact``), so every replica takes the
same fresh token atomically with it. A reader (``gateway.data.account_cache``) reads one replica at random with a
strongly consistent GetItem, which DynamoDB serialises with transactions: a change committed before the read
brings its new token, whichever replica is read. One account's requests therefore spread their epoch reads over
the replicas' partitions, none of them the account's. A replica not yet written (an account created before
epochs existed) reads as None, which means "do not reuse anything": the first change writes them all.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from gateway.core import aws
from gateway.core.settings import get_settings

EPOCH_SK = "EPOCH"


def replica_key(account_id: str, replica: int) -> dict[str, str]:
    return {"pk": f"EPOCH#{account_id}#{replica}", "sk": EPOCH_SK}


def bump_items(account_id: str) -> list[dict[str, Any]]:
    """TransactWriteItems entries giving every replica one fresh token (updates: the functions may only update
    the accounts table, see template.yaml)."""
    settings = get_settings()
    token = secrets.token_hex(8)
    return [
        {
            "Update": {
                "TableName": settings.accounts_table,
                "Key": replica_key(account_id, replica),
                "UpdateExpression": "SET epoch = :token",
                "ExpressionAttributeValues": {":token": token},
            }
        }
        for replica in range(settings.account_epoch_replicas)
    ]


def current(account_id: str) -> str | None:
    """The account's epoch, from one replica picked at random (one small consistent read); None when unknown."""
    replica = random.randrange(get_settings().account_epoch_replicas)  # noqa: S311 (spreads load, no secret)
    item = (
        aws.table(get_settings().accounts_table)
        .get_item(Key=replica_key(account_id, replica), ConsistentRead=True)
        .get("Item")
    )
    return None if item is None else str(item["epoch"])
