"""Fixtures for the provider adapter tests: clean settings, a throwaway RSA key, a fake Vertex token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.core.settings import get_settings
from gateway.providers import google_oauth
from gateway.security.credentials import ServiceAccountCredentials
from tests.unit.providers.helpers import UPSTREAM_ENV


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in UPSTREAM_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    google_oauth.reset()
    yield
    get_settings.cache_clear()
    google_oauth.reset()


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def fake_token(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace the Vertex token fetch; records the timeouts it was called with."""
    calls: list[float] = []

    def access_token(credentials: ServiceAccountCredentials, timeout: float, *, owner: str) -> str:
        calls.append(timeout)
        return "ya29.fake-token"

    monkeypatch.setattr(google_oauth, "access_token", access_token)
    return calls
