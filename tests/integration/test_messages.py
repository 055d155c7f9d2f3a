"""POST /v1/messages and count_tokens through the HTTP API with the official anthropic SDK, against the simulator.

Claude targets must receive the client's Anthropic body intact (asserted on what the simulator recorded); other
models are translated; routing, BYOK-first, fallback, credits and logs are those of chat.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from gateway.data import accounts
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, credential_id, get_log

CLAUDE = "anthropic/claude-sonnet-4.5"
CLAUDE_PROVIDERS = ["anthropic", "amazon-bedrock", "google-vertex"]
TRANSLATED = [
    ("google/gemini-3-flash", "google-ai-studio"),
    ("google/gemini-3-flash", "google-vertex"),
    ("deepseek/deepseek-v3.2", "deepseek"),
    ("openai/gpt-5-mini", "openai"),
]
HELLO: Any = [{"role": "user", "content": "Say hello"}]
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


@pytest.fixture
def client(api: Any, gateway: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.url, api_key=gateway.api_key, max_retries=0, timeout=20)


def only(provider: str) -> dict[str, Any]:
    return {"provider": {"only": [provider]}}


def upstream(gateway: Gateway, provider: str) -> list[Any]:
    return [r for r in gateway.sim.requests if r.provider == provider]


def balance(account_id: str) -> Decimal:
    snapshot = accounts.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


def upstream_body(recorded: Any) -> dict[str, Any]:
    """The Anthropic body a Claude host received (Bedrock's CountTokens wraps it in base64)."""
    body = dict(recorded.json)
    invoke = body.get("input", {}).get("invokeModel") if recorded.path.endswith("/count-tokens") else None
    return json.loads(base64.b64decode(invoke["body"])) if invoke else body


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event of an Anthropic event stream."""
    events = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def sse_text(body: str) -> str:
    return "".join(data["delta"].get("text", "") for name, data in sse_events(body) if name == "content_block_delta")


# --- Claude: the Anthropic body kept intact ---------------------------------------------------------------


@pytest.mark.parametrize("provider", CLAUDE_PROVIDERS)
def test_create_on_every_claude_host_keeps_the_anthropic_body(
    client: anthropic.Anthropic, gateway: Gateway, provider: str
) -> None:
    before = balance(gateway.customer.account_id)
    raw = client.messages.with_raw_response.create(
        model=CLAUDE,
        max_tokens=64,
        system="Be brief.",
        messages=HELLO,
        stop_sequences=["STOP"],
        metadata={"user_id": "user-42"},
        # Deprecated in the newest SDKs' signatures, still part of the Messages API.
        extra_body={"temperature": 0.5, "top_k": 40, **only(provider)},
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == CLAUDE
    assert message.content[0].type == "text"
    assert f"Hello from {provider}" in message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-byok"] == "false"
    assert raw.headers["x-gateway-attempts"] == "1"
    cost = Decimal(raw.headers["x-gateway-cost"])
    assert cost > 0
    assert balance(gateway.customer.account_id) == before - cost

    [sent] = upstream(gateway, provider)
    body = sent.json
    expected = {
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": HELLO,
        "temperature": 0.5,
        "top_k": 40,
        "stop_sequences": ["STOP"],
        "metadata": {"user_id": "user-42"},
    }
    assert {k: body[k] for k in expected} == expected
    assert "provider" not in body
    if provider == "anthropic":
        assert sent.path == "/anthropic/v1/messages"
        assert body["model"] == "claude-sonnet-4-5-20250929"
    elif provider == "amazon-bedrock":
        assert sent.path.endswith("/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke")
        assert body["anthropic_version"] == "bedrock-2023-05-31"
        assert "model" not in body and "stream" not in body
    else:
        assert sent.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict")
        assert body["anthropic_version"] == "vertex-2023-10-16"
        assert "model" not in body


@pytest.mark.parametrize("provider", CLAUDE_PROVIDERS)
def test_stream_on_every_claude_host(client: anthropic.Anthropic, gateway: Gateway, provider: str) -> None:
    with client.messages.stream(model=CLAUDE, max_tokens=64, messages=HELLO, extra_body=only(provider)) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1, "the answer should arrive as several text deltas"
    assert f"Hello from {provider}" in "".join(pieces)
    assert final.model == CLAUDE
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    [sent] = upstream(gateway, provider)
    if provider == "amazon-bedrock":
        assert sent.path.endswith("/invoke-with-response-stream")
        assert "stream" not in sent.json
    elif provider == "google-vertex":
        assert sent.path.endswith(":streamRawPredict")
        assert sent.json["stream"] is True
    else:
        assert sent.json["stream"] is True


def test_event_stream_is_anthropic_events(api: Any, gateway: Gateway) -> None:
    response = httpx.post(
        f"{api.url}/v1/messages",
        json={"model": CLAUDE, "max_tokens": 64, "messages": HELLO, "stream": True, **only("amazon-bedrock")},
        headers={"x-api-key": gateway.api_key, "anthropic-version": "2023-06-01"},
        timeout=20,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(names)
    assert all(name == data["type"] for name, data in events)
    assert all("amazon-bedrock-invocationMetrics" not in data for _, data in events)


@pytest.mark.parametrize("provider", CLAUDE_PROVIDERS)
def test_tools_round_trip_on_claude(client: anthropic.Anthropic, gateway: Gateway, provider: str) -> None:
    question: Any = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.messages.create(
        model=CLAUDE,
        max_tokens=128,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "auto"},
        messages=[question],
        extra_body=only(provider),
    )
    assert first.stop_reason == "tool_use"
    [use] = [block for block in first.content if block.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"location": "Paris"}

    history: Any = [
        question,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21 C"}]},
    ]
    second = client.messages.create(
        model=CLAUDE, max_tokens=128, tools=[WEATHER_TOOL], messages=history, extra_body=only(provider)
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    sent = upstream(gateway, provider)[-1].json
    assert sent["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": use.id,
        "name": "get_weather",
        "input": {"location": "Paris"},
    }
    assert sent["messages"][2]["content"] == history[2]["content"]
    assert sent["tools"] == [WEATHER_TOOL]


@pytest.mark.parametrize("provider", CLAUDE_PROVIDERS)
def test_thinking_blocks_and_signatures_survive(client: anthropic.Anthropic, gateway: Gateway, provider: str) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    message = client.messages.create(
        model=CLAUDE, max_tokens=4096, thinking=thinking, messages=HELLO, extra_body=only(provider)
    )
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature

    with client.messages.stream(
        model=CLAUDE, max_tokens=4096, thinking=thinking, messages=HELLO, extra_body=only(provider)
    ) as stream:
        deltas = [event.delta.type for event in stream if event.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in deltas and "signature_delta" in deltas and "text_delta" in deltas
    assert final.content[0].type == "thinking" and final.content[0].signature == message.content[0].signature

    history: Any = [
        *HELLO,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
        {"role": "user", "content": "And again"},
    ]
    client.messages.create(
        model=CLAUDE, max_tokens=4096, thinking=thinking, messages=history, extra_body=only(provider)
    )
    sent = upstream(gateway, provider)[-1].json
    assert sent["thinking"] == thinking
    assert sent["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": message.content[0].thinking,
        "signature": message.content[0].signature,
    }


@pytest.mark.parametrize("provider", CLAUDE_PROVIDERS)
def test_prompt_caching_fields_reach_the_upstream_intact(
    client: anthropic.Anthropic, gateway: Gateway, provider: str
) -> None:
    system: Any = [
        {"type": "text", "text": "You answer questions about a long handbook. " * 5},
        {"type": "text", "text": "Handbook: " + "rule " * 80, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    tools: Any = [{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}]
    messages: Any = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    for _ in range(2):
        message = client.messages.create(
            model=CLAUDE, max_tokens=64, system=system, tools=tools, messages=messages, extra_body=only(provider)
        )
        sent = upstream(gateway, provider)[-1].json
        assert sent["system"] == system
        assert sent["tools"] == tools
        assert sent["messages"] == messages
    # The second time the host reads the long system prompt from its cache, and the usage says so.
    assert (message.usage.cache_read_input_tokens or 0) > 0


def test_anthropic_beta_is_forwarded_to_each_claude_host(client: anthropic.Anthropic, gateway: Gateway) -> None:
    betas = "interleaved-thinking-2025-05-14,context-1m-2025-08-07"
    for provider in CLAUDE_PROVIDERS:
        client.messages.create(
            model=CLAUDE,
            max_tokens=32,
            messages=HELLO,
            extra_headers={"anthropic-beta": betas},
            extra_body=only(provider),
        )
    anthropic_sent, bedrock_sent, vertex_sent = (upstream(gateway, p)[-1] for p in CLAUDE_PROVIDERS)
    assert anthropic_sent.headers["anthropic-beta"] == betas
    assert bedrock_sent.json["anthropic_beta"] == betas.split(",")
    assert vertex_sent.headers["anthropic-beta"] == betas


def test_images_and_documents_pass_through_to_claude(client: anthropic.Anthropic, gateway: Gateway) -> None:
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    content: Any = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "The sky is blue."},
            "title": "Facts",
            "citations": {"enabled": True},
        },
        {"type": "text", "text": "Say hello"},
    ]
    client.messages.create(
        model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": content}], extra_body=only("anthropic")
    )
    assert upstream(gateway, "anthropic")[-1].json["messages"][0]["content"] == content


# --- BYOK first, fallback, credits and logs are chat's ----------------------------------------------------


def test_byok_bedrock_falls_back_to_shared_anthropic(client: anthropic.Anthropic, api: Any, gateway: Gateway) -> None:
    credentials = byok_credentials(gateway.sim, "amazon-bedrock")
    key = add_key(api.url, gateway.api_key, "amazon-bedrock", credentials, region="eu-west-1")
    gateway.sim.fail("amazon-bedrock", status=503, credential=credential_id(credentials))
    before = balance(gateway.customer.account_id)
    raw = client.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=HELLO)
    message = raw.parse()
    assert "Hello from anthropic" in message.content[0].text
    assert raw.headers["x-gateway-provider"] == "anthropic"
    assert raw.headers["x-gateway-byok"] == "false"
    assert raw.headers["x-gateway-attempts"] == "2"
    assert balance(gateway.customer.account_id) == before - Decimal(raw.headers["x-gateway-cost"])

    [byok_call] = upstream(gateway, "amazon-bedrock")
    assert byok_call.credential == credential_id(credentials)
    assert byok_call.path.endswith("/invoke")

    log = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert log["api"] == "messages"
    assert log["provider"] == "anthropic" and log["is_byok"] is False and log["status"] == "success"
    attempts = [(a["provider"], a["credential"], a["status_code"], a["key_id"]) for a in log["attempts"]]
    assert attempts == [("amazon-bedrock", "byok", 503, key["id"]), ("anthropic", "shared", 200, None)]


@pytest.mark.parametrize(
    ("provider", "credentials_of"),
    [
        ("amazon-bedrock", "api_key"),
        ("amazon-bedrock", "aws"),
        ("google-vertex", "service_account"),
        ("anthropic", "api_key"),
    ],
)
def test_byok_claude_keys_of_every_kind_serve_at_no_cost(
    client: anthropic.Anthropic, api: Any, gateway: Gateway, provider: str, credentials_of: str
) -> None:
    if provider == "amazon-bedrock" and credentials_of == "api_key":
        credentials: Any = "bedrock-api-key-byok-customer-00000000001"
        gateway.sim.accept_api_key("amazon-bedrock", credentials)
    else:
        credentials = byok_credentials(gateway.sim, provider)
    add_key(api.url, gateway.api_key, provider, credentials)
    before = balance(gateway.customer.account_id)
    with client.messages.with_streaming_response.create(
        model=CLAUDE, max_tokens=64, messages=HELLO, stream=True, extra_body=only(provider)
    ) as response:
        assert response.headers["x-gateway-byok"] == "true"
        assert response.headers["x-gateway-cost"] == "0"
        text = sse_text(response.read().decode())
    assert f"Hello from {provider}" in text
    assert balance(gateway.customer.account_id) == before
    assert [r.credential for r in upstream(gateway, provider)] == [credential_id(credentials)]


def test_zero_credits_and_no_key_is_a_billing_error(client: anthropic.Anthropic, gateway: Gateway) -> None:
    accounts.add_credits(gateway.customer.account_id, -balance(gateway.customer.account_id))
    with pytest.raises(anthropic.PaymentRequiredError) as caught:
        client.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO)
    assert caught.value.body["error"]["type"] == "billing_error"  # type: ignore[index]


# --- other models are translated --------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), TRANSLATED)
def test_non_claude_models_are_translated(
    client: anthropic.Anthropic, gateway: Gateway, model: str, provider: str
) -> None:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=64, system="Be brief.", messages=HELLO, extra_body=only(provider)
    )
    message = raw.parse()
    assert message.model == model
    assert message.content[0].type == "text" and f"Hello from {provider}" in message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-gateway-provider"] == provider

    with client.messages.stream(model=model, max_tokens=64, messages=HELLO, extra_body=only(provider)) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and f"Hello from {provider}" in "".join(pieces)
    assert final.usage.output_tokens > 0 and final.stop_reason == "end_turn"


@pytest.mark.parametrize(("model", "provider"), TRANSLATED)
def test_tools_round_trip_on_translated_models(
    client: anthropic.Anthropic, gateway: Gateway, model: str, provider: str
) -> None:
    question: Any = {"role": "user", "content": "What is the weather in Paris?"}
    with client.messages.stream(
        model=model, max_tokens=128, tools=[WEATHER_TOOL], messages=[question], extra_body=only(provider)
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    [use] = [block for block in first.content if block.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"location": "Paris"}
    history: Any = [
        question,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"}]},
    ]
    second = client.messages.create(
        model=model, max_tokens=128, tools=[WEATHER_TOOL], messages=history, extra_body=only(provider)
    )
    assert second.type == "message"
    sent = upstream(gateway, provider)[-1]
    if provider in ("deepseek", "openai"):
        assert sent.json["messages"][-1] == {"role": "tool", "tool_call_id": use.id, "content": "Sunny"}
        assert sent.json["messages"][-2]["tool_calls"][0]["id"] == use.id
    else:
        [result] = [p for c in sent.json["contents"] for p in c["parts"] if "functionResponse" in p]
        assert result["functionResponse"]["name"] == "get_weather"


def test_anthropic_only_fields_are_dropped_and_named_for_translated_models(
    client: anthropic.Anthropic, gateway: Gateway
) -> None:
    # Given what Claude Code sends with every request, to a model that is not Claude
    raw = client.messages.with_raw_response.create(
        model="openai/gpt-5-mini",
        max_tokens=16,
        messages=HELLO,
        extra_body={"top_k": 5, "context_management": {"edits": [{"type": "clear_thinking_20251015"}]}},
    )
    # Then it is answered, and the header names what the model could not take
    assert raw.parse().type == "message"
    assert set(raw.headers["x-gateway-ignored-params"].split(",")) == {"top_k", "context_management"}
    sent = gateway.sim.requests[-1].json
    assert "top_k" not in sent and "context_management" not in sent


# --- count_tokens -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", CLAUDE_PROVIDERS)
def test_count_tokens_on_every_claude_host(client: anthropic.Anthropic, gateway: Gateway, provider: str) -> None:
    system: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    counted = client.messages.count_tokens(
        model=CLAUDE, system=system, messages=HELLO, tools=[WEATHER_TOOL], extra_body=only(provider)
    )
    assert counted.input_tokens == 4  # "Be brief." + "Say hello", as the simulator counts words
    [sent] = upstream(gateway, provider)
    body = upstream_body(sent)
    assert body["system"] == system and body["messages"] == HELLO and body["tools"] == [WEATHER_TOOL]
    if provider == "amazon-bedrock":
        assert sent.path.endswith("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens")
    elif provider == "google-vertex":
        assert sent.path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
        assert body["model"] == "claude-sonnet-4-5@20250929"
    else:
        assert sent.path == "/anthropic/v1/messages/count_tokens"


def test_count_tokens_falls_back_and_is_free(client: anthropic.Anthropic, gateway: Gateway) -> None:
    gateway.sim.fail("anthropic", status=503)
    before = balance(gateway.customer.account_id)
    counted = client.messages.count_tokens(model=CLAUDE, messages=HELLO)
    assert counted.input_tokens == 2
    assert [r.provider for r in gateway.sim.requests if r.provider != "google-oauth"] == [
        "anthropic",
        "amazon-bedrock",
    ]
    assert balance(gateway.customer.account_id) == before


def test_count_tokens_for_a_model_no_provider_can_count(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.count_tokens(model="google/gemini-3-flash", messages=HELLO)
    assert "token counting is not available for google/gemini-3-flash" in caught.value.message


# --- auth and errors in Anthropic's shapes ----------------------------------------------------------------


def test_auth_by_x_api_key_or_bearer(api: Any, gateway: Gateway) -> None:
    bearer = anthropic.Anthropic(base_url=api.url, auth_token=gateway.api_key, max_retries=0, timeout=20)
    assert bearer.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO).type == "message"
    wrong = anthropic.Anthropic(base_url=api.url, api_key="gwk_0_wrong", max_retries=0, timeout=20)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        wrong.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid gateway API key"},
    }
    response = httpx.post(f"{api.url}/v1/messages", json={"model": CLAUDE}, timeout=20)
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"


def test_error_classes(client: anthropic.Anthropic, gateway: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        client.messages.create(model="nobody/no-model", max_tokens=16, messages=HELLO)
    assert not_found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]

    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO, extra_body={"temprature": 1})
    assert "temprature" in bad.value.message
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]

    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=CLAUDE, max_tokens=0, messages=HELLO)

    for provider in CLAUDE_PROVIDERS:
        gateway.sim.fail(provider, status=429)
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO)
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "all 3 attempts failed" in limited.value.message

    gateway.sim.clear_faults()
    for provider in CLAUDE_PROVIDERS:
        gateway.sim.fail(provider, status=500)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO)


def test_upstream_rejection_ends_the_request_as_anthropic_said(client: anthropic.Anthropic, gateway: Gateway) -> None:
    gateway.sim.fail("anthropic", status=400)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=CLAUDE, max_tokens=16, messages=HELLO)
    assert "anthropic rejected the request" in caught.value.message
    assert [r.provider for r in gateway.sim.requests] == ["anthropic"]


def test_stream_failing_before_the_first_delta_falls_back(client: anthropic.Anthropic, gateway: Gateway) -> None:
    gateway.sim.fail("anthropic", status=529)
    with client.messages.stream(model=CLAUDE, max_tokens=64, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
    assert "Hello from amazon-bedrock" in text


# --- streaming: incremental, the commit rule, keep-alive pings (as for chat) ---------------------------------

READ_TIMEOUT_S = 5.0  # a buffering gateway fails here: the simulator holds each chunk for twice as long
HOLD_S = 2 * READ_TIMEOUT_S
STREAMED = [*((CLAUDE, p) for p in CLAUDE_PROVIDERS), ("google/gemini-3-flash", "google-ai-studio")]


def raw_stream(api: Any, gateway: Gateway, body: dict[str, Any]) -> Any:
    return httpx.stream(
        "POST",
        f"{api.url}/v1/messages",
        json={"max_tokens": 64, "messages": HELLO, "stream": True, **body},
        headers={"x-api-key": gateway.api_key},
        timeout=httpx.Timeout(READ_TIMEOUT_S),
    )


def line_events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    datas = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    return list(zip(names, datas, strict=True))


@pytest.mark.parametrize(("model", "provider"), STREAMED)
def test_each_delta_reaches_the_sdk_while_the_upstream_still_produces_the_next(
    api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    # Given an upstream that sends content chunk N+1 only once the client has read chunk N
    pacing = gateway.sim.pace(provider, chunks=6, sync=True, hold_timeout=HOLD_S)
    client = anthropic.Anthropic(base_url=api.url, api_key=gateway.api_key, max_retries=0, timeout=READ_TIMEOUT_S)

    # When the official SDK streams, releasing the next upstream chunk after each text delta
    with client.messages.stream(model=model, max_tokens=64, messages=HELLO, extra_body=only(provider)) as stream:
        pieces = []
        for text in stream.text_stream:
            pieces.append(text)
            pacing.release()
        final = stream.get_final_message()
        headers = stream.response.headers

    # Then every delta arrived one at a time, and the answer was billed and logged after the last byte
    assert len(pieces) == 6
    assert final.usage.output_tokens == 6
    assert headers["x-gateway-provider"] == provider and headers["x-gateway-byok"] == "false"
    assert headers.get("content-length") is None
    record = get_log(api.url, gateway.api_key, headers["x-request-id"])
    assert (record["status"], record["stream"], record["api"]) == ("success", True, "messages")
    assert isinstance(record["time_to_first_token_ms"], int)
    assert record["usage"]["completion_tokens"] == 6 and record["cost"] > 0


def test_a_stream_that_breaks_before_its_first_delta_falls_back(api: Any, gateway: Gateway) -> None:
    credentials = byok_credentials(gateway.sim, "amazon-bedrock")
    add_key(api.url, gateway.api_key, "amazon-bedrock", credentials)
    gateway.sim.pace("amazon-bedrock", credential=credential_id(credentials), drop_after=0)

    with raw_stream(api, gateway, {"model": CLAUDE}) as response:
        events = line_events(list(response.iter_lines()))
        headers = response.headers

    assert events[-1][0] == "message_stop"
    assert (headers["x-gateway-provider"], headers["x-gateway-byok"], headers["x-gateway-attempts"]) == (
        "anthropic",
        "false",
        "2",
    )


def test_a_break_after_the_commit_ends_with_one_error_event(api: Any, gateway: Gateway) -> None:
    # Given a BYOK Bedrock key whose upstream hangs up after two content chunks
    credentials = byok_credentials(gateway.sim, "amazon-bedrock")
    add_key(api.url, gateway.api_key, "amazon-bedrock", credentials)
    gateway.sim.pace("amazon-bedrock", credential=credential_id(credentials), chunks=8, drop_after=2)

    with raw_stream(api, gateway, {"model": CLAUDE, **only("amazon-bedrock")}) as response:
        events = line_events(list(response.iter_lines()))
        headers = response.headers

    # Then two text deltas, then one error event in Anthropic's shape, and no message_stop
    names = [name for name, _ in events]
    assert names.count("content_block_delta") == 2 and "message_stop" not in names
    name, data = events[-1]
    assert name == "error" and data["type"] == "error" and set(data["error"]) == {"type", "message"}
    assert headers["x-gateway-byok"] == "true" and headers["x-gateway-cost"] == "0"
    record = get_log(api.url, gateway.api_key, headers["x-request-id"])
    [attempt] = record["attempts"]
    assert (attempt["outcome"], record["status"], record["api"]) == ("stream_interrupted", "error", "messages")


def test_a_silent_committed_upstream_gets_ping_events(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, STREAM_KEEPALIVE_MS="50")
    pacing = gateway.sim.pace("anthropic", chunks=3, sync=True, hold_timeout=HOLD_S)

    with raw_stream(api, gateway, {"model": CLAUDE, **only("anthropic")}) as response:
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("event: content_block_delta"))
        next(lines)  # its data line
        # While the upstream holds its next chunk, Anthropic's own keep-alive arrives
        assert next(line for line in lines if line) == "event: ping"
        pacing.release(2)
        rest = list(lines)
    assert "event: message_stop" in rest


def test_claude_code_model_ids_are_aliases(client: anthropic.Anthropic, gateway: Gateway) -> None:
    # Claude Code sends Anthropic's own model ids; they are catalog aliases
    message = client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=32, messages=HELLO)
    assert message.model == "claude-sonnet-4-5-20250929"
    assert upstream(gateway, "anthropic")[-1].json["model"] == "claude-sonnet-4-5-20250929"


def test_fallback_models_are_the_chat_ones(client: anthropic.Anthropic, gateway: Gateway) -> None:
    # Given every Claude host failing, a fallback model (translated) answers, and the answer says which served
    for provider in CLAUDE_PROVIDERS:
        gateway.sim.fail(provider, status=503)
    raw = client.messages.with_raw_response.create(
        model=CLAUDE, max_tokens=16, messages=HELLO, extra_body={"models": ["google/gemini-3-flash"]}
    )
    message = raw.parse()
    assert message.model == "google/gemini-3-flash"
    # (the Vertex fault also fails Gemini on Vertex, so Google AI Studio serves it, at the fifth attempt)
    assert raw.headers["x-gateway-provider"] == "google-ai-studio"
    assert raw.headers["x-gateway-attempts"] == "5"
