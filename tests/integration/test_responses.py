"""POST /v1/responses and stored responses through the HTTP API with the official openai SDK, against the simulator.

OpenAI models go to OpenAI's own /responses with the client's body (asserted on what the simulator recorded);
every other provider is translated through its chat adapter. Routing, BYOK-first, credits and logs are those of
chat; stored responses are encrypted, owner-only and continue across providers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway import store
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, get_log

# (model, provider) for every provider the catalog has: OpenAI natively, the rest translated.
TARGETS = [
    ("openai/gpt-5-mini", "openai"),
    ("anthropic/claude-sonnet-4.5", "anthropic"),
    ("anthropic/claude-sonnet-4.5", "amazon-bedrock"),
    ("anthropic/claude-sonnet-4.5", "google-vertex"),
    ("google/gemini-3-flash", "google-ai-studio"),
    ("google/gemini-3-flash", "google-vertex"),
    ("deepseek/deepseek-v3.2", "deepseek"),
]
IDS = [f"{provider}:{model}" for model, provider in TARGETS]
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
def client(api: Any, gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=20)


def only(provider: str) -> dict[str, Any]:
    return {"provider": {"only": [provider]}}


def upstream(gateway: Gateway, provider: str) -> list[Any]:
    return [r for r in gateway.sim.requests if r.provider == provider]


def balance(account_id: str) -> Decimal:
    snapshot = store.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_create_answers_a_response_object_on_every_provider(
    client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    before = balance(gateway.customer.account_id)
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hello", instructions="Be brief.", extra_body=only(provider)
    )
    response = raw.parse()
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed"
    assert response.model == model
    assert f"Hello from {provider}" in response.output_text
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    extra = response.model_dump()
    assert extra["provider"] == provider
    assert extra["usage"]["is_byok"] is False and extra["usage"]["cost"] > 0
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-attempts"] == "1"
    assert balance(gateway.customer.account_id) == before - Decimal(str(extra["usage"]["cost"]))
    log = get_log(client.base_url.__str__().removesuffix("/v1/"), gateway.api_key, raw.headers["x-request-id"])
    assert log["api"] == "responses" and log["provider"] == provider and log["status"] == "success"
