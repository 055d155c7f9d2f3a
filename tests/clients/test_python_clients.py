"""Python clients as installed (pinned in requirements-dev.txt) against the dev stack: the openai and anthropic
SDKs, LangChain (``ChatOpenAI``, ``ChatAnthropic``, every ``with_structured_output`` method), pydantic-ai and
litellm as a client. Each asserts what its user would see, and what reached the upstream where it matters."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel

from tests.clients.conftest import Stack

OPENAI_MODEL = "openai/gpt-5-mini"
GEMINI_MODEL = "google/gemini-3-flash"
CLAUDE_MODEL = "anthropic/claude-sonnet-5.5"


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


SCHEMA_PROMPT = (
    "Alice and Bob meet for lunch on Friday. Answer with a JSON object matching this JSON Schema: "
    + json.dumps(CalendarEvent.model_json_schema())
)


def openai_client(dev: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{dev.url}/v1", api_key=dev.api_key, max_retries=0)


def anthropic_client(dev: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=dev.url, api_key=dev.api_key, max_retries=0)


# --- openai SDK -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "upstream_field"), [(OPENAI_MODEL, "n"), (GEMINI_MODEL, "candidateCount")])
def test_openai_sdk_n_choices(dev: Stack, model: str, upstream_field: str) -> None:
    client = openai_client(dev)
    completion = client.chat.completions.create(
        model=model, n=2, messages=[{"role": "user", "content": "Say hello"}], max_tokens=50
    )
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert all(choice.message.content for choice in completion.choices)
    sent = dev.sim.requests[-1].json or {}
    assert sent.get(upstream_field, (sent.get("generationConfig") or {}).get(upstream_field)) == 2

    stream = client.chat.completions.create(
        model=model, n=2, stream=True, messages=[{"role": "user", "content": "Say hello"}], max_tokens=50
    )
    texts: dict[int, str] = {}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert sorted(texts) == [0, 1] and all(texts.values())


def test_openai_sdk_n_on_a_model_without_it_is_a_400_naming_n(dev: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(dev).chat.completions.create(
            model=CLAUDE_MODEL, n=2, messages=[{"role": "user", "content": "hi"}], max_tokens=20
        )
    assert (caught.value.body or {}).get("param") == "n"  # type: ignore[union-attr]


def test_openai_sdk_top_logprobs(dev: Stack) -> None:
    completion = openai_client(dev).chat.completions.create(
        model=OPENAI_MODEL, logprobs=True, top_logprobs=2, messages=[{"role": "user", "content": "Say hello"}]
    )
    tokens = completion.choices[0].logprobs.content  # type: ignore[union-attr]
    assert tokens and all(len(token.top_logprobs) == 2 for token in tokens)


# --- anthropic SDK ----------------------------------------------------------------------------------------


def test_anthropic_sdk_with_claude_codes_default_model_ids(dev: Stack) -> None:
    client = anthropic_client(dev)
    for alias in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"):
        message = client.messages.create(model=alias, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        assert message.content[0].type == "text" and alias in message.content[0].text  # type: ignore[union-attr]


def test_anthropic_sdk_beta_messages_stream_and_count(dev: Stack) -> None:
    client = anthropic_client(dev)
    # the beta namespace posts to /v1/messages?beta=true with anthropic-beta flags (as Claude Code does)
    beta = client.beta.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=64,
        betas=["context-management-2025-06-27"],
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}},
    )
    assert beta.type == "message"
    sent = dev.sim.requests[-1]
    assert "context-management-2025-06-27" in (sent.headers.get("anthropic-beta") or "")
    with client.messages.stream(
        model=CLAUDE_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert "Say hello" in text
    count = client.messages.count_tokens(model=CLAUDE_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert count.input_tokens > 0


# --- LangChain --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
@pytest.mark.parametrize("model", [OPENAI_MODEL, GEMINI_MODEL, CLAUDE_MODEL])
def test_langchain_chat_openai_structured_output(dev: Stack, method: str, model: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=model, base_url=f"{dev.url}/v1", api_key=dev.api_key, max_retries=0)  # type: ignore[arg-type]
    event = llm.with_structured_output(CalendarEvent, method=method).invoke(SCHEMA_PROMPT)  # type: ignore[arg-type]
    assert isinstance(event, CalendarEvent) and event.participants


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
@pytest.mark.parametrize("model", [CLAUDE_MODEL, "anthropic/claude-sonnet-4.5", OPENAI_MODEL])
def test_langchain_chat_anthropic_structured_output(dev: Stack, method: str, model: str) -> None:
    from langchain_anthropic import ChatAnthropic

    llm = ChatAnthropic(model=model, base_url=dev.url, api_key=dev.api_key, max_retries=0)  # type: ignore[call-arg,arg-type]
    event = llm.with_structured_output(CalendarEvent, method=method).invoke(SCHEMA_PROMPT)  # type: ignore[arg-type]
    assert isinstance(event, CalendarEvent) and event.participants


def test_langchain_chat_anthropic_tool_loop(dev: Stack) -> None:
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage, ToolMessage

    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"Sunny in {city}"

    llm = ChatAnthropic(model=CLAUDE_MODEL, base_url=dev.url, api_key=dev.api_key, max_retries=0)  # type: ignore[call-arg]
    with_tools = llm.bind_tools([get_weather])
    history: list[Any] = [HumanMessage("What is the weather in Paris?")]
    first = with_tools.invoke(history)
    assert first.tool_calls and first.tool_calls[0]["name"] == "get_weather"  # type: ignore[attr-defined]
    call = first.tool_calls[0]  # type: ignore[attr-defined]
    history += [first, ToolMessage(get_weather(**call["args"]), tool_call_id=call["id"])]
    assert with_tools.invoke(history).text


# --- pydantic-ai ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["openai", "anthropic"])
def test_pydantic_ai_agent_with_structured_output(dev: Stack, flavour: str) -> None:
    from pydantic_ai import Agent

    if flavour == "openai":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        model: Any = OpenAIChatModel(
            OPENAI_MODEL, provider=OpenAIProvider(base_url=f"{dev.url}/v1", api_key=dev.api_key)
        )
    else:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        model = AnthropicModel(CLAUDE_MODEL, provider=AnthropicProvider(base_url=dev.url, api_key=dev.api_key))
    # In a thread of its own, as an application's worker would: another test in this process (Playwright's sync
    # API) may leave an event loop running on the main thread, which run_sync refuses to reuse.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(Agent(model, output_type=CalendarEvent).run_sync, SCHEMA_PROMPT).result(timeout=120)
    assert isinstance(result.output, CalendarEvent) and result.output.participants


# --- litellm as a client ----------------------------------------------------------------------------------


def test_litellm_through_the_chat_and_messages_front_doors(dev: Stack) -> None:
    import litellm

    chat = litellm.completion(
        model=f"openai/{OPENAI_MODEL}",
        api_base=f"{dev.url}/v1",
        api_key=dev.api_key,
        messages=[{"role": "user", "content": "Say hello"}],
        response_format=CalendarEvent,
    )
    CalendarEvent.model_validate_json(chat.choices[0].message.content)  # type: ignore[union-attr]
    messages = litellm.completion(
        model="anthropic/claude-haiku-5-5",
        api_base=dev.url,
        api_key=dev.api_key,
        messages=[{"role": "user", "content": "Say hello"}],
        max_tokens=64,
    )
    assert "claude-haiku-5-5" in messages.choices[0].message.content  # type: ignore[union-attr,operator]
    assert dev.sim.requests[-1].provider in ("anthropic", "amazon-bedrock", "google-vertex")
