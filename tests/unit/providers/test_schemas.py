"""The inbound request model: what a caller gets told when the body is wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.apis.chat.schema import ChatRequest, ResponseFormatJsonSchema
from tests.unit.providers.helpers import chat


def _error_locations(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in error["loc"]) for error in exc.errors()}


def test_unknown_top_level_field_is_rejected_by_name() -> None:
    with pytest.raises(ValidationError) as exc:
        chat(temprature=0.5)
    assert "temprature" in _error_locations(exc.value)


def test_n_is_bounded_and_left_to_routing() -> None:
    # Given n within OpenAI's range it parses (routing decides who can honour n > 1); outside it is named
    assert chat(n=1).n == 1
    assert chat(n=2).n == 2
    for bad in (0, 129):
        with pytest.raises(ValidationError) as exc:
            chat(n=bad)
        assert "n" in _error_locations(exc.value)


def test_every_documented_openai_parameter_is_accepted() -> None:
    # Given one request setting every Chat Completions parameter OpenAI documents
    request = chat(
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=64,
        stop=["END"],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="auto",
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
        seed=7,
        user="u-1",
        stream=True,
        stream_options={"include_usage": True, "include_obfuscation": False},
        reasoning_effort="low",
        verbosity="low",
        n=1,
        logprobs=True,
        top_logprobs=3,
        logit_bias={"50256": -100},
        presence_penalty=0.1,
        frequency_penalty=0.1,
        metadata={"team": "search"},
        store=False,
        service_tier="auto",
        prompt_cache_key="tenant-7",
        safety_identifier="hash-of-user",
        prediction={"type": "content", "content": "draft"},
        modalities=["text"],
        audio={"voice": "alloy", "format": "mp3"},
        web_search_options={"search_context_size": "low"},
    )
    # Then it parses with each value kept
    assert request.reasoning_effort == "low"
    assert request.logit_bias == {"50256": -100}
    assert request.end_user() == "hash-of-user"


def test_top_logprobs_needs_logprobs() -> None:
    with pytest.raises(ValidationError) as exc:
        chat(top_logprobs=2)
    assert "top_logprobs" in _error_locations(exc.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": []},
        {"messages": [{"role": "user", "content": "x"}] * 2049},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"temperature": 2.5},
        {"top_p": 1.5},
        {"max_tokens": 0},
        {"presence_penalty": -3},
        {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
        {"tool_choice": "sometimes"},
        {"response_format": {"type": "xml"}},
        {"provider": {"order": ["openai"], "surprise": True}},
        {"messages": [{"role": "user", "content": [{"type": "audio", "data": "x"}]}]},
        {"messages": [{"role": "tool", "content": "x"}]},
    ],
)
def test_invalid_bodies_are_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        chat(**fields)


def test_full_request_parses_into_typed_parts() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "anthropic/claude-sonnet-4.5",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            ],
            "max_tokens": 100,
            "max_completion_tokens": 50,
            "stop": "END",
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
            "stream": True,
            "stream_options": {"include_usage": True},
            "provider": {"order": ["anthropic"], "allow_fallbacks": False, "sort": "price"},
        }
    )
    assert request.output_limit() == 50
    assert request.stop_sequences() == ["END"]
    assert isinstance(request.response_format, ResponseFormatJsonSchema)
    assert request.response_format.json_schema.schema_ == {"type": "object"}
    assert request.provider is not None and request.provider.allow_fallbacks is False


def test_output_limit_falls_back_to_max_tokens() -> None:
    assert chat(max_tokens=77).output_limit() == 77
    assert chat().output_limit() is None


def test_the_largest_allowed_token_limits_and_seeds_pass() -> None:
    request = chat(max_tokens=1_000_000, max_completion_tokens=1_000_000, seed=2**63 - 1)
    assert (request.max_tokens, request.seed) == (1_000_000, 2**63 - 1)
    assert chat(seed=-(2**63)).seed == -(2**63)
