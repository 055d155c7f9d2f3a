"""Exact-secret scrubbing: what the patterns of ``logs.redact`` cannot recognise is still removed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.data.request_log import redact
from gateway.providers import transport
from gateway.routing import attempt
from gateway.security import redact as scrub
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials

SHORT_KEY = "plainkeyq"  # no prefix, short, no digits: no pattern of redact() matches it


def test_redact_alone_misses_a_short_plain_key() -> None:
    assert SHORT_KEY in redact(f"Incorrect API key provided: {SHORT_KEY}")


def test_every_field_of_aws_credentials_is_a_secret_of_the_attempt() -> None:
    creds = AwsCredentials(
        access_key_id="AKIAEXAMPLE000000001",
        secret_access_key=SecretStr("abcdefghijklmnopqrstuvwxyzabcdefghijklmn"),
        session_token=SecretStr("sessiontokenvalueonly"),
    )

    found = scrub.secrets_of(creds, {"x-amz-security-token": "sessiontokenvalueonly", "accept": "text/plain"})

    assert set(found) == {
        "AKIAEXAMPLE000000001",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
        "sessiontokenvalueonly",
    }


def test_the_bearer_token_sent_is_a_secret_of_the_attempt() -> None:
    found = scrub.secrets_of(None, {"Authorization": "Bearer ya29.accesstokeninuse"})

    assert "ya29.accesstokeninuse" in found


@pytest.mark.parametrize(
    "spelling",
    [SHORT_KEY + "/+=", json.dumps(SHORT_KEY + "/+=")[1:-1], "plainkeyq%2F%2B%3D"],
    ids=["as is", "json-escaped", "url-encoded"],
)
def test_each_spelling_of_a_secret_is_scrubbed(spelling: str) -> None:
    assert scrub.scrub(f"key {spelling} rejected", [SHORT_KEY + "/+="]) == "key [redacted] rejected"


def test_a_connection_test_result_never_quotes_the_key(monkeypatch: pytest.MonkeyPatch, gateway: Any) -> None:
    # Given a provider that quotes the key back in its 401
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SHORT_KEY}"}})

    monkeypatch.setattr(transport, "client", lambda: transport.new_client(httpx.MockTransport(upstream)))
    creds = ApiKeyCredentials(api_key=SecretStr(SHORT_KEY))

    # When the key is tested
    result = attempt.run_connection_test("openai", creds, None, False, 5, owner="acct_x/new")

    # Then the result says why, without the key
    assert result["ok"] is False
    assert SHORT_KEY not in json.dumps(result)
    assert "[redacted]" in result["error"]["message"]


def test_a_key_quoted_across_the_length_cut_leaves_no_prefix_behind(
    monkeypatch: pytest.MonkeyPatch, gateway: Any
) -> None:
    key = "quotedacrossthecutkeyvalue"
    padding = "the request was rejected " * 7  # the key starts just before the 200-character cut

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"{padding}{key}"}})

    monkeypatch.setattr(transport, "client", lambda: transport.new_client(httpx.MockTransport(upstream)))

    result = attempt.run_connection_test(
        "openai", ApiKeyCredentials(api_key=SecretStr(key)), None, False, 5, owner="acct_x/new"
    )

    message = result["error"]["message"]
    assert not any(key[: n + 1] in message for n in range(5, len(key)))
