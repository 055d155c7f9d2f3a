"""Limits: MAX_KEYS_PER_ACCOUNT (409 key_limit_reached, also under parallel creates), MAX_ATTEMPTS across a
request, and GET /v1/account.

Given the real handlers behind the local API server, moto's tables and KMS, and the provider simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, configure
from tests.integration.helpers import BYOK_API_KEYS, add_key
from tests.integration.test_concurrency import in_parallel

OPENAI_KEY = BYOK_API_KEYS["openai"]


@pytest.fixture
def client(api: Any, gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=30) as http:
        yield http


def create(http: httpx.Client, name: str) -> httpx.Response:
    return http.post("/v1/byok/keys", json={"provider": "openai", "credentials": OPENAI_KEY, "name": name})


# --- GET /v1/account ---------------------------------------------------------------------------------------


def test_account_gives_id_name_credits_and_key_count_of_its_limit(
    client: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, MAX_KEYS_PER_ACCOUNT="7")
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    create(client, "one")
    create(client, "two")

    response = client.get("/v1/account")

    assert response.status_code == 200
    assert response.headers["x-request-id"]
    assert response.json() == {
        "account_id": gateway.customer.account_id,
        "name": "test customer",
        "credits": 10.0,
        "debt": 0.0,
        "keys": {"count": 2, "limit": 7},
        "shared_limit": None,
    }


def test_account_needs_a_gateway_key(api: Any) -> None:
    response = httpx.get(f"{api.url}/v1/account", headers={"Authorization": "Bearer gwk_0000000000000000_nope"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_account_shows_only_the_callers_own_account(api: Any, gateway: Gateway) -> None:
    other = gateway.create_customer("customer b", credits="3")

    response = httpx.get(f"{api.url}/v1/account", headers={"Authorization": f"Bearer {other.api_key}"})

    assert response.json()["account_id"] == other.account_id
    assert response.json()["credits"] == 3.0
    assert response.json()["keys"]["count"] == 0


# --- MAX_KEYS_PER_ACCOUNT ----------------------------------------------------------------------------------


def test_a_create_beyond_the_limit_is_409_and_a_delete_makes_room(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, MAX_KEYS_PER_ACCOUNT="3")
    created = [create(client, f"key {i}") for i in range(3)]
    assert [r.status_code for r in created] == [201, 201, 201]

    refused = create(client, "one too many")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "key_limit_reached"
    assert "3" in refused.json()["error"]["message"]
    assert len(client.get("/v1/byok/keys").json()["data"]) == 3

    assert client.delete(f"/v1/byok/keys/{created[0].json()['id']}").status_code == 204
    assert create(client, "in the freed slot").status_code == 201
    assert client.get("/v1/account").json()["keys"] == {"count": 3, "limit": 3}


def test_parallel_creates_never_exceed_the_limit(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, serialized_dynamodb: None
) -> None:
    configure(monkeypatch, MAX_KEYS_PER_ACCOUNT="4")

    statuses = [r.status_code for r in in_parallel(12, lambda i: create(client, f"racer {i}"))]

    assert sorted(statuses) == [201] * 4 + [409] * 8
    assert len(client.get("/v1/byok/keys").json()["data"]) == 4


def test_the_limit_also_holds_for_a_profile_written_before_keys_were_counted(
    client: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    configure(monkeypatch, MAX_KEYS_PER_ACCOUNT="2")
    assert create(client, "old one").status_code == 201
    assert create(client, "old two").status_code == 201
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    table.update_item(
        Key={"pk": f"ACCOUNT#{gateway.customer.account_id}", "sk": "PROFILE"}, UpdateExpression="REMOVE key_count"
    )

    assert create(client, "third").status_code == 409
    assert client.delete(f"/v1/byok/keys/{client.get('/v1/byok/keys').json()['data'][0]['id']}").status_code == 204
    assert create(client, "replacement").status_code == 201
    assert create(client, "third again").status_code == 409


# --- MAX_ATTEMPTS ------------------------------------------------------------------------------------------


def test_max_attempts_cuts_the_plan_of_a_request_with_many_dead_keys(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, MAX_ATTEMPTS="4")
    for i in range(6):
        add_key(api.url, gateway.api_key, "deepseek", f"sk-dead-deepseek-key-{i:04d}")  # the simulator rejects them
    gateway.sim.clear_requests()

    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        json={"model": "deepseek/deepseek-v3.2", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )

    assert response.status_code == 502
    assert response.headers.get("x-gateway-attempts", "4") == "4"
    assert len(response.json()["error"]["attempts"]) == 4
    assert len([r for r in gateway.sim.requests if r.provider == "deepseek"]) == 4


def test_max_attempts_defaults_to_ten(gateway: Gateway) -> None:
    from gateway.core.settings import get_settings

    assert get_settings().max_attempts == 10
    assert get_settings().max_keys_per_account == 50


# --- a create that botocore retries ------------------------------------------------------------------------


def test_a_create_botocore_retries_after_its_write_went_through_is_one_key_and_one_201(
    client: httpx.Client, gateway: Gateway
) -> None:
    from gateway.core import aws

    # Given DynamoDB applies the key's write but its answer is lost, so botocore sends the same call again
    retried: list[str] = []

    def lose_first_answer(response: Any, operation: Any, request_dict: Any, **_: Any) -> int | None:
        writes_a_key = b"KEY#" in (request_dict.get("body") or b"")
        if not retried and writes_a_key and response is not None and response[0].status_code == 200:
            retried.append(operation.name)
            return 0  # retry at once, as after a connection reset
        return None

    events = aws.dynamodb().meta.client.meta.events
    for operation in ("PutItem", "TransactWriteItems"):
        events.register(f"needs-retry.dynamodb.{operation}", lose_first_answer)
    try:
        response = create(client, "retried")
    finally:
        for operation in ("PutItem", "TransactWriteItems"):
            events.unregister(f"needs-retry.dynamodb.{operation}", lose_first_answer)

    # Then the customer gets one 201 for one key, counted once
    assert retried, "the write was not retried"
    assert response.status_code == 201, response.text
    assert [k["id"] for k in client.get("/v1/byok/keys").json()["data"]] == [response.json()["id"]]
    assert client.get("/v1/account").json()["keys"]["count"] == 1
    from gateway.data import accounts

    profile = accounts.profile_item(gateway.customer.account_id)
    assert profile is not None and int(profile["key_count"]) == 1
