"""The prompt-cache side channel: customers on the operator's shared OpenAI key do not share a cache partition.

Given the real handlers behind the local API server, moto, and the provider simulator, which records the exact
body each upstream request carried. OpenAI routes a request to a cache by its prompt prefix combined with
``prompt_cache_key``: the gateway sets that key per account on every shared attempt (docs/security.md).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Customer, Gateway

SYSTEM_PROMPT = "You are the pricing assistant of Example Corp. Internal discount codes: ... " * 40
OPENAI_KEY = "sk-proj-PromptCacheByokKey0123456789abcdef"


def ask(api: Any, customer: Customer, **fields: Any) -> httpx.Response:
    body = {
        "model": "openai/gpt-5-mini",
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Quote me a price"}],
        **fields,
    }
    return httpx.post(
        f"{api.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {customer.api_key}"},
        timeout=30,
    )


def cache_key_sent(gateway: Gateway) -> Any:
    [sent] = [r for r in gateway.sim.requests if r.provider == "openai"]
    gateway.sim.clear_requests()
    return sent.json.get("prompt_cache_key")


def test_two_accounts_on_the_shared_key_name_different_cache_partitions(api: Any, gateway: Gateway) -> None:
    # Given two customers sending the same system prompt to OpenAI on the operator's key
    victim, attacker = gateway.customer, gateway.create_customer("attacker")

    keys = []
    for customer in (victim, victim, attacker):
        response = ask(api, customer)
        assert response.status_code == 200, response.text
        assert response.headers["x-gateway-byok"] == "false"
        keys.append(cache_key_sent(gateway))

    # Then each account's requests carry one stable key of its own, which names neither account
    assert keys[0] == keys[1]
    assert keys[2] != keys[0]
    assert all(isinstance(key, str) and key for key in keys)
    assert not any(c.account_id in key or c.account_id[5:] in key for key in keys for c in (victim, attacker))


def test_a_customer_cannot_send_its_way_into_another_accounts_partition(api: Any, gateway: Gateway) -> None:
    # Given the victim's partition key as OpenAI saw it, and an attacker who sends that exact value as their own
    victim, attacker = gateway.customer, gateway.create_customer("attacker")
    assert ask(api, victim).status_code == 200
    victims_key = cache_key_sent(gateway)

    assert ask(api, attacker, prompt_cache_key=victims_key).status_code == 200

    # Then the attacker's request still goes out under a key of the attacker's own
    assert cache_key_sent(gateway) != victims_key


def test_a_customers_own_cache_keys_still_separate_their_own_traffic(api: Any, gateway: Gateway) -> None:
    customer = gateway.customer

    sent = {}
    for own in ("tenant-a", "tenant-b", "tenant-a", None):
        assert ask(api, customer, prompt_cache_key=own).status_code == 200
        sent.setdefault(own, []).append(cache_key_sent(gateway))

    # Then the customer's own keys stay apart from each other and from sending none, and stay stable
    assert sent["tenant-a"][0] == sent["tenant-a"][1]
    assert len({sent["tenant-a"][0], sent["tenant-b"][0], sent[None][0]}) == 3
    assert not any("tenant" in key for keys in sent.values() for key in keys)


def test_on_a_customers_own_openai_key_their_cache_key_goes_as_sent(api: Any, gateway: Gateway) -> None:
    # Given a BYOK OpenAI key: the customer's own organisation, whose cache no other customer shares
    gateway.sim.accept_api_key("openai", OPENAI_KEY)
    headers = {"Authorization": f"Bearer {gateway.customer.api_key}"}
    created = httpx.post(
        f"{api.url}/v1/byok/keys", json={"provider": "openai", "credentials": OPENAI_KEY}, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text

    response = ask(api, gateway.customer, prompt_cache_key="tenant-a")
    no_key = ask(api, gateway.customer)

    assert [r.headers["x-gateway-byok"] for r in (response, no_key)] == ["true", "true"]
    openai_bodies = [r.json for r in gateway.sim.requests if r.provider == "openai"]
    assert [body.get("prompt_cache_key") for body in openai_bodies] == ["tenant-a", None]
