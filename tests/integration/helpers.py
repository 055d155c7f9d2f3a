"""Helpers for integration tests that drive the HTTP API as a customer would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from local.simulator import ProviderSimulator, make_service_account

# (model, provider) pairs covering every provider and every Vertex wire format.
ROUTES = [
    ("anthropic/claude-sonnet-4.5", "anthropic"),
    ("anthropic/claude-sonnet-4.5", "amazon-bedrock"),
    ("anthropic/claude-sonnet-4.5", "google-vertex"),
    ("google/gemini-3-flash", "google-vertex"),
    ("google/gemini-3-flash", "google-ai-studio"),
    ("deepseek/deepseek-v3.2", "deepseek"),
    ("deepseek/deepseek-v3.2", "google-vertex"),
    ("openai/gpt-5-mini", "openai"),
]
BYOK_API_KEYS = {
    "openai": "sk-byok-customer-openai-7f3a9c",
    "deepseek": "sk-byok-customer-deepseek-51ab",
    "anthropic": "sk-ant-byok-customer-0c9d2e",
    "google-ai-studio": "AIzaByokCustomerStudio0042",
}
BYOK_AWS = {
    "accessKeyId": "AKIABYOKCUSTOMER0001",
    "secretAccessKey": "byokCustomerSecretAccessKey0000000000001",
}


def byok_credentials(sim: ProviderSimulator, provider: str) -> Any:
    """Customer credentials for ``provider``, accepted by the simulator."""
    if provider == "amazon-bedrock":
        sim.accept_aws(BYOK_AWS["accessKeyId"], BYOK_AWS["secretAccessKey"])
        return dict(BYOK_AWS)
    if provider == "google-vertex":
        info = make_service_account("byok-customer-proj", sim.token_uri)
        sim.accept_service_account(info)
        return info
    sim.accept_api_key(provider, BYOK_API_KEYS[provider])
    return BYOK_API_KEYS[provider]


def credential_id(credentials: Any) -> str:
    """What the simulator records as the credential of a request made with ``credentials``."""
    if isinstance(credentials, dict):
        return str(credentials.get("accessKeyId") or credentials["client_email"])
    return str(credentials)


def add_key(base_url: str, api_key: str, provider: str, credentials: Any, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/v1/byok/keys",
        json={"provider": provider, "credentials": credentials, **fields},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=20,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def get_log(base_url: str, api_key: str, request_id: str, wait_s: float = 5.0) -> dict[str, Any]:
    """The request record. A streamed answer's record is written once its last byte has gone out, so a client
    that read ``[DONE]`` can ask a moment before it exists: a 404 is retried for up to ``wait_s``."""
    give_up = time.monotonic() + wait_s
    while True:
        response = httpx.get(
            f"{base_url}/v1/logs/{request_id}", headers={"Authorization": f"Bearer {api_key}"}, timeout=20
        )
        if response.status_code != 404 or time.monotonic() > give_up:
            break
        time.sleep(0.02)
    assert response.status_code == 200, response.text
    return dict(response.json())


def count_updates(monkeypatch: Any, counts: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Every UpdateItem on the accounts table that ``counts`` picks from now on (its UpdateExpression), in order."""
    from gateway.data import accounts

    writes: list[str] = []
    real = accounts._table

    class Counting:
        def __init__(self, table: Any) -> None:
            self._table = table

        def update_item(self, **kwargs: Any) -> Any:
            if counts(kwargs):
                writes.append(kwargs["UpdateExpression"])
            return self._table.update_item(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._table, name)

    monkeypatch.setattr(accounts, "_table", lambda: Counting(real()))
    return writes


def count_profile_writes(monkeypatch: Any) -> list[str]:
    """Every UpdateItem on an account's profile item from now on (its UpdateExpression), in order."""
    return count_updates(monkeypatch, lambda kwargs: kwargs["Key"].get("sk") == "PROFILE")
