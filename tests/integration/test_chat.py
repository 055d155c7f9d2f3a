"""POST /v1/chat/completions through the HTTP API with the official openai SDK, against the simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from gateway.data import accounts, byok_keys
from tests.conftest import Gateway, configure
from tests.integration.helpers import BYOK_API_KEYS, ROUTES, add_key, byok_credentials, credential_id, get_log

MESSAGES: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


def create(client: openai.OpenAI, model: str, **kwargs: Any) -> Any:
    provider = kwargs.pop("provider", None)
    extra = {"provider": provider} if provider else None
    return client.chat.completions.with_raw_response.create(
        model=model, messages=kwargs.pop("messages", MESSAGES), extra_body=extra, **kwargs
    )


def balance(account_id: str) -> Decimal:
    snapshot = accounts.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_shared_capacity_answers_for_every_provider(
    openai_client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    before = balance(gateway.customer.account_id)
    raw = create(openai_client, model, provider={"only": [provider]})
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == model
    assert f"Hello from {provider}" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model_extra["provider"] == provider
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.model_extra["is_byok"] is False
    assert usage.model_extra["cost"] > 0
    assert raw.headers["x-request-id"].startswith("req_")
    assert balance(gateway.customer.account_id) == pytest.approx(before - Decimal(str(usage.model_extra["cost"])))
    upstream = [r for r in gateway.sim.requests if r.provider == provider]
    assert len(upstream) == 1


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_streaming_for_every_provider(
    openai_client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    stream = openai_client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"provider": {"only": [provider]}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert f"Hello from {provider}" in text
    assert len([c for c in chunks if c.choices]) > 1, "the answer should arrive in several chunks"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None and usage_chunk.usage.completion_tokens > 0
    assert usage_chunk.usage.model_extra["is_byok"] is False
    upstream = [r for r in gateway.sim.requests if r.provider == provider]
    assert len(upstream) == 1
    assert "stream" in upstream[0].path or (upstream[0].json or {}).get("stream") is True


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_byok_key_is_used_first_and_costs_nothing(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    credentials = byok_credentials(gateway.sim, provider)
    add_key(api.url, gateway.api_key, provider, credentials)
    before = balance(gateway.customer.account_id)
    completion = create(openai_client, model, provider={"only": [provider]}).parse()
    assert completion.model_extra["provider"] == provider
    assert completion.usage.model_extra["is_byok"] is True
    assert completion.usage.model_extra["cost"] == 0
    assert balance(gateway.customer.account_id) == before
    upstream = [r for r in gateway.sim.requests if r.provider == provider]
    assert [r.credential for r in upstream] == [credential_id(credentials)]


def test_a_key_the_encryption_sdk_stored_still_routes(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    from gateway.security import credential_cache
    from tests.encryption_sdk import store_as_the_sdk_did

    # Given a BYOK key whose stored ciphertext is what the gateway wrote before issue 24 (the Encryption SDK's)
    credentials = byok_credentials(gateway.sim, "openai")
    key = add_key(api.url, gateway.api_key, "openai", credentials)
    store_as_the_sdk_did(gateway.customer.account_id, key["id"], "openai", credentials)
    credential_cache.clear()  # a fresh instance

    # When the customer sends a request
    completion = create(openai_client, "openai/gpt-5-mini", provider={"only": ["openai"]}).parse()

    # Then their key answers it
    assert completion.usage.model_extra["is_byok"] is True
    assert [r.credential for r in gateway.sim.requests if r.provider == "openai"] == [credential_id(credentials)]


@pytest.mark.parametrize(
    ("fault", "expected_outcome", "expected_status"),
    [
        ({"status": 429}, "error", 429),
        ({"status": 500}, "error", 500),
        ({"status": 503}, "error", 503),
        ({"status": 401}, "error", 401),
        ({"mode": "timeout", "delay": 2.0}, "timeout", None),
        ({"mode": "drop"}, "connection_error", None),
        ({"mode": "garbage"}, "error", 200),
    ],
)
def test_failing_byok_key_falls_back_to_shared_capacity(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
    expected_outcome: str,
    expected_status: int | None,
) -> None:
    configure(monkeypatch, ATTEMPT_TIMEOUT_MS="1000")
    credentials = byok_credentials(gateway.sim, "anthropic")
    key = add_key(api.url, gateway.api_key, "anthropic", credentials)
    gateway.sim.fail("anthropic", credential=credentials, **fault)
    raw = create(openai_client, "anthropic/claude-sonnet-4.5", provider={"only": ["anthropic"]})
    completion = raw.parse()
    assert completion.model_extra["provider"] == "anthropic"
    assert completion.usage.model_extra["is_byok"] is False
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert record["status"] == "success" and record["is_byok"] is False
    first, second = record["attempts"]
    assert (first["attempt"], first["credential"], first["key_id"], first["outcome"]) == (
        1,
        "byok",
        key["id"],
        expected_outcome,
    )
    assert first["status_code"] == expected_status
    assert (second["attempt"], second["credential"], second["outcome"], second["status_code"]) == (
        2,
        "shared",
        "success",
        200,
    )


def test_upstream_400_ends_the_request_without_fallback(
    openai_client: openai.OpenAI, gateway: Gateway, api: Any
) -> None:
    gateway.sim.fail("anthropic", status=400)
    with pytest.raises(openai.BadRequestError) as err:
        create(openai_client, "anthropic/claude-sonnet-4.5")
    assert err.value.status_code == 400
    assert [r.provider for r in gateway.sim.requests] == ["anthropic"]


@pytest.mark.parametrize(
    ("fault", "status", "error_cls"),
    [
        ({"status": 429}, 429, openai.RateLimitError),
        ({"status": 503}, 502, openai.APIStatusError),
        ({"mode": "timeout", "delay": 2.5}, 504, openai.APIStatusError),
    ],
)
def test_all_attempts_failing_gives_the_documented_status(
    openai_client: openai.OpenAI,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
    status: int,
    error_cls: type[Exception],
) -> None:
    configure(monkeypatch, REQUEST_DEADLINE_MS="2000")
    for provider in ("anthropic", "amazon-bedrock", "google-vertex"):
        gateway.sim.fail(provider, **fault)
    with pytest.raises(error_cls) as err:
        create(openai_client, "anthropic/claude-sonnet-4.5")
    error: Any = err.value
    assert error.status_code == status
    message = error.body["message"]
    assert "attempts failed" in message and "anthropic shared" in message


def test_always_use_key_has_no_shared_fallback(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    credentials = byok_credentials(gateway.sim, "deepseek")
    add_key(api.url, gateway.api_key, "deepseek", credentials, always_use=True)
    gateway.sim.fail("deepseek", status=500, credential=credentials)
    with pytest.raises(openai.APIStatusError) as err:
        create(openai_client, "deepseek/deepseek-v3.2", provider={"only": ["deepseek"]})
    assert err.value.status_code == 502
    assert [r.credential for r in gateway.sim.requests] == [credentials]


def test_disabled_key_is_not_used(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    credentials = byok_credentials(gateway.sim, "openai")
    key = add_key(api.url, gateway.api_key, "openai", credentials)
    patched = httpx.patch(
        f"{api.url}/v1/byok/keys/{key['id']}",
        json={"enabled": False},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
    )
    assert patched.status_code == 200
    completion = create(openai_client, "openai/gpt-5-mini").parse()
    assert completion.usage.model_extra["is_byok"] is False
    assert credentials not in [r.credential for r in gateway.sim.requests]


def test_no_credits_and_no_byok_is_402_but_byok_still_works(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    accounts.add_credits(gateway.customer.account_id, -balance(gateway.customer.account_id))
    with pytest.raises(openai.APIStatusError) as err:
        create(openai_client, "google/gemini-3-flash")
    assert err.value.status_code == 402
    assert gateway.sim.requests == []
    add_key(api.url, gateway.api_key, "google-ai-studio", byok_credentials(gateway.sim, "google-ai-studio"))
    completion = create(openai_client, "google/gemini-3-flash").parse()
    assert completion.model_extra["provider"] == "google-ai-studio"
    assert completion.usage.model_extra["is_byok"] is True


def test_vertex_provisioned_throughput_exhausted_moves_to_shared(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    credentials = byok_credentials(gateway.sim, "google-vertex")
    add_key(api.url, gateway.api_key, "google-vertex", credentials, provisioned_throughput=True)
    gateway.sim.fail("google-vertex", status=429, dedicated_only=True)
    completion = create(openai_client, "google/gemini-3-flash").parse()
    assert completion.model_extra["provider"] == "google-vertex"
    assert completion.usage.model_extra["is_byok"] is False
    vertex_calls = [r for r in gateway.sim.requests if r.provider == "google-vertex"]
    assert [r.headers.get("x-vertex-ai-llm-request-type") for r in vertex_calls] == ["dedicated", None]
    assert vertex_calls[0].credential == credentials["client_email"]


def test_tool_calls_round_trip_through_anthropic(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]
    completion = create(
        openai_client,
        "anthropic/claude-sonnet-4.5",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=tools,
    ).parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "get_weather"
    sent = gateway.sim.requests[0].json
    assert sent["tools"][0]["name"] == "get_weather" and "input_schema" in sent["tools"][0]


def test_unknown_model_is_404_and_bad_input_is_400(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError):
        create(openai_client, "nobody/no-model")
    headers = {"Authorization": f"Bearer {gateway.api_key}", "content-type": "application/json"}
    bad_json = httpx.post(f"{api.url}/v1/chat/completions", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    wrong_type = httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": "hi"},
        headers=headers,
    )
    assert wrong_type.status_code == 400 and "messages" in wrong_type.json()["error"]["message"]
    unknown = httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": MESSAGES, "provider": {"order": ["nope"]}},
        headers=headers,
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "provider.order"
    assert gateway.sim.requests == []


def test_wrong_gateway_key_is_401(api: Any, gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="gwk_0000000000000000_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        create(client, "openai/gpt-5-mini")


def test_byok_request_never_reads_platform_credentials(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    from gateway.security import credential_cache

    credential_cache.clear()
    reads: list[int] = []
    real = byok_keys.platform_keys
    monkeypatch.setattr(byok_keys, "platform_keys", lambda: reads.append(1) or real())
    completion = create(openai_client, "openai/gpt-5-mini").parse()
    assert completion.usage.model_extra["is_byok"] is True
    assert reads == []
    gateway.sim.fail("openai", status=500, credential=BYOK_API_KEYS["openai"])
    assert create(openai_client, "openai/gpt-5-mini").parse().usage.model_extra["is_byok"] is False
    assert reads == [1]
