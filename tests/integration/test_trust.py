"""Tenancy of per-process state: nothing a customer types selects another customer's cached token.

Given the real handlers behind the local API server, moto, and the simulator in strict mode (its token endpoint
checks each JWT assertion's signature against the service account it was told to accept).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from local.simulator import make_service_account
from tests.conftest import Gateway

VICTIM_PROJECT = "victim-vertex-prod"
GEMINI = "google/gemini-3-flash"


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def add_vertex_key(api: Any, api_key: str, info: dict[str, Any], **fields: Any) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/byok/keys",
        json={"provider": "google-vertex", "credentials": info, **fields},
        headers=bearer(api_key),
        timeout=30,
    )


def chat(api: Any, api_key: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/chat/completions",
        json={
            "model": GEMINI,
            "messages": [{"role": "user", "content": "hi"}],
            "provider": {"only": ["google-vertex"], "allow_fallbacks": False},
        },
        headers=bearer(api_key),
        timeout=30,
    )


@pytest.fixture
def victim_sa(gateway: Gateway) -> dict[str, Any]:
    info = make_service_account(VICTIM_PROJECT, gateway.sim.token_uri)
    gateway.sim.accept_service_account(info)
    return info


def impostor_of(info: dict[str, Any]) -> dict[str, Any]:
    """The victim's client_email and private_key_id (both visible in many places) with a key of one's own."""
    own = make_service_account(VICTIM_PROJECT, info["token_uri"])
    forged = copy.deepcopy(info)
    forged["private_key"] = own["private_key"]
    return forged


def test_a_forged_service_account_never_gets_the_victims_cached_token(
    api: Any, gateway: Gateway, victim_sa: dict[str, Any]
) -> None:
    # Given the victim's token is cached by a successful request
    assert add_vertex_key(api, gateway.api_key, victim_sa).status_code == 201
    served = chat(api, gateway.api_key)
    assert served.status_code == 200 and served.json()["usage"]["is_byok"] is True
    attacker = gateway.create_customer("attacker")

    # When the attacker stores the victim's email and key id with its own private key
    tested = add_vertex_key(api, attacker.api_key, impostor_of(victim_sa), test=True)
    stored = add_vertex_key(api, attacker.api_key, impostor_of(victim_sa))
    answer = chat(api, attacker.api_key)

    # Then its connection test fails and its chat never runs as BYOK on the victim's project
    assert tested.status_code == 422, tested.text
    assert stored.status_code == 201
    assert not (answer.status_code == 200 and answer.json()["usage"]["is_byok"])
    as_victim = [
        r for r in gateway.sim.requests if r.provider == "google-vertex" and r.credential == victim_sa["client_email"]
    ]
    assert len(as_victim) == 1  # the victim's own request, nothing of the attacker's


def test_the_same_service_account_stored_by_two_customers_is_fetched_for_each(
    api: Any, gateway: Gateway, victim_sa: dict[str, Any]
) -> None:
    other = gateway.create_customer("second owner")
    assert add_vertex_key(api, gateway.api_key, victim_sa).status_code == 201
    assert add_vertex_key(api, other.api_key, victim_sa).status_code == 201

    assert chat(api, gateway.api_key).status_code == 200
    assert chat(api, other.api_key).status_code == 200

    token_fetches = [r for r in gateway.sim.requests if r.provider == "google-oauth" and r.status == 200]
    assert len(token_fetches) == 2  # one token per stored key: no customer's token serves another's request
