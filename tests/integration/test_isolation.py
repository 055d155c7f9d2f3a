"""Customer isolation: customer B probing customer A's ids learns nothing and changes nothing.

Given customer A with BYOK keys and request logs made through real chat requests, and customer B with their
own. Every id-taking route answers B exactly as it answers for an id that never existed; B's lists, B's log
cursors and B's chat requests never reach A's objects or A's credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from local.apigw import Router
from tests.conftest import Customer, Gateway
from tests.integration.helpers import BYOK_API_KEYS, byok_credentials, credential_id
from tests.integration.test_hostile_input import in_process

MESSAGES = [{"role": "user", "content": "Say hello"}]
UNKNOWN_KEY_ID = "key_0123456789abcdef01234567"
UNKNOWN_REQUEST_ID = "req_0190000000000123456789abcdef"
PER_REQUEST_HEADERS = {"x-request-id", "x-amzn-requestid", "content-length", "date"}


@pytest.fixture
def router(gateway: Gateway) -> Router:
    return Router.from_template(stage="test")


def client_for(router: Router, customer: Customer) -> httpx.Client:
    headers = {"Authorization": f"Bearer {customer.api_key}"}
    return httpx.Client(transport=in_process(router), base_url="https://gateway.test", headers=headers, timeout=30)


@pytest.fixture
def alice(router: Router, gateway: Gateway) -> Iterator[httpx.Client]:
    with client_for(router, gateway.customer) as http:
        yield http


@pytest.fixture
def bob(router: Router, gateway: Gateway) -> Iterator[httpx.Client]:
    with client_for(router, gateway.create_customer("bob", credits="10")) as http:
        yield http


def partition(gateway: Gateway, account_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    return sorted(
        table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"ACCOUNT#{account_id}"})[
            "Items"
        ],
        key=lambda item: item["sk"],
    )


def chat(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": "openai/gpt-5-mini", "messages": MESSAGES, **body})


def all_log_ids(http: httpx.Client) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        page = http.get("/v1/logs", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        ids += [item["request_id"] for item in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination never ended")


def comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    """A response as the caller sees it, minus what is unique to each request."""
    headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() not in PER_REQUEST_HEADERS)
    return response.status_code, response.content, headers


def test_every_id_route_answers_another_customers_id_like_a_missing_one(
    alice: httpx.Client, bob: httpx.Client, gateway: Gateway
) -> None:
    # Given A's key and one of A's requests, and B's own key (so B is a real customer with data)
    credentials = byok_credentials(gateway.sim, "openai")
    key = alice.post("/v1/byok/keys", json={"provider": "openai", "credentials": credentials, "name": "a"}).json()
    served = chat(alice)
    assert served.status_code == 200, served.text
    request_id = served.headers["x-request-id"]
    assert bob.post("/v1/byok/keys", json={"provider": "openai", "credentials": "sk-bob-own-key-000001"}).status_code
    alice_before = partition(gateway, gateway.customer.account_id)
    gateway.sim.clear_requests()

    # When B calls every id route with A's ids and with ids that never existed
    probes = [
        ("GET", "/v1/byok/keys/{}", None),
        ("PATCH", "/v1/byok/keys/{}", {"enabled": False}),
        ("PATCH", "/v1/byok/keys/{}", {"name": "owned"}),
        ("PATCH", "/v1/byok/keys/{}", {"credentials": "sk-bob-rotated-key-0001"}),
        ("PATCH", "/v1/byok/keys/{}", {"always_use": True}),
        ("DELETE", "/v1/byok/keys/{}", None),
        ("POST", "/v1/byok/keys/{}/test", None),
        ("GET", "/v1/logs/{}", None),
    ]
    for method, template, body in probes:
        real_id = request_id if "logs" in template else key["id"]
        unknown_id = UNKNOWN_REQUEST_ID if "logs" in template else UNKNOWN_KEY_ID
        real = bob.request(method, template.format(real_id), json=body)
        missing = bob.request(method, template.format(unknown_id), json=body)

        # Then both are the same 404, byte for byte
        assert real.status_code == 404, (method, template, real.text)
        assert comparable(real) == comparable(missing), (method, template)
        assert real.json()["error"]["type"] == "not_found_error"
        assert real_id not in real.text

    # And A's data is untouched, and nothing reached a provider with A's key
    assert partition(gateway, gateway.customer.account_id) == alice_before
    assert alice.get(f"/v1/byok/keys/{key['id']}").json() == key
    assert gateway.sim.requests == []


def test_lists_and_log_cursors_never_cross_customers(alice: httpx.Client, bob: httpx.Client, gateway: Gateway) -> None:
    # Given interleaved requests and keys of both customers
    alice_key = alice.post("/v1/byok/keys", json={"provider": "deepseek", "credentials": BYOK_API_KEYS["deepseek"]})
    bob_key = bob.post("/v1/byok/keys", json={"provider": "anthropic", "credentials": BYOK_API_KEYS["anthropic"]})
    alice_ids, bob_ids = set(), set()
    for _ in range(3):
        alice_ids.add(chat(alice).headers["x-request-id"])
        bob_ids.add(chat(bob).headers["x-request-id"])
        alice_ids.add(chat(alice, model="no/such-model").headers["x-request-id"])

    # Then each list holds only its owner's objects
    assert [k["id"] for k in bob.get("/v1/byok/keys").json()["data"]] == [bob_key.json()["id"]]
    assert [k["id"] for k in alice.get("/v1/byok/keys").json()["data"]] == [alice_key.json()["id"]]
    assert set(all_log_ids(bob)) == bob_ids
    assert set(all_log_ids(alice)) == alice_ids

    # And every cursor A was handed, used by B, gives B only B's own records (or a 400), never A's
    cursor: str | None = None
    seen_by_bob: set[str] = set()
    while True:
        page = alice.get("/v1/logs", params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        cursor = page["next_cursor"]
        if cursor is None:
            break
        for query in (
            {"cursor": cursor},
            {"cursor": cursor, "is_byok": "false"},
            {"cursor": cursor, "status": "error"},
        ):
            answer = bob.get("/v1/logs", params={"limit": 100, **query})
            assert answer.status_code in (200, 400), answer.text
            if answer.status_code == 200:
                seen_by_bob |= {item["request_id"] for item in answer.json()["data"]}
    assert seen_by_bob <= bob_ids
    assert seen_by_bob  # the cursors were really used: B got its own older records through them


def test_another_customers_chat_never_uses_their_byok_keys(
    alice: httpx.Client, router: Router, gateway: Gateway
) -> None:
    # Given A's BYOK keys for every provider of a model, and B with credits but no keys
    for provider in ("anthropic", "amazon-bedrock", "google-vertex"):
        added = alice.post(
            "/v1/byok/keys", json={"provider": provider, "credentials": byok_credentials(gateway.sim, provider)}
        )
        assert added.status_code == 201, added.text
    alice_credentials = {
        credential_id(byok_credentials(gateway.sim, p)) for p in ("anthropic", "amazon-bedrock", "google-vertex")
    }
    broke = gateway.create_customer("broke", credits="0")
    funded = gateway.create_customer("funded", credits="10")
    gateway.sim.clear_requests()

    # When B sends requests that A's keys could serve
    with client_for(router, funded) as bob:
        served = chat(bob, model="anthropic/claude-sonnet-4.5", provider={"order": ["google-vertex"]})
    with client_for(router, broke) as bob_without_credits:
        refused = chat(bob_without_credits, model="anthropic/claude-sonnet-4.5")

    # Then B is served by shared capacity only, or refused for lack of credits: A's keys are never tried
    assert served.status_code == 200, served.text
    assert served.json()["usage"]["is_byok"] is False
    assert refused.status_code == 402, refused.text
    assert gateway.sim.requests, "the funded request must have reached a provider"
    assert not {r.credential for r in gateway.sim.requests} & alice_credentials
