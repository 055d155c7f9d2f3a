"""The BYOK key service without HTTP: what it stores, what it hands the connection test, what it refuses.

Given moto-backed tables and KMS (the ``gateway`` fixture) and a stand-in for ``routing.run_connection_test``
that records its arguments, so each test can say exactly what the service asked of the upstream path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.apis import byok
from gateway.core.errors import NotFound, Unprocessable
from gateway.data import accounts, byok_keys
from gateway.routing import attempt as routing
from gateway.security import crypto
from gateway.security.credentials import ApiKeyCredentials, from_plaintext
from local.simulator import make_service_account

API_KEY = "sk-unit-0123456789abcdefghijWXYZ"


@dataclass
class FakeConnectionTest:
    ok: bool = True
    message: str = "HTTP 401: invalid key"
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self,
        provider: str,
        credentials: Any,
        region: str | None,
        provisioned_throughput: bool,
        timeout_s: float,
        *,
        owner: str,
    ) -> dict[str, Any]:
        self.calls.append(
            {
                "provider": provider,
                "credentials": credentials,
                "region": region,
                "provisioned_throughput": provisioned_throughput,
                "timeout_s": timeout_s,
                "owner": owner,
            }
        )
        result: dict[str, Any] = {"ok": self.ok, "provider": provider, "model": "test-model", "latency_ms": 7}
        if not self.ok:
            result["error"] = {"status_code": 401, "message": self.message}
        return result


@pytest.fixture
def upstream(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> FakeConnectionTest:
    fake = FakeConnectionTest()
    monkeypatch.setattr(routing, "run_connection_test", fake)
    return fake


@pytest.fixture
def account_id(gateway: Any) -> str:
    return str(gateway.customer.account_id)


def snapshot(account_id: str) -> accounts.AccountSnapshot:
    loaded = accounts.load_account(account_id)
    assert loaded is not None
    return loaded


def create(account_id: str, **body: Any) -> byok_keys.StoredKey:
    return byok.create_key(snapshot(account_id), byok.CreateKeyRequest.model_validate(body))


def patch(account_id: str, key_id: str, **body: Any) -> byok_keys.StoredKey:
    return byok.update_key(snapshot(account_id), key_id, byok.UpdateKeyRequest.model_validate(body))


# --- request models ----------------------------------------------------------------------------------------


def test_create_request_hides_the_credentials_in_its_repr() -> None:
    request = byok.CreateKeyRequest.model_validate({"provider": "openai", "credentials": API_KEY})

    assert API_KEY not in repr(request)
    assert API_KEY not in str(request.model_dump())


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"provider": "openai", "credentials": API_KEY, "enabled": "true"}, "enabled"),
        ({"provider": "openai", "credentials": API_KEY, "enabled": 1}, "enabled"),
        ({"provider": "openai", "credentials": API_KEY, "name": "tab\there"}, "name"),
        ({"provider": "openai", "credentials": API_KEY, "name": ""}, "name"),
        ({"provider": "openai", "credentials": API_KEY, "name": "x" * 101}, "name"),
        ({"provider": "openai", "credentials": API_KEY, "extra": 1}, "extra"),
        ({"provider": "azure", "credentials": API_KEY}, "provider"),
        ({"provider": "openai"}, "credentials"),
    ],
)
def test_create_request_is_strict(body: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ValidationError) as info:
        byok.CreateKeyRequest.model_validate(body)

    assert [e["loc"][0] for e in info.value.errors()] == [field_name]


def test_name_of_exactly_100_printable_characters_is_accepted() -> None:
    name = "Prod key — ünïcode ok " + "x" * 78
    assert len(name) == 100

    request = byok.CreateKeyRequest.model_validate({"provider": "openai", "credentials": API_KEY, "name": name})

    assert request.name == name


# --- create ------------------------------------------------------------------------------------------------


def test_created_key_is_encrypted_under_its_own_context(account_id: str, upstream: FakeConnectionTest) -> None:
    key = create(account_id, provider="openai", credentials=API_KEY, name="n")

    context = crypto.encryption_context(account_id, key.key_id, "openai")
    stored = snapshot(account_id).key(key.key_id)
    assert stored is not None
    assert API_KEY.encode() not in stored.ciphertext
    credentials = from_plaintext(crypto.decrypt(stored.ciphertext, context))
    assert isinstance(credentials, ApiKeyCredentials)
    assert credentials.api_key.get_secret_value() == API_KEY
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(stored.ciphertext, crypto.encryption_context("acct_other", key.key_id, "openai"))
    assert upstream.calls == []


def test_create_with_test_hands_the_parsed_credentials_to_the_connection_test(
    account_id: str, upstream: FakeConnectionTest, gateway: Any
) -> None:
    service_account = make_service_account("acme-unit-1", gateway.env["GOOGLE_TOKEN_URI_ALLOWLIST"])

    key = create(
        account_id,
        provider="google-vertex",
        credentials=service_account,
        region="europe-west4",
        provisioned_throughput=True,
        test=True,
    )

    [call] = upstream.calls
    assert call["provider"] == "google-vertex"
    assert call["credentials"].private_key.get_secret_value() == service_account["private_key"]
    assert (call["region"], call["provisioned_throughput"]) == ("europe-west4", True)
    assert call["timeout_s"] == pytest.approx(3.0)  # KEY_TEST_TIMEOUT_MS in the test stack
    assert call["owner"] == f"{account_id}/new"  # per-process token state is the caller's own
    assert (key.region, key.provisioned_throughput) == ("europe-west4", True)


def test_failed_test_on_create_raises_422_with_the_result_and_stores_nothing(
    account_id: str, upstream: FakeConnectionTest
) -> None:
    upstream.ok = False

    with pytest.raises(Unprocessable) as info:
        create(account_id, provider="openai", credentials=API_KEY, test=True)

    body = info.value.body()["error"]
    assert body["test"]["ok"] is False
    assert body["test"]["error"]["status_code"] == 401
    assert snapshot(account_id).keys == []


def test_provisioned_throughput_is_only_for_vertex(account_id: str) -> None:
    with pytest.raises(Unprocessable) as info:
        create(account_id, provider="amazon-bedrock", credentials=API_KEY, provisioned_throughput=True)

    assert info.value.param == "provisioned_throughput"
    assert snapshot(account_id).keys == []


# --- update ------------------------------------------------------------------------------------------------


def test_empty_patch_is_refused(account_id: str) -> None:
    key = create(account_id, provider="openai", credentials=API_KEY)

    with pytest.raises(Unprocessable):
        patch(account_id, key.key_id)


def test_rotation_re_encrypts_bumps_the_revision_and_clears_the_last_test(
    account_id: str, upstream: FakeConnectionTest
) -> None:
    key = create(account_id, provider="openai", credentials=API_KEY)
    byok.test_key(snapshot(account_id), key.key_id)
    tested = snapshot(account_id).key(key.key_id)
    assert tested is not None
    assert tested.last_test is not None

    rotated = patch(account_id, key.key_id, credentials="sk-unit-rotated-000000000000ABCD")

    assert rotated.hint == "****ABCD"
    assert rotated.ciphertext != tested.ciphertext
    assert rotated.revision == tested.revision + 1
    assert rotated.last_test is None


def test_rotation_keeps_the_region_unless_the_new_credentials_carry_one(account_id: str) -> None:
    aws = {"accessKeyId": "AKIAUNITTEST00000001", "secretAccessKey": "u" * 40}
    key = create(account_id, provider="amazon-bedrock", credentials=aws, region="eu-west-3")

    kept = patch(account_id, key.key_id, credentials=aws)
    moved = patch(account_id, key.key_id, credentials={**aws, "region": "ap-south-1"})
    explicit = patch(account_id, key.key_id, credentials="ABSKunitBedrockApiKey0001", region="us-west-2")

    assert kept.region == "eu-west-3"
    assert moved.region == "ap-south-1"
    assert explicit.region == "us-west-2"
    assert explicit.hint == "****0001"


def test_region_change_is_validated_for_the_keys_provider(account_id: str) -> None:
    openai_key = create(account_id, provider="openai", credentials=API_KEY)
    bedrock_key = create(account_id, provider="amazon-bedrock", credentials="ABSKunitBedrockApiKey0001")

    with pytest.raises(Unprocessable) as not_used:
        patch(account_id, openai_key.key_id, region="us-east-1")
    with pytest.raises(Unprocessable) as not_aws:
        patch(account_id, bedrock_key.key_id, region="us-central1")

    assert not_used.value.param == "region"
    assert not_aws.value.param == "region"
    assert patch(account_id, bedrock_key.key_id, region="eu-north-1").region == "eu-north-1"


def test_a_key_deleted_meanwhile_is_not_found(account_id: str) -> None:
    key = create(account_id, provider="openai", credentials=API_KEY)
    stale = snapshot(account_id)
    byok.delete_key(snapshot(account_id), key.key_id)

    with pytest.raises(NotFound):
        byok.update_key(stale, key.key_id, byok.UpdateKeyRequest.model_validate({"enabled": False}))
    with pytest.raises(NotFound):
        byok.delete_key(stale, key.key_id)


# --- test --------------------------------------------------------------------------------------------------


def test_a_result_for_credentials_rotated_meanwhile_is_not_recorded(
    account_id: str, upstream: FakeConnectionTest
) -> None:
    key = create(account_id, provider="openai", credentials=API_KEY)
    stale = snapshot(account_id)
    patch(account_id, key.key_id, credentials="sk-unit-rotated-000000000000ABCD")

    result = byok.test_key(stale, key.key_id)

    assert result["ok"] is True
    current = snapshot(account_id).key(key.key_id)
    assert current is not None
    assert current.last_test is None


def test_undecryptable_key_is_reported_broken_without_calling_upstream(
    account_id: str, upstream: FakeConnectionTest
) -> None:
    key = create(account_id, provider="openai", credentials=API_KEY)
    other = create(account_id, provider="anthropic", credentials=API_KEY)
    byok_keys.update_key(account_id, key.key_id, {"ciphertext": other.ciphertext})

    result = byok.test_key(snapshot(account_id), key.key_id)

    assert result["ok"] is False
    assert result["error"] == {"status_code": None, "message": byok.BROKEN_KEY_MESSAGE}
    assert upstream.calls == []


def test_unknown_key_is_not_found(account_id: str, upstream: FakeConnectionTest) -> None:
    with pytest.raises(NotFound):
        byok.test_key(snapshot(account_id), "key_doesnotexist")


# --- providers ---------------------------------------------------------------------------------------------


def test_provider_schemas_accept_what_the_validator_accepts(gateway: Any) -> None:
    described = {p["slug"]: p for p in byok.describe_providers()}
    aws = described["amazon-bedrock"]["formats"][1]["schema"]["properties"]
    vertex = described["google-vertex"]["formats"][0]["schema"]["properties"]

    assert re.fullmatch(described["openai"]["formats"][0]["schema"]["pattern"], API_KEY)
    assert re.fullmatch(aws["accessKeyId"]["pattern"], "AKIAUNITTEST00000001")
    assert not re.fullmatch(aws["accessKeyId"]["pattern"], "akiaunittest00000001")
    assert re.fullmatch(described["google-vertex"]["region"]["pattern"], "global")
    assert re.fullmatch(described["google-vertex"]["region"]["pattern"], "us-central1")
    assert not re.fullmatch(described["google-vertex"]["region"]["pattern"], "us-central1.evil.com")
    assert vertex["token_uri"]["enum"] == [gateway.env["GOOGLE_TOKEN_URI_ALLOWLIST"]]
    assert aws["secretAccessKey"]["writeOnly"] is True
