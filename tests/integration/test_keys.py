"""BYOK key management over HTTP: lifecycle, connection tests, validation, secrecy and customer isolation.

Given the real handlers behind the local API server, moto-backed tables and KMS, and the provider simulator
in strict mode (it rejects any credential it was not told to accept).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from gateway.core.catalog import PROVIDERS, get_catalog
from local.simulator import make_service_account

OPENAI_KEY = "sk-proj-Live0123456789abcdefghijKLMN"
WRONG_KEY = "sk-proj-Wrong0123456789abcdefghiJKLM"
ACCESS_KEY_ID = "AKIACUSTOMER00000001"
SECRET_ACCESS_KEY = "customerSecretAccessKey000000000000001/+"
VERTEX_PROJECT = "acme-vertex-prod"


@pytest.fixture
def client(api: Any, gateway: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=20) as http:
        yield http


@pytest.fixture
def other_client(api: Any, gateway: Any) -> Iterator[httpx.Client]:
    customer = gateway.create_customer("customer b")
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {customer.api_key}"}, timeout=20) as http:
        yield http


@pytest.fixture
def service_account(gateway: Any) -> dict[str, Any]:
    return make_service_account(VERTEX_PROJECT, gateway.env["GOOGLE_TOKEN_URI_ALLOWLIST"])


def accounts_items(gateway: Any) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def key_item(gateway: Any, account_id: str, key_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    return dict(table.get_item(Key={"pk": f"ACCOUNT#{account_id}", "sk": f"KEY#{key_id}"})["Item"])


def create(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/byok/keys", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


KEY_FIELDS = {
    "id",
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
}


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_created_key_is_listed_and_fetched_without_its_credentials(client: httpx.Client) -> None:
    created = create(client, provider="openai", credentials=OPENAI_KEY, name="prod key")

    assert set(created) == KEY_FIELDS
    assert created["id"].startswith("key_")
    assert created["provider"] == "openai"
    assert created["name"] == "prod key"
    assert (created["enabled"], created["always_use"], created["provisioned_throughput"]) == (True, False, False)
    assert created["region"] is None
    assert created["hint"] == "****KLMN"
    assert created["last_test"] is None
    listed = client.get("/v1/byok/keys")
    assert listed.status_code == 200
    assert listed.json() == {"data": [created]}
    fetched = client.get(f"/v1/byok/keys/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    for response in (listed, fetched):
        assert OPENAI_KEY not in response.text
        assert response.headers["x-request-id"]


def test_disable_enable_rename_and_always_use(client: httpx.Client) -> None:
    key = create(client, provider="anthropic", credentials="sk-ant-api03-customerKey0001")
    url = f"/v1/byok/keys/{key['id']}"

    disabled = client.patch(url, json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    assert client.get(url).json()["enabled"] is False
    assert client.get("/v1/byok/keys").json()["data"][0]["enabled"] is False

    changed = client.patch(url, json={"enabled": True, "always_use": True, "name": "primary"}).json()
    assert (changed["enabled"], changed["always_use"], changed["name"]) == (True, True, "primary")
    assert changed["hint"] == key["hint"]
    assert changed["updated_at"] >= key["updated_at"]

    cleared = client.patch(url, json={"name": None}).json()
    assert cleared["name"] is None


def test_rotation_gives_a_new_hint_ciphertext_and_revision(client: httpx.Client, gateway: Any) -> None:
    key = create(client, provider="openai", credentials=OPENAI_KEY)
    before = key_item(gateway, gateway.customer.account_id, key["id"])
    new_key = "sk-proj-Rotated0123456789abcdefWXYZ"

    rotated = client.patch(f"/v1/byok/keys/{key['id']}", json={"credentials": new_key})

    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["hint"] == "****WXYZ"
    assert new_key not in rotated.text
    after = key_item(gateway, gateway.customer.account_id, key["id"])
    assert bytes(after["ciphertext"].value) != bytes(before["ciphertext"].value)
    assert int(after["revision"]) == int(before["revision"]) + 1


def test_created_rotated_and_platform_keys_are_stored_as_kms_ciphertexts(
    client: httpx.Client, gateway: Any, service_account: dict[str, Any]
) -> None:
    from gateway.data import accounts, byok_keys
    from gateway.security import crypto

    # When a key is created, another rotated, and the operator sets a platform key
    created = create(client, provider="google-vertex", credentials=service_account)
    rotated = create(client, provider="openai", credentials=OPENAI_KEY)
    assert client.patch(f"/v1/byok/keys/{rotated['id']}", json={"credentials": WRONG_KEY}).status_code == 200
    platform = next(k for k in byok_keys.platform_keys() if k.provider == "openai")

    # Then each is stored in the format one KMS Decrypt reads (a service account fits KMS's 4,096 bytes)
    stored = [
        bytes(key_item(gateway, gateway.customer.account_id, key_id)["ciphertext"].value)
        for key_id in (created["id"], rotated["id"])
    ]
    assert platform.account_id == accounts.PLATFORM_ACCOUNT
    for ciphertext in (*stored, platform.ciphertext):
        assert ciphertext.startswith(crypto.KMS_PREFIX)


def test_rotated_key_is_what_the_connection_test_uses(client: httpx.Client, gateway: Any) -> None:
    new_key = "sk-proj-Rotated0123456789abcdefWXYZ"
    gateway.sim.accept_api_key("openai", new_key)
    key = create(client, provider="openai", credentials=WRONG_KEY)
    assert client.post(f"/v1/byok/keys/{key['id']}/test").json()["ok"] is False

    client.patch(f"/v1/byok/keys/{key['id']}", json={"credentials": new_key})
    result = client.post(f"/v1/byok/keys/{key['id']}/test").json()

    assert result["ok"] is True


def test_delete_answers_204_and_the_key_is_gone(client: httpx.Client) -> None:
    key = create(client, provider="deepseek", credentials="sk-deepseek-customer-0001")

    deleted = client.delete(f"/v1/byok/keys/{key['id']}")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"/v1/byok/keys/{key['id']}").status_code == 404
    assert client.delete(f"/v1/byok/keys/{key['id']}").status_code == 404
    assert client.get("/v1/byok/keys").json() == {"data": []}


def test_every_route_needs_a_gateway_key(api: Any, gateway: Any) -> None:
    with httpx.Client(base_url=api.url) as anonymous:
        responses = [
            anonymous.get("/v1/byok/providers"),
            anonymous.get("/v1/byok/keys"),
            anonymous.post("/v1/byok/keys", json={"provider": "openai", "credentials": OPENAI_KEY}),
            anonymous.get("/v1/byok/keys/key_x"),
            anonymous.patch("/v1/byok/keys/key_x", json={"enabled": False}),
            anonymous.delete("/v1/byok/keys/key_x"),
            anonymous.post("/v1/byok/keys/key_x/test"),
        ]
    assert [r.status_code for r in responses] == [401] * 7
    assert accounts_items_with_keys(gateway) == []


def accounts_items_with_keys(gateway: Any) -> list[dict[str, Any]]:
    return [item for item in accounts_items(gateway) if item["sk"].startswith("KEY#") and item["pk"] != "PLATFORM"]


# --- providers ---------------------------------------------------------------------------------------------


def test_providers_describe_formats_regions_and_test_models(client: httpx.Client) -> None:
    response = client.get("/v1/byok/providers")

    assert response.status_code == 200
    providers = {p["slug"]: p for p in response.json()["data"]}
    assert list(providers) == list(PROVIDERS)
    catalog = get_catalog()
    for slug, info in providers.items():
        assert info["name"] == catalog.providers[slug].name
        assert info["test_model"] == catalog.providers[slug].test_model.model_id
        assert info["provisioned_throughput"] is (slug == "google-vertex")
    assert [f["type"] for f in providers["openai"]["formats"]] == ["api_key"]
    assert providers["openai"]["region"] == {"accepted": False}
    assert [f["type"] for f in providers["amazon-bedrock"]["formats"]] == ["api_key", "aws_credentials"]
    aws = providers["amazon-bedrock"]["formats"][1]["schema"]
    assert aws["required"] == ["accessKeyId", "secretAccessKey"]
    assert set(aws["properties"]) == {"accessKeyId", "secretAccessKey", "sessionToken", "region"}
    assert providers["amazon-bedrock"]["region"]["default"] == "us-east-1"
    vertex = providers["google-vertex"]
    assert vertex["formats"][0]["type"] == "service_account"
    assert "private_key" in vertex["formats"][0]["schema"]["required"]
    assert vertex["region"]["default"] == "global"


# --- connection tests --------------------------------------------------------------------------------------


def test_connection_test_passes_and_is_recorded(client: httpx.Client, gateway: Any) -> None:
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    key = create(client, provider="openai", credentials=OPENAI_KEY)

    response = client.post(f"/v1/byok/keys/{key['id']}/test")

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is True
    assert result["provider"] == "openai"
    assert result["model"] == get_catalog().providers["openai"].test_model.model_id
    assert isinstance(result["latency_ms"], int)
    assert "error" not in result
    recorded = client.get(f"/v1/byok/keys/{key['id']}").json()["last_test"]
    assert recorded["ok"] is True
    assert recorded["tested_at"]
    sent = [r for r in gateway.sim.requests if r.provider == "openai"]
    assert len(sent) == 1
    assert sent[0].json["model"] == result["model"]


def test_rejected_key_reports_401_and_is_recorded(client: httpx.Client, gateway: Any) -> None:
    key = create(client, provider="openai", credentials=WRONG_KEY)

    result = client.post(f"/v1/byok/keys/{key['id']}/test").json()

    assert result["ok"] is False
    assert result["error"]["status_code"] == 401
    assert WRONG_KEY not in json.dumps(result)
    recorded = client.get(f"/v1/byok/keys/{key['id']}").json()["last_test"]
    assert recorded["ok"] is False
    assert recorded["error"]["status_code"] == 401


def test_provider_error_text_echoing_the_key_is_redacted(client: httpx.Client, gateway: Any) -> None:
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    gateway.sim.fail("openai", status=403, body=json.dumps({"error": {"message": f"key {OPENAI_KEY} is blocked"}}))
    key = create(client, provider="openai", credentials=OPENAI_KEY)

    response = client.post(f"/v1/byok/keys/{key['id']}/test")

    assert response.json()["ok"] is False
    assert OPENAI_KEY not in response.text
    assert OPENAI_KEY not in client.get(f"/v1/byok/keys/{key['id']}").text


def test_create_with_failing_test_stores_nothing(client: httpx.Client, gateway: Any) -> None:
    response = client.post("/v1/byok/keys", json={"provider": "openai", "credentials": WRONG_KEY, "test": True})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["test"]["ok"] is False
    assert error["test"]["error"]["status_code"] == 401
    assert WRONG_KEY not in response.text
    assert client.get("/v1/byok/keys").json() == {"data": []}
    assert accounts_items_with_keys(gateway) == []


def test_create_with_passing_test_stores_the_key(client: httpx.Client, gateway: Any) -> None:
    gateway.sim.accept_api_key("openai", OPENAI_KEY)

    key = create(client, provider="openai", credentials=OPENAI_KEY, test=True)

    stored = client.get(f"/v1/byok/keys/{key['id']}")
    assert stored.status_code == 200
    assert len(gateway.sim.requests) == 1
    assert key["last_test"]["ok"] is True
    assert key["last_test"]["model"] == "gpt-5-nano"
    assert stored.json()["last_test"] == key["last_test"]


def test_bedrock_aws_credentials_keep_their_region_on_the_key(client: httpx.Client, gateway: Any) -> None:
    gateway.sim.accept_aws(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    credentials = {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY, "region": "eu-west-1"}

    key = create(client, provider="amazon-bedrock", credentials=credentials)
    result = client.post(f"/v1/byok/keys/{key['id']}/test").json()

    assert key["region"] == "eu-west-1"
    assert key["hint"] == "AKIA****0001"
    assert result["ok"] is True, result
    moved = client.patch(f"/v1/byok/keys/{key['id']}", json={"region": "us-west-2"}).json()
    assert moved["region"] == "us-west-2"
    assert moved["hint"] == key["hint"]


def test_vertex_key_with_provisioned_throughput(
    client: httpx.Client, gateway: Any, service_account: dict[str, Any]
) -> None:
    gateway.sim.accept_service_account(service_account)

    key = create(
        client,
        provider="google-vertex",
        credentials=service_account,
        region="us-central1",
        provisioned_throughput=True,
    )
    result = client.post(f"/v1/byok/keys/{key['id']}/test").json()

    assert (key["region"], key["provisioned_throughput"]) == ("us-central1", True)
    assert key["hint"].endswith(f"@{VERTEX_PROJECT}.iam.gserviceaccount.com")
    assert result["ok"] is True, result
    sent = [r for r in gateway.sim.requests if r.provider == "google-vertex"]
    assert sent
    assert sent[-1].headers.get("x-vertex-ai-llm-request-type") == "dedicated"


def test_vertex_region_defaults_to_global(client: httpx.Client, service_account: dict[str, Any]) -> None:
    key = create(client, provider="google-vertex", credentials=json.dumps(service_account))

    assert key["region"] == "global"
    assert key["provisioned_throughput"] is False


# --- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"provider": "openrouter", "credentials": OPENAI_KEY}, "provider"),
        ({"provider": "openai"}, "credentials"),
        ({"credentials": OPENAI_KEY}, "provider"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "enabled": "true"}, "enabled"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "always_use": 1}, "always_use"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "test": "yes"}, "test"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "name": "n" * 101}, "name"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "name": "bad\nname"}, "name"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "name": 5}, "name"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "api_base": "https://evil.com"}, "api_base"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "region": "us-east-1"}, "region"),
        ({"provider": "openai", "credentials": OPENAI_KEY, "provisioned_throughput": True}, "provisioned_throughput"),
        ({"provider": "openai", "credentials": OPENAI_KEY[:7]}, "credentials"),
        ({"provider": "openai", "credentials": OPENAI_KEY + " <x>"}, "credentials"),
        ({"provider": "openai", "credentials": {"key": OPENAI_KEY}}, "credentials"),
        (
            {"provider": "amazon-bedrock", "credentials": {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": "x"}},
            "credentials.secretAccessKey",
        ),
        (
            {
                "provider": "amazon-bedrock",
                "credentials": {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY, "x": 1},
            },
            "credentials",
        ),
        (
            {
                "provider": "amazon-bedrock",
                "credentials": {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY},
                "provisioned_throughput": True,
            },
            "provisioned_throughput",
        ),
    ],
)
def test_invalid_create_bodies_name_the_field_and_never_echo_the_secret(
    client: httpx.Client, gateway: Any, body: dict[str, Any], param: str
) -> None:
    response = client.post("/v1/byok/keys", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert param.rsplit(".", maxsplit=1)[-1] in error["message"]
    for secret in (OPENAI_KEY, OPENAI_KEY[:7], SECRET_ACCESS_KEY):
        assert secret not in response.text
    assert accounts_items_with_keys(gateway) == []


@pytest.mark.parametrize("region", ["us-east-1.evil.com", "../", "evil.com/", "us-east-1/../x", "us-east-1 "])
@pytest.mark.parametrize("provider", ["amazon-bedrock", "google-vertex"])
def test_hostile_regions_are_rejected_on_create_and_patch(
    client: httpx.Client, service_account: dict[str, Any], provider: str, region: str
) -> None:
    credentials: Any = service_account if provider == "google-vertex" else "ABSKbedrockApiKey0000000001"
    key = create(client, provider=provider, credentials=credentials)

    on_create = client.post("/v1/byok/keys", json={"provider": provider, "credentials": credentials, "region": region})
    on_patch = client.patch(f"/v1/byok/keys/{key['id']}", json={"region": region})

    for response in (on_create, on_patch):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == "region"
    assert client.get(f"/v1/byok/keys/{key['id']}").json()["region"] == key["region"]


def test_vertex_token_uri_off_the_allowlist_is_rejected(client: httpx.Client, service_account: dict[str, Any]) -> None:
    hostile = {**service_account, "token_uri": "https://evil.example.com/token"}

    response = client.post("/v1/byok/keys", json={"provider": "google-vertex", "credentials": hostile})

    assert response.status_code == 422
    assert response.json()["error"]["param"] == "credentials.token_uri"
    assert service_account["private_key"] not in response.text


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "body"),
        ({"enabled": None}, "enabled"),
        ({"enabled": "false"}, "enabled"),
        ({"provider": "anthropic"}, "provider"),
        ({"credentials": "short"}, "credentials"),
        ({"region": "us-east-1"}, "region"),
        ({"provisioned_throughput": True}, "provisioned_throughput"),
    ],
)
def test_invalid_patches_are_rejected_and_change_nothing(
    client: httpx.Client, body: dict[str, Any], param: str
) -> None:
    key = create(client, provider="openai", credentials=OPENAI_KEY)

    response = client.patch(f"/v1/byok/keys/{key['id']}", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    assert client.get(f"/v1/byok/keys/{key['id']}").json() == key


def test_non_json_bodies_are_refused(client: httpx.Client) -> None:
    not_json = client.post("/v1/byok/keys", content=b"{", headers={"content-type": "application/json"})
    not_object = client.post("/v1/byok/keys", json=[OPENAI_KEY])

    assert not_json.status_code == 400
    assert not_object.status_code == 400
    assert OPENAI_KEY not in not_object.text


# --- secrecy -----------------------------------------------------------------------------------------------


def test_no_submitted_secret_reaches_the_table_or_the_logs(
    client: httpx.Client,
    gateway: Any,
    service_account: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    rotated = "sk-proj-Rotated0123456789abcdefWXYZ"
    session_token = "FwoGZXIvYXdzEBYaDCustomerSessionToken0001"
    aws = {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY, "sessionToken": session_token}
    secrets = [OPENAI_KEY, WRONG_KEY, rotated, SECRET_ACCESS_KEY, session_token, service_account["private_key"]]
    # A PEM is also checked by its base64 body lines, which is what would leak if it were re-encoded.
    secrets += [line for line in service_account["private_key"].splitlines() if len(line) > 40]

    openai_key = create(client, provider="openai", credentials=OPENAI_KEY, test=True)
    client.patch(f"/v1/byok/keys/{openai_key['id']}", json={"credentials": rotated})
    client.post(f"/v1/byok/keys/{openai_key['id']}/test")
    client.post("/v1/byok/keys", json={"provider": "openai", "credentials": WRONG_KEY, "test": True})
    client.post("/v1/byok/keys", json={"provider": "openai", "credentials": WRONG_KEY + " x"})
    create(client, provider="amazon-bedrock", credentials=aws)
    client.post("/v1/byok/keys", json={"provider": "amazon-bedrock", "credentials": {**aws, "region": "x"}})
    vertex = create(client, provider="google-vertex", credentials=service_account)
    client.post(f"/v1/byok/keys/{vertex['id']}/test")
    client.post("/v1/byok/keys", json={"provider": "google-vertex", "credentials": {**service_account, "type": "x"}})

    stored = repr(accounts_items(gateway))
    captured = capfd.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "byok key created" in logged  # the logs were captured, so their silence below means something
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
    key_items = accounts_items_with_keys(gateway)
    assert len(key_items) == 3
    for item in key_items:
        assert {"ciphertext", "hint"} <= set(item)
        assert not {"credentials", "api_key", "secretAccessKey", "private_key"} & set(item)


# --- isolation ---------------------------------------------------------------------------------------------


def test_another_customer_cannot_see_change_delete_or_test_a_key(
    client: httpx.Client, other_client: httpx.Client, gateway: Any
) -> None:
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    key = create(client, provider="openai", credentials=OPENAI_KEY)
    url = f"/v1/byok/keys/{key['id']}"
    gateway.sim.clear_requests()

    responses = [
        other_client.get(url),
        other_client.patch(url, json={"enabled": False}),
        other_client.patch(url, json={"credentials": WRONG_KEY}),
        other_client.delete(url),
        other_client.post(f"{url}/test"),
    ]
    unknown = other_client.get("/v1/byok/keys/key_000000000000000000000000")

    for response in responses:
        assert response.status_code == 404
        assert response.json() == unknown.json()
        assert response.json()["error"]["code"] == "not_found"
    assert other_client.get("/v1/byok/keys").json() == {"data": []}
    assert client.get(url).json() == key
    assert gateway.sim.requests == []


@pytest.mark.parametrize("key_id", ["nope", "key_", "KEY%23key_x", "..%2F..%2Fv1", "key_%00"])
def test_malformed_ids_are_plain_404s(client: httpx.Client, key_id: str) -> None:
    create(client, provider="openai", credentials=OPENAI_KEY)

    for response in (
        client.get(f"/v1/byok/keys/{key_id}"),
        client.patch(f"/v1/byok/keys/{key_id}", json={"enabled": False}),
        client.delete(f"/v1/byok/keys/{key_id}"),
        client.post(f"/v1/byok/keys/{key_id}/test"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] in ("not_found", "route_not_found")


def test_ciphertext_moved_to_another_customer_is_reported_broken_and_never_used(
    client: httpx.Client, other_client: httpx.Client, gateway: Any
) -> None:
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    victim = create(client, provider="openai", credentials=OPENAI_KEY)
    attacker = create(other_client, provider="openai", credentials=WRONG_KEY)
    attacker_account = gateway.others[-1].account_id
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    stolen = key_item(gateway, gateway.customer.account_id, victim["id"])["ciphertext"]
    table.update_item(
        Key={"pk": f"ACCOUNT#{attacker_account}", "sk": f"KEY#{attacker['id']}"},
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": stolen},
    )
    gateway.sim.clear_requests()

    response = other_client.post(f"/v1/byok/keys/{attacker['id']}/test")

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is False
    assert "decrypt" in result["error"]["message"]
    assert gateway.sim.requests == []
    assert other_client.get(f"/v1/byok/keys/{attacker['id']}").json()["last_test"]["ok"] is False
