"""What authentication costs DynamoDB: a wrong secret is bounded whatever the account holds, and a warm
authenticated request still makes one read before its upstream call.

Given moto's tables, an account holding many BYOK keys, and a counter of every DynamoDB call the layer makes
(operation name and items returned, from botocore's own events).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from gateway.core import aws
from gateway.data import api_keys
from tests.conftest import Gateway

MANY_KEYS = 300


@dataclass
class DynamoCalls:
    calls: list[tuple[str, int]] = field(default_factory=list)  # (operation, items returned)

    def record(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        items = len(parsed.get("Items", [])) + (1 if "Item" in parsed else 0)
        self.calls.append((model.name, items))

    @property
    def items_read(self) -> int:
        return sum(items for _, items in self.calls)


@pytest.fixture
def dynamo_calls(gateway: Gateway) -> Iterator[DynamoCalls]:
    counter = DynamoCalls()
    events = aws.dynamodb().meta.client.meta.events
    events.register("after-call.dynamodb", counter.record)
    yield counter
    events.unregister("after-call.dynamodb", counter.record)


@pytest.fixture
def big_account(gateway: Gateway) -> str:
    """The customer's account with MANY_KEYS BYOK keys (items written directly: only their number matters)."""
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    with table.batch_writer() as batch:
        for i in range(MANY_KEYS):
            batch.put_item(
                Item={
                    "pk": f"ACCOUNT#{gateway.customer.account_id}",
                    "sk": f"KEY#key_{i:024x}",
                    "key_id": f"key_{i:024x}",
                    "provider": "openai",
                    "hint": "****abcd",
                    "created_at": "2026-01-01T00:00:00.000Z",
                    "updated_at": "2026-01-01T00:00:00.000Z",
                    "enabled": False,
                    "ciphertext": b"x" * 600,
                }
            )
    return gateway.customer.account_id


def test_a_wrong_secret_costs_one_small_read_whatever_the_account_holds(
    gateway: Gateway, big_account: str, dynamo_calls: DynamoCalls
) -> None:
    wrong = gateway.api_key[:-6] + "AAAAAA"

    assert api_keys.authenticate(wrong) is None

    assert dynamo_calls.calls == [("GetItem", 0)]


def test_a_revoked_key_is_rejected_just_as_cheaply(
    gateway: Gateway, big_account: str, dynamo_calls: DynamoCalls
) -> None:
    assert api_keys.revoke_api_key(big_account, api_keys.api_key_fingerprint(api_keys.hash_api_key(gateway.api_key)))
    dynamo_calls.calls.clear()

    assert api_keys.authenticate(gateway.api_key) is None

    assert dynamo_calls.calls == [("GetItem", 1)]


def test_a_warm_authenticated_request_makes_one_read(
    gateway: Gateway, big_account: str, dynamo_calls: DynamoCalls
) -> None:
    assert api_keys.authenticate(gateway.api_key) is not None  # cold: the key is proven once
    dynamo_calls.calls.clear()

    snapshot = api_keys.authenticate(gateway.api_key)

    assert snapshot is not None and len(snapshot.keys) == MANY_KEYS
    assert [operation for operation, _ in dynamo_calls.calls] == ["Query"]


def test_revocation_takes_effect_on_the_next_request_even_when_the_key_was_proven(
    gateway: Gateway, dynamo_calls: DynamoCalls
) -> None:
    assert api_keys.authenticate(gateway.api_key) is not None
    assert api_keys.revoke_api_key(
        gateway.customer.account_id, api_keys.api_key_fingerprint(api_keys.hash_api_key(gateway.api_key))
    )

    assert api_keys.authenticate(gateway.api_key) is None


def test_a_proven_key_of_one_account_proves_nothing_for_another(gateway: Gateway) -> None:
    other = gateway.create_customer("other")
    assert api_keys.authenticate(gateway.api_key) is not None
    # The same secret under another account's prefix hashes differently: it must be proven (and fail) on its own.
    forged = f"gwk_{other.account_id.removeprefix('acct_')}_{gateway.api_key.rsplit('_', 1)[1]}"

    assert api_keys.authenticate(forged) is None
