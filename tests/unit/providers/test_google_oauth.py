"""Vertex access tokens: fetched through the shared transport, cached, and only from allowed endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from gateway.providers import AttemptFailed, adapter_for, google_oauth, transport
from tests.unit.providers.helpers import TOKEN_URI, chat, service_account, set_env, vertex_target

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def in_attempt() -> Iterator[None]:
    """The token fetch runs inside an attempt (``routing.run_attempt``), where the transport may send."""
    with transport.attempt():
        yield


def serve(monkeypatch: pytest.MonkeyPatch, handler: Handler) -> list[httpx.Request]:
    """Route the shared client to a fake token endpoint; returns the requests it saw."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    fake = httpx.Client(transport=httpx.MockTransport(record), follow_redirects=False)
    monkeypatch.setattr(transport, "client", lambda: fake)
    return seen


def grant(request: httpx.Request) -> httpx.Response:
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["assertion"][0].count(".") == 2  # a signed JWT
    return httpx.Response(200, json={"access_token": "ya29.minted", "expires_in": 3599, "token_type": "Bearer"})


def test_token_is_fetched_once_and_cached(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    seen = serve(monkeypatch, grant)
    credentials = service_account(rsa_pem)
    assert google_oauth.access_token(credentials, timeout=5, owner="acct_test/key_test") == "ya29.minted"
    assert google_oauth.access_token(credentials, timeout=5, owner="acct_test/key_test") == "ya29.minted"
    assert len(seen) == 1
    assert str(seen[0].url) == TOKEN_URI
    assert seen[0].method == "POST"


def test_token_near_expiry_is_refreshed(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    def short_lived(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "ya29.short", "expires_in": 120})

    seen = serve(monkeypatch, short_lived)
    credentials = service_account(rsa_pem)
    google_oauth.access_token(credentials, timeout=5, owner="acct_test/key_test")
    google_oauth.access_token(credentials, timeout=5, owner="acct_test/key_test")
    assert len(seen) == 2  # under the five-minute margin: never served from cache


def test_vertex_request_carries_the_minted_token(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    serve(monkeypatch, grant)
    target = vertex_target(rsa_pem, "gemini-2.5-flash", "gemini")
    upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    assert upstream.headers["authorization"] == "Bearer ya29.minted"


def test_token_uri_outside_allowlist_is_never_contacted(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    seen = serve(monkeypatch, grant)
    credentials = service_account(rsa_pem, token_uri="https://evil.example/token")
    with pytest.raises(AttemptFailed) as exc:
        google_oauth.access_token(credentials, timeout=5, owner="acct_test/key_test")
    assert exc.value.status_code is None
    assert seen == []


def test_allowlist_is_rechecked_on_every_fetch(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    seen = serve(monkeypatch, grant)
    set_env(monkeypatch, "GOOGLE_TOKEN_URI_ALLOWLIST", "https://other.example/token")
    with pytest.raises(AttemptFailed):
        google_oauth.access_token(service_account(rsa_pem), timeout=5, owner="acct_test/key_test")
    assert seen == []


def test_dev_token_uri_is_allowed(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    seen = serve(monkeypatch, grant)
    set_env(monkeypatch, "DEV_GOOGLE_TOKEN_URIS", "http://127.0.0.1:9000/token")
    token = google_oauth.access_token(
        service_account(rsa_pem, token_uri="http://127.0.0.1:9000/token"), timeout=5, owner="acct_test/key_test"
    )
    assert token == "ya29.minted"
    assert str(seen[0].url) == "http://127.0.0.1:9000/token"


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_token_endpoint_error_fails_fast_with_its_status(
    monkeypatch: pytest.MonkeyPatch, rsa_pem: str, status: int
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

    seen = serve(monkeypatch, refuse)
    with pytest.raises(AttemptFailed) as exc:
        google_oauth.access_token(service_account(rsa_pem), timeout=5, owner="acct_test/key_test")
    assert exc.value.status_code == status
    assert exc.value.outcome == "error"
    assert len(seen) == 1  # google-auth's sleep-and-retry loop is cut short
    assert "PRIVATE" not in exc.value.message and "invalid_grant" not in exc.value.message


@pytest.mark.parametrize(
    ("error", "outcome"),
    [(httpx.ReadTimeout("slow"), "timeout"), (httpx.ConnectError("refused"), "connection_error")],
)
def test_transport_failures_map_to_outcomes(
    monkeypatch: pytest.MonkeyPatch, rsa_pem: str, error: Exception, outcome: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    serve(monkeypatch, fail)
    with pytest.raises(AttemptFailed) as exc:
        google_oauth.access_token(service_account(rsa_pem), timeout=5, owner="acct_test/key_test")
    assert exc.value.outcome == outcome
    assert exc.value.status_code is None


def test_grant_without_access_token_fails_the_attempt(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    def no_token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({"token_type": "Bearer"}).encode())

    serve(monkeypatch, no_token)
    with pytest.raises(AttemptFailed) as exc:
        google_oauth.access_token(service_account(rsa_pem), timeout=5, owner="acct_test/key_test")
    assert exc.value.status_code == 200
    assert exc.value.message == "token endpoint refused the service account"


def test_cached_token_is_never_served_for_a_typed_in_email_and_key_id(
    monkeypatch: pytest.MonkeyPatch, rsa_pem: str
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    seen = serve(monkeypatch, grant)
    victim = service_account(rsa_pem)
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forged = victim.model_copy(update={"private_key": SecretStr(own_key.decode())})
    assert (forged.client_email, forged.private_key_id) == (victim.client_email, victim.private_key_id)

    google_oauth.access_token(victim, timeout=5, owner="acct_victim/key_1")
    google_oauth.access_token(forged, timeout=5, owner="acct_attacker/key_2")
    google_oauth.access_token(victim, timeout=5, owner="acct_other/key_3")  # the same key stored by another

    assert len(seen) == 3  # each owner and each key material mints its own token
