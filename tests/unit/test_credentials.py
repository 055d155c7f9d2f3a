"""Validation of submitted provider credentials: each format's rules, hostile regions, and no secret echoed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway.core import settings
from gateway.core.errors import Unprocessable
from gateway.security import credential_formats
from gateway.security.credential_formats import parse_credentials
from gateway.security.credentials import (
    ApiKeyCredentials,
    AwsCredentials,
    ServiceAccountCredentials,
    from_plaintext,
    to_plaintext,
)
from local.simulator import make_service_account

TOKEN_URI = "https://oauth2.test.invalid/token"
API_KEY = "sk-test-Abcdefghijklmnop0123456789"
ACCESS_KEY_ID = "AKIAABCDEFGHIJKLMNOP"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEBYaDKsessiontoken0123456789abcdef+/="
HOSTILE_REGIONS = [
    "us-east-1.evil.com",
    "../",
    "evil.com/",
    "us-east-1/../../x",
    "us-east-1#",
    "us-east-1?x=1",
    "us-east-1\n",
    "us-east-1@evil.com",
    "US-EAST-1",
    "",
    " us-east-1",
    "us-central1.evil.com",
    "localhost:8080",
]


@pytest.fixture(autouse=True)
def token_allowlist(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GOOGLE_TOKEN_URI_ALLOWLIST", TOKEN_URI)
    monkeypatch.delenv("DEV_GOOGLE_TOKEN_URIS", raising=False)
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


@pytest.fixture(scope="module")
def service_account() -> dict[str, Any]:
    return make_service_account("acme-prod-123", TOKEN_URI, client_email="llm@acme-prod-123.iam.gserviceaccount.com")


def aws(**overrides: Any) -> dict[str, Any]:
    creds: dict[str, Any] = {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY}
    creds.update(overrides)
    return {k: v for k, v in creds.items() if v is not None}


def rejected(provider: str, raw: Any, region: str | None = None) -> Unprocessable:
    with pytest.raises(Unprocessable) as info:
        parse_credentials(provider, raw, region)
    return info.value


def assert_no_echo(error: Unprocessable, *secrets: str) -> None:
    text = json.dumps(error.body()) + str(error)
    for secret in secrets:
        assert secret not in text


# --- API key providers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "deepseek", "anthropic", "google-ai-studio"])
def test_api_key_is_accepted_and_hinted_by_its_last_four(provider: str) -> None:
    parsed = parse_credentials(provider, API_KEY)

    assert isinstance(parsed.credentials, ApiKeyCredentials)
    assert parsed.credentials.api_key.get_secret_value() == API_KEY
    assert parsed.hint == "****6789"
    assert parsed.region is None
    assert API_KEY not in repr(parsed)


@pytest.mark.parametrize(
    "bad_key",
    [
        "short12",  # 7 characters
        "k" * 513,
        "sk-has space-0123456789",
        "sk-newline\n0123456789",
        'sk-quote"0123456789',
        "sk-unicode-é0123456789",
        "sk-angle<script>0123456",
    ],
)
def test_api_key_of_wrong_length_or_charset_is_rejected_without_echo(bad_key: str) -> None:
    error = rejected("openai", bad_key)

    assert error.status == 422
    assert error.param == "credentials"
    assert_no_echo(error, bad_key)


@pytest.mark.parametrize("raw", [{"api_key": API_KEY}, 12345678901, None, [API_KEY]])
def test_api_key_provider_rejects_anything_but_a_string(raw: Any) -> None:
    error = rejected("anthropic", raw)

    assert error.param == "credentials"
    assert_no_echo(error, API_KEY)


def test_region_is_refused_for_providers_without_regions() -> None:
    error = rejected("openai", API_KEY, region="us-east-1")

    assert error.param == "region"


# --- Amazon Bedrock ------------------------------------------------------------------------------------


def test_bedrock_api_key_string_defaults_to_us_east_1() -> None:
    bedrock_key = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlMDEyMzQ1Njc4OQ=="

    parsed = parse_credentials("amazon-bedrock", bedrock_key)

    assert isinstance(parsed.credentials, ApiKeyCredentials)
    assert parsed.region == "us-east-1"
    assert parsed.hint == "****OQ=="


def test_bedrock_aws_credentials_keep_region_on_the_key_and_hint_the_access_key_id() -> None:
    parsed = parse_credentials("amazon-bedrock", aws(region="eu-central-1", sessionToken=SESSION_TOKEN))

    assert isinstance(parsed.credentials, AwsCredentials)
    assert parsed.region == "eu-central-1"
    assert parsed.hint == "AKIA****MNOP"
    assert parsed.credentials.session_token is not None
    plaintext = to_plaintext(parsed.credentials)
    assert b"region" not in plaintext
    assert from_plaintext(plaintext) == parsed.credentials


def test_bedrock_aws_credentials_may_arrive_as_a_json_string() -> None:
    parsed = parse_credentials("amazon-bedrock", json.dumps(aws()), region="us-west-2")

    assert isinstance(parsed.credentials, AwsCredentials)
    assert parsed.region == "us-west-2"


@pytest.mark.parametrize(
    ("creds", "field"),
    [
        (aws(accessKeyId="akiaabcdefghijklmnop"), "credentials.accessKeyId"),
        (aws(accessKeyId="XKIAABCDEFGHIJKLMNOP"), "credentials.accessKeyId"),
        (aws(accessKeyId="AKIAABCDEF"), "credentials.accessKeyId"),
        (aws(accessKeyId=None), "credentials.accessKeyId"),
        (aws(secretAccessKey=SECRET_ACCESS_KEY[:-1]), "credentials.secretAccessKey"),
        (aws(secretAccessKey=SECRET_ACCESS_KEY[:-1] + "!"), "credentials.secretAccessKey"),
        (aws(secretAccessKey=None), "credentials.secretAccessKey"),
        (aws(secretAccessKey=12345), "credentials.secretAccessKey"),
        (aws(sessionToken="short"), "credentials.sessionToken"),
        (aws(sessionToken=SESSION_TOKEN + " ;"), "credentials.sessionToken"),
        (aws(region="us-east-1.evil.com"), "credentials.region"),
        (aws(endpoint="https://evil.com"), "credentials"),
        (aws(region="eu-west-1"), "region"),  # disagrees with the top-level region below
    ],
)
def test_bedrock_aws_credentials_are_checked_field_by_field(creds: dict[str, Any], field: str) -> None:
    error = rejected("amazon-bedrock", creds, region="us-east-1" if field == "region" else None)

    assert error.param == field
    assert_no_echo(error, SECRET_ACCESS_KEY, SESSION_TOKEN)


def test_bedrock_json_that_does_not_parse_is_rejected_without_echo() -> None:
    raw = '{"accessKeyId": "AKIAABCDEFGHIJKLMNOP", "secretAccessKey": "' + SECRET_ACCESS_KEY + '"'

    error = rejected("amazon-bedrock", raw)

    assert error.param == "credentials"
    assert_no_echo(error, SECRET_ACCESS_KEY)


@pytest.mark.parametrize("region", HOSTILE_REGIONS)
def test_bedrock_rejects_hostile_regions(region: str) -> None:
    error = rejected("amazon-bedrock", aws(), region=region)

    assert error.param == "region"
    assert_no_echo(error, SECRET_ACCESS_KEY)


@pytest.mark.parametrize("region", HOSTILE_REGIONS)
def test_bedrock_rejects_hostile_regions_inside_the_credentials(region: str) -> None:
    error = rejected("amazon-bedrock", aws(region=region))

    assert error.param == "credentials.region"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"])
def test_bedrock_accepts_real_aws_regions(region: str) -> None:
    assert parse_credentials("amazon-bedrock", aws(), region=region).region == region


# --- Google Vertex -------------------------------------------------------------------------------------


def test_vertex_service_account_defaults_to_global_and_hints_a_masked_email(
    service_account: dict[str, Any],
) -> None:
    parsed = parse_credentials("google-vertex", service_account)

    assert isinstance(parsed.credentials, ServiceAccountCredentials)
    assert parsed.region == "global"
    assert parsed.hint == "ll****@acme-prod-123.iam.gserviceaccount.com"
    assert service_account["private_key"] not in repr(parsed)


def test_vertex_region_may_sit_in_the_service_account_or_the_request(service_account: dict[str, Any]) -> None:
    inner = parse_credentials("google-vertex", {**service_account, "region": "europe-west4"})
    outer = parse_credentials("google-vertex", json.dumps(service_account), region="us-central1")

    assert inner.region == "europe-west4"
    assert outer.region == "us-central1"


@pytest.mark.parametrize("missing", ["type", "project_id", "private_key", "client_email", "token_uri"])
def test_vertex_requires_the_service_account_fields(service_account: dict[str, Any], missing: str) -> None:
    creds = {k: v for k, v in service_account.items() if k != missing}

    error = rejected("google-vertex", creds)

    assert error.param == f"credentials.{missing}"
    assert_no_echo(error, service_account["private_key"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": "authorized_user"}, "credentials.type"),
        ({"project_id": "Bad Project!"}, "credentials.project_id"),
        ({"client_email": "someone@gmail.com"}, "credentials.client_email"),
        ({"token_uri": "https://evil.example.com/token"}, "credentials.token_uri"),
        ({"token_uri": "https://oauth2.googleapis.com/token"}, "credentials.token_uri"),  # not on the allowlist
        ({"private_key_id": "not hex!"}, "credentials.private_key_id"),
        ({"client_id": "abc"}, "credentials.client_id"),
        ({"auth_uri": "https://evil.com/auth"}, "credentials.auth_uri"),
        ({"universe_domain": "evil.com"}, "credentials.universe_domain"),
        ({"region": "us-central1.evil.com"}, "credentials.region"),
        ({"region": "us-east-1"}, "credentials.region"),  # an AWS region, not a Google one
        ({"extra_field": "x"}, "credentials"),
    ],
)
def test_vertex_service_account_fields_are_validated(
    service_account: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    error = rejected("google-vertex", {**service_account, **overrides})

    assert error.param == field
    assert_no_echo(error, service_account["private_key"])


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        "just a string",
        12345,
    ],
)
def test_vertex_private_key_must_be_a_pem_that_parses(service_account: dict[str, Any], pem: Any) -> None:
    error = rejected("google-vertex", {**service_account, "private_key": pem})

    assert error.param == "credentials.private_key"
    if isinstance(pem, str):
        assert_no_echo(error, pem)


@pytest.mark.parametrize("region", HOSTILE_REGIONS)
def test_vertex_rejects_hostile_regions(service_account: dict[str, Any], region: str) -> None:
    error = rejected("google-vertex", service_account, region=region)

    assert error.param == "region"


@pytest.mark.parametrize("raw", ["sk-just-an-api-key-123", ["x"], None])
def test_vertex_needs_a_service_account_object(raw: Any) -> None:
    error = rejected("google-vertex", raw)

    assert error.param == "credentials"


@pytest.mark.parametrize("provider", ["amazon-bedrock", "google-vertex"])
def test_an_unknown_field_name_is_echoed_only_when_it_is_a_short_identifier(provider: str) -> None:
    pasted = "sk-live-51HxQpT2eZvKYlo2C0123456789abcdefABCDEF"
    base = {"accessKeyId": "AKIAEXAMPLE000000001"} if provider == "amazon-bedrock" else {"type": "service_account"}

    with pytest.raises(Unprocessable) as raised:
        parse_credentials(provider, {**base, "secretAcessKey": "x", pasted: "x"})

    message = raised.value.message
    assert "secretAcessKey" in message  # a typo is named, to be fixed
    assert pasted not in message and "51HxQpT2" not in message
    assert "1 more not shown" in message


@pytest.mark.parametrize("region", ["us-east-\u0661", "us-east-1\n", "us-east-01x"])
def test_bedrock_region_digits_are_ascii_digits(region: str) -> None:
    error = rejected("amazon-bedrock", aws(region=region))

    assert error.param == "credentials.region"


# --- the served schemas ---------------------------------------------------------------------------------


def _served_schema(provider: str, kind: str) -> dict[str, Any]:
    (described,) = [f for f in credential_formats.describe_formats(provider) if f["type"] == kind]
    return described["schema"]


def test_served_schemas_accept_what_the_validator_accepts(service_account: dict[str, Any]) -> None:
    accepted = [
        ("openai", "api_key", API_KEY),
        ("amazon-bedrock", "api_key", "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlMDEyMzQ1Njc4OQ=="),
        ("amazon-bedrock", "aws_credentials", aws(sessionToken=SESSION_TOKEN, region="eu-west-3")),
        ("google-vertex", "service_account", {**service_account, "region": "europe-west4"}),
    ]
    for provider, kind, raw in accepted:
        parse_credentials(provider, raw)
        Draft202012Validator(_served_schema(provider, kind)).validate(raw)


def test_served_schemas_refuse_what_the_validator_refuses(service_account: dict[str, Any]) -> None:
    refused = [
        ("openai", "api_key", "sk-has space-0123456789"),
        ("amazon-bedrock", "aws_credentials", aws(region="us-east-1.evil.com")),
        ("amazon-bedrock", "aws_credentials", aws(endpoint="https://evil.com")),
        ("google-vertex", "service_account", {**service_account, "token_uri": "https://evil.example.com/token"}),
        ("google-vertex", "service_account", {**service_account, "universe_domain": "evil.com"}),
    ]
    for provider, kind, raw in refused:
        rejected(provider, raw)
        assert not Draft202012Validator(_served_schema(provider, kind)).is_valid(raw), raw
