"""Real clients against the dev-stack wiring, for every catalog model on every provider that serves it.

The official openai SDK (``chat.completions.parse`` with a pydantic model, a tools round trip, streaming with
usage, reasoning, ``models.retrieve``) and langchain-openai (``with_structured_output`` by function calling,
json_schema and json_mode; ``bind_tools``), each asserting what reached the upstream in that provider's own
format. The failures issue 12 listed each have a test here with the client that showed them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from gateway.core.catalog import get_catalog
from local.simulator import ProviderSimulator
from local.simulator.wire import RecordedRequest
from tests.conftest import Gateway, mocked_aws, provisioned_gateway

CATALOG_ROUTES = [
    (model.id, offer.slug) for model in get_catalog().models if "chat" in model.endpoints for offer in model.providers
]
# Reasoning through Vertex's OpenAI-compatible endpoint has no control to map to (see the parameter table).
NO_REASONING = {("deepseek/deepseek-v3.2", "google-vertex")}
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


def get_weather(city: str, unit: str) -> str:
    """Current weather for a city.

    Args:
        city: the city
        unit: celsius or fahrenheit
    """
    return f"18 degrees {unit} in {city}"


@pytest.fixture(scope="module")
def stack(sim: ProviderSimulator) -> Iterator[tuple[Gateway, Any]]:
    """One dev-stack wiring (moto, tables, simulator, HTTP API) for the whole module: each test's setup would
    otherwise cost more than the test. The customer's credits (10 USD) cover every test many times over."""
    from local.apiserver import ApiServer

    with pytest.MonkeyPatch.context() as patch, mocked_aws(patch), provisioned_gateway(sim, patch) as provisioned:
        server = ApiServer(host="127.0.0.1", port=0).start()
        yield provisioned, server
        server.stop()


@pytest.fixture
def gateway(stack: tuple[Gateway, Any]) -> Gateway:
    stack[0].sim.clear_requests()
    stack[0].sim.clear_faults()
    return stack[0]


@pytest.fixture
def api(stack: tuple[Gateway, Any], gateway: Gateway) -> Any:
    return stack[1]


@pytest.fixture
def openai_client(api: Any, gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=20)


def model_calls(gateway: Gateway, provider: str) -> list[RecordedRequest]:
    return [r for r in gateway.sim.requests if r.provider == provider]


def only(provider: str) -> dict[str, Any]:
    return {"provider": {"only": [provider]}}


def chat_model(api: Any, gateway: Gateway, model: str, provider: str) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=f"{api.url}/v1",
        api_key=gateway.api_key,  # type: ignore[arg-type]
        max_retries=0,
        timeout=20,
        extra_body=only(provider),
    )


def dialect_of(model: str, provider: str) -> str:
    if provider == "google-vertex":
        return {"anthropic": "anthropic", "google": "gemini"}.get(model.split("/", maxsplit=1)[0], "vertex-openai")
    return {"google-ai-studio": "gemini", "amazon-bedrock": "bedrock"}.get(provider, provider)


def assert_structured_request(sent: dict[str, Any], dialect: str, *, strict: bool) -> None:
    """What the upstream got for ``response_format`` json_schema, per the parameter table."""
    if dialect in ("openai", "vertex-openai"):
        assert sent["response_format"]["type"] == "json_schema"
    elif dialect == "gemini":
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
        assert "responseJsonSchema" in sent["generationConfig"]
    elif dialect == "anthropic" and strict:
        assert sent["output_config"]["format"]["type"] == "json_schema"
        assert "tools" not in sent
    elif dialect == "bedrock" and strict:
        assert sent["outputConfig"]["textFormat"]["type"] == "json_schema"
        assert isinstance(sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"], str)
    elif dialect == "anthropic":
        assert sent["tool_choice"]["type"] == "tool"
    elif dialect == "bedrock":
        assert "tool" in sent["toolConfig"]["toolChoice"]
    else:  # deepseek: a forced tool
        assert sent["tool_choice"]["type"] == "function"
        assert "response_format" not in sent


# --- openai SDK ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
def test_openai_parse_with_a_pydantic_model(
    openai_client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    # Given a pydantic model as the response format (the SDK sends a strict json_schema)
    completion = openai_client.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Alice and Bob go to a science fair on Friday."}],
        response_format=CalendarEvent,
        extra_body=only(provider),
    )

    # Then the answer parses into the model, as plain content with finish_reason stop
    choice = completion.choices[0]
    assert isinstance(choice.message.parsed, CalendarEvent)
    assert choice.message.parsed.participants
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert completion.model_extra and completion.model_extra["provider"] == provider
    # And the upstream got the provider's native structured output, or the forced-tool emulation
    (call,) = model_calls(gateway, provider)
    assert_structured_request(call.json, dialect_of(model, provider), strict=True)


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
def test_openai_tools_round_trip(openai_client: openai.OpenAI, gateway: Gateway, model: str, provider: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]

    # When the model is offered a tool
    first = openai_client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], extra_body=only(provider)
    )

    # Then it calls it with arguments that satisfy the tool's schema
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}

    # When the tool's result is sent back
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": "18 degrees celsius"}]
    second = openai_client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], extra_body=only(provider)
    )

    # Then the model answers in text, and the upstream saw the result in its own format
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content
    assert not second.choices[0].message.tool_calls
    sent = json.dumps(model_calls(gateway, provider)[-1].json)
    assert "18 degrees celsius" in sent
    marker = {"anthropic": "tool_result", "gemini": "functionResponse", "bedrock": "toolResult"}
    assert marker.get(dialect_of(model, provider), '"role": "tool"') in sent


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
def test_openai_streaming_with_usage_details(
    openai_client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    stream = openai_client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body=only(provider),
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert f"Hello from {provider}" in text
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0
    assert usage.model_extra and usage.model_extra["cost"] > 0


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
def test_openai_reasoning_effort(openai_client: openai.OpenAI, gateway: Gateway, model: str, provider: str) -> None:
    request: Any = {
        "model": model,
        "messages": [{"role": "user", "content": "How many primes below 20?"}],
        "reasoning_effort": "low",
        "extra_body": only(provider),
    }
    if (model, provider) in NO_REASONING:
        # The only provider asked for cannot honour it: a 400 naming the parameter, nothing sent upstream
        with pytest.raises(openai.BadRequestError) as exc:
            openai_client.chat.completions.create(**request)
        assert exc.value.body["param"] == "reasoning_effort"  # type: ignore[index]
        assert model_calls(gateway, provider) == []
        return

    # When reasoning is asked for, whole and streamed
    completion = openai_client.chat.completions.create(**request)
    chunks = list(openai_client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True}))

    # Then reasoning tokens are counted and, where the provider returns its reasoning, it comes back as
    # reasoning_content (the field OpenAI-compatible clients read), streamed as deltas too
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    dialect = dialect_of(model, provider)
    # Anthropic and Converse count thinking inside output_tokens without breaking it out
    assert (usage.completion_tokens_details.reasoning_tokens > 0) is (dialect not in ("anthropic", "bedrock"))
    reasoning = (completion.choices[0].message.model_extra or {}).get("reasoning_content")
    deltas = [(c.choices[0].delta.model_extra or {}) for c in chunks if c.choices]
    streamed = "".join(delta.get("reasoning_content") or "" for delta in deltas)
    if dialect == "openai":
        assert reasoning is None  # OpenAI's Chat Completions never returns reasoning text
    else:
        assert reasoning and reasoning.startswith("Thinking it over:")
        assert streamed == reasoning
    assert completion.choices[0].message.content
    # And the upstream got the provider's own thinking control
    sent = model_calls(gateway, provider)[0].json
    if dialect == "anthropic":
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert sent["max_tokens"] > 2048
    elif dialect == "bedrock":
        assert sent["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    elif dialect == "gemini":
        config = sent["generationConfig"]["thinkingConfig"]
        assert config["includeThoughts"] is True
        assert config == ({"thinkingLevel": "low", "includeThoughts": True} if "gemini-3" in model else config)
        assert "thinkingBudget" in config or "thinkingLevel" in config
    elif dialect == "deepseek":
        assert sent["thinking"] == {"type": "enabled"} and sent["reasoning_effort"] == "low"
    else:
        assert sent["reasoning_effort"] == "low"


def test_reasoning_tool_loop_passes_deepseek_its_reasoning_back(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    request: Any = {"model": "deepseek/deepseek-v3.2", "tools": [WEATHER_TOOL], "reasoning_effort": "high"}
    first = openai_client.chat.completions.create(messages=messages, **request, extra_body=only("deepseek"))
    echoed = first.choices[0].message.model_dump(exclude_none=True)  # reasoning_content included, as SDKs echo it
    assert echoed["reasoning_content"]
    (call,) = first.choices[0].message.tool_calls or []
    messages += [echoed, {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"}]

    second = openai_client.chat.completions.create(messages=messages, **request, extra_body=only("deepseek"))

    assert second.choices[0].finish_reason == "stop"
    sent = model_calls(gateway, "deepseek")[-1].json
    assert sent["messages"][1]["reasoning_content"] == echoed["reasoning_content"]


def test_openai_accepts_every_parameter_issue_12_found_rejected(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    # Given the parameters the SDK sent that used to be 400 "Extra inputs are not permitted"
    raw = openai_client.chat.completions.with_raw_response.create(
        model="openai/gpt-5-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        reasoning_effort="minimal",
        metadata={"team": "search"},
        store=False,
        service_tier="auto",
        logit_bias={"50256": -100},
        prediction={"type": "content", "content": "Hello"},
        modalities=["text"],
        verbosity="low",
        logprobs=True,
        top_logprobs=2,
        prompt_cache_key="tenant-7",
        safety_identifier="user-hash-1",
    )

    # Then OpenAI gets each one as is (the cache key scoped to the account), nothing is dropped, and the log
    # probabilities come back
    completion = raw.parse()
    assert completion.choices[0].logprobs is not None and completion.choices[0].logprobs.content
    assert "x-gateway-ignored-params" not in raw.headers
    sent = model_calls(gateway, "openai")[0].json
    for name, value in {
        "reasoning_effort": "minimal",
        "metadata": {"team": "search"},
        "store": False,
        "service_tier": "auto",
        "logit_bias": {"50256": -100},
        "prediction": {"type": "content", "content": "Hello"},
        "modalities": ["text"],
        "verbosity": "low",
        "logprobs": True,
        "top_logprobs": 2,
        "safety_identifier": "user-hash-1",
    }.items():
        assert sent[name] == value, name
    # On the operator's key the customer's cache key is folded into a per-account one (docs/security.md)
    assert sent["prompt_cache_key"].startswith("gw-") and "tenant-7" not in sent["prompt_cache_key"]


def test_hints_are_dropped_and_named_where_the_provider_has_no_field(
    openai_client: openai.OpenAI, gateway: Gateway
) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model="google/gemini-3-flash",
        messages=[{"role": "user", "content": "Say hello"}],
        tools=[WEATHER_TOOL],
        parallel_tool_calls=False,
        metadata={"team": "search"},
        user="user-1",
    )
    assert raw.parse().choices[0].message.content
    assert set(raw.headers["x-gateway-ignored-params"].split(",")) == {"parallel_tool_calls", "user", "metadata"}

    # With require_parameters the same hints are strict: no Gemini provider can honour them
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(
            model="google/gemini-3-flash",
            messages=[{"role": "user", "content": "Say hello"}],
            user="user-1",
            extra_body={"provider": {"require_parameters": True}},
        )
    assert exc.value.body["param"] == "user"  # type: ignore[index]


def test_unsupported_parameters_route_around_or_are_400(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    # DeepSeek on Vertex has no thinking control: reasoning goes to DeepSeek itself even when Vertex is first
    completion = openai_client.chat.completions.create(
        model="deepseek/deepseek-v3.2",
        messages=[{"role": "user", "content": "Say hello"}],
        reasoning_effort="high",
        extra_body={"provider": {"order": ["google-vertex", "deepseek"]}},
    )
    assert completion.model_extra and completion.model_extra["provider"] == "deepseek"
    assert model_calls(gateway, "google-vertex") == []

    # No Claude provider has a seed: 400 naming it, and no upstream call at all
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(
            model="anthropic/claude-sonnet-4.5", messages=[{"role": "user", "content": "hi"}], seed=7
        )
    body: Any = exc.value.body
    assert body["param"] == "seed" and body["code"] == "unsupported_parameter"
    assert "anthropic" in body["message"] and "amazon-bedrock" in body["message"]
    assert [r for r in gateway.sim.requests if r.provider != "deepseek"] == []


def test_thinking_honours_anthropic_sampling_constraints(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    # Extended thinking refuses temperature != 1: no Claude provider can take both
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(
            model="anthropic/claude-sonnet-4.5",
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="medium",
            temperature=0.2,
        )
    assert exc.value.body["param"] == "reasoning_effort"  # type: ignore[index]
    assert "temperature" in exc.value.body["message"]  # type: ignore[index]

    # A caller's max_tokens stays the limit; the budget fits inside it
    openai_client.chat.completions.create(
        model="anthropic/claude-sonnet-4.5",
        messages=[{"role": "user", "content": "hi"}],
        reasoning_effort="high",
        max_completion_tokens=3000,
        extra_body=only("anthropic"),
    )
    sent = model_calls(gateway, "anthropic")[0].json
    assert sent["max_tokens"] == 3000 and sent["thinking"]["budget_tokens"] == 2999
    assert "temperature" not in sent


def test_models_retrieve_by_id_and_alias(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    model = openai_client.models.retrieve("anthropic/claude-sonnet-4.5")  # the SDK sends anthropic%2Fclaude-...
    assert model.id == "anthropic/claude-sonnet-4.5"
    assert (model.model_extra or {})["aliases"] == ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"]
    assert openai_client.models.retrieve("claude-sonnet-4-5").id == "anthropic/claude-sonnet-4.5"
    raw = httpx.get(
        f"{api.url}/v1/models/google/gemini-3-flash", headers={"Authorization": f"Bearer {gateway.api_key}"}
    )
    assert raw.status_code == 200 and raw.json()["id"] == "google/gemini-3-flash"
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("nobody/no-model")


def test_an_alias_is_accepted_as_the_chat_model(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    completion = openai_client.chat.completions.create(
        model="claude-sonnet-4-5-20250929", messages=[{"role": "user", "content": "hi"}], extra_body=only("anthropic")
    )
    assert completion.choices[0].message.content
    assert model_calls(gateway, "anthropic")[0].json["model"] == "claude-sonnet-4-5-20250929"


def test_cached_prompt_tokens_are_reported_and_priced(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    # Given a long system prompt sent twice (the second time the provider reads it from its cache)
    system = " ".join(f"rule{i}" for i in range(80))
    messages: Any = [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]
    first = openai_client.chat.completions.create(
        model="anthropic/claude-sonnet-4.5", messages=messages, extra_body=only("anthropic")
    )
    second = openai_client.chat.completions.create(
        model="anthropic/claude-sonnet-4.5", messages=messages, extra_body=only("anthropic")
    )

    # Then the second answer reports the cached tokens and costs less at the catalog's cached-input price
    assert first.usage and second.usage and second.usage.prompt_tokens_details
    assert second.usage.prompt_tokens_details.cached_tokens == 80
    assert first.usage.prompt_tokens == second.usage.prompt_tokens
    cost_first, cost_second = first.usage.model_extra["cost"], second.usage.model_extra["cost"]  # type: ignore[index]
    assert cost_first - cost_second == pytest.approx(80 * (3 - 0.3) / 1e6)


# --- langchain-openai ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_langchain_structured_output(api: Any, gateway: Gateway, model: str, provider: str, method: str) -> None:
    llm = chat_model(api, gateway, model, provider)

    result = llm.with_structured_output(CalendarEvent, method=method).invoke(  # type: ignore[arg-type]
        "Alice and Bob go to a science fair on Friday."
    )

    assert isinstance(result, CalendarEvent) and result.participants
    sent = model_calls(gateway, provider)[0].json
    if method == "json_schema":
        strict = dialect_of(model, provider) in ("anthropic", "bedrock") and bool(
            sent.get("output_config") or sent.get("outputConfig")
        )
        assert_structured_request(sent, dialect_of(model, provider), strict=strict)
    elif dialect_of(model, provider) == "anthropic":
        # LangChain sends parallel_tool_calls=false: Anthropic's own switch for it
        assert sent["tool_choice"] == {"type": "tool", "name": "CalendarEvent", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
def test_langchain_json_mode(api: Any, gateway: Gateway, model: str, provider: str) -> None:
    llm = chat_model(api, gateway, model, provider)

    result = llm.with_structured_output(None, method="json_mode").invoke("Reply in JSON: say hi")

    assert result == {"answer": "Reply in JSON: say hi"}


@pytest.mark.parametrize(("model", "provider"), CATALOG_ROUTES)
def test_langchain_bind_tools_round_trip(api: Any, gateway: Gateway, model: str, provider: str) -> None:
    llm = chat_model(api, gateway, model, provider).bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris?")

    first = llm.invoke([question])

    (call,) = first.tool_calls  # type: ignore[attr-defined]
    assert call["name"] == "get_weather" and call["args"]["city"] == "Paris"
    result = ToolMessage(get_weather(**call["args"]), tool_call_id=call["id"])
    second = llm.invoke([question, first, result])
    assert second.content and not second.tool_calls  # type: ignore[attr-defined]
