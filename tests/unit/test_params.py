"""The parameter table: one answer per parameter and dialect, routing around what a provider cannot honour, and
the translations the adapters make of it (recorded upstream bodies, no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.apis.chat.schema import ChatRequest
from gateway.core.catalog import get_catalog
from gateway.core.errors import BadRequest
from gateway.providers import adapter_for
from gateway.providers.emulation import UnwrappingDecoder
from gateway.routing import capabilities, capability_table
from tests.unit.providers.helpers import api_key_target, bedrock_key_target, body_of, chat

ROOT = Path(__file__).parents[2]
CLAUDE = get_catalog().model("anthropic/claude-sonnet-4.5")
GEMINI = get_catalog().model("google/gemini-3-flash")
DEEPSEEK = get_catalog().model("deepseek/deepseek-v3.2")
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


def strict_format(strict: bool = True) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "Person", "schema": SCHEMA, "strict": strict}}


def build(provider: str, model_id: str, family: Any, request: ChatRequest) -> dict[str, Any]:
    target = (
        bedrock_key_target(model_id) if provider == "amazon-bedrock" else api_key_target(provider, model_id, family)
    )
    return body_of(adapter_for(target).build_request(request, target, stream=False, timeout=5))


def test_every_parameter_has_an_answer_for_every_dialect() -> None:
    for name, rules in capabilities.TABLE.items():
        assert set(rules) == set(capabilities.DIALECTS), name
        for rule in rules.values():
            assert rule.support != "unsupported" or rule.how, f"{name}: an unsupported rule says why"
    # hints are exactly the contract's, and never unsupported anywhere
    for name in capability_table.HINTS:
        assert {rule.support for rule in capabilities.TABLE[name].values()} <= {"forwarded", "translated", "hint"}


def test_every_request_field_is_in_the_table_or_is_structural() -> None:
    structural = {"model", "messages", "stream", "stream_options", "provider", "models", "fallback_models"}
    covered = {field for row in capabilities.TABLE for field in capabilities.ROW_FIELDS.get(row, (row,))}
    assert set(ChatRequest.model_fields) - structural == covered


def test_the_api_reference_and_openapi_carry_the_table_as_rendered() -> None:
    table = capabilities.table_markdown()
    assert table in (ROOT / "docs" / "api.md").read_text()
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert table in spec["paths"]["/v1/chat/completions"]["post"]["description"]


def test_defaults_are_not_given_parameters() -> None:
    request = chat(
        n=1, modalities=["text"], logprobs=False, parallel_tool_calls=False, response_format={"type": "text"}
    )
    assert capabilities.given(request) == []


def test_hints_are_dropped_where_there_is_no_field_and_kept_where_there_is() -> None:
    request = chat(user="u", metadata={"a": "b"}, prompt_cache_key="k")
    assert GEMINI is not None and CLAUDE is not None
    gemini = capabilities.assess(request, GEMINI.providers[0])
    assert gemini.ok and set(gemini.ignored) == {"user", "metadata", "prompt_cache_key"}
    claude = capabilities.assess(request, CLAUDE.providers[0])
    assert claude.ok and set(claude.ignored) == {"metadata", "prompt_cache_key"}  # user -> metadata.user_id


def test_honouring_removes_providers_that_cannot_and_keeps_order() -> None:
    assert DEEPSEEK is not None
    offers = list(reversed(DEEPSEEK.providers))  # vertex first
    kept = capabilities.honouring(chat(reasoning_effort="high"), offers)
    assert [o.slug for o in kept] == ["deepseek"]


def test_no_candidate_left_is_a_400_naming_the_parameter_and_each_reason() -> None:
    assert CLAUDE is not None
    with pytest.raises(BadRequest) as exc:
        capabilities.honouring(chat(logprobs=True), list(CLAUDE.providers))
    assert exc.value.param == "logprobs" and exc.value.code == "unsupported_parameter"
    for offer in CLAUDE.providers:
        assert offer.slug in exc.value.message


def test_require_parameters_makes_hints_strict() -> None:
    assert GEMINI is not None
    request = chat(user="u", provider={"require_parameters": True})
    with pytest.raises(BadRequest) as exc:
        capabilities.honouring(request, list(GEMINI.providers))
    assert exc.value.param == "user"
    assert capabilities.honouring(chat(user="u"), list(GEMINI.providers)) == list(GEMINI.providers)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"temperature": 0.3}, "temperature"),
        ({"top_p": 0.5}, "top_p"),
        ({"max_tokens": 800}, "max_tokens"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "forced tool"),
    ],
)
def test_thinking_refuses_what_anthropic_refuses_with_it(fields: dict[str, Any], reason: str) -> None:
    assert CLAUDE is not None
    assessment = capabilities.assess(chat(reasoning_effort="low", **fields), CLAUDE.providers[0])
    ((name, why),) = assessment.unsupported
    assert name == "reasoning_effort" and reason in why


def test_anthropic_thinking_budget_and_limits() -> None:
    body = build("anthropic", "claude-sonnet-4-5-20250929", "anthropic", chat(reasoning_effort="medium"))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 8192 + 4096
    capped = build(
        "anthropic", "claude-sonnet-4-5-20250929", "anthropic", chat(reasoning_effort="high", max_tokens=5000)
    )
    assert capped["thinking"]["budget_tokens"] == 4999 and capped["max_tokens"] == 5000
    off = build("anthropic", "claude-sonnet-4-5-20250929", "anthropic", chat(reasoning_effort="none", temperature=0.2))
    assert "thinking" not in off and off["temperature"] == 0.2


def test_anthropic_structured_output_native_when_strict_else_a_forced_tool() -> None:
    native = build("anthropic", "claude-sonnet-4-5-20250929", "anthropic", chat(response_format=strict_format()))
    assert native["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    loose = build("anthropic", "claude-sonnet-4-5-20250929", "anthropic", chat(response_format=strict_format(False)))
    assert "output_config" not in loose
    assert loose["tool_choice"] == {"type": "tool", "name": "Person"}
    assert loose["tools"] == [
        {"name": "Person", "description": loose["tools"][0]["description"], "input_schema": SCHEMA}
    ]


def test_forced_tool_answer_comes_back_as_content_with_stop() -> None:
    target = api_key_target("anthropic", "claude-sonnet-4-5-20250929", "anthropic")
    request = chat(response_format={"type": "json_object"})
    upstream = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {"a": 1}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    result = adapter_for(target).parse_response(request, target, json.dumps(upstream).encode())
    choice = result["choices"][0]
    assert choice["message"]["content"] == '{"a":1}'
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"


def test_forced_tool_stream_becomes_content_deltas() -> None:
    class Recorded:
        usage = None

        def feed(self, data: bytes) -> list[dict[str, Any]]:
            call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "Person", "arguments": ""}}
            return [
                {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"na'}}]}}]},
                {
                    "choices": [
                        {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'me":1}'}}]}}
                    ]
                },
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
            ]

        def close(self) -> list[dict[str, Any]]:
            return []

    chunks = UnwrappingDecoder(Recorded(), "Person").feed(b"")
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == '{"name":1}'
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_gemini_thinking_config_by_generation() -> None:
    three = build("google-ai-studio", "gemini-3-flash-preview", "gemini", chat(reasoning_effort="xhigh"))
    assert three["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "high", "includeThoughts": True}
    two = build("google-ai-studio", "gemini-2.5-flash", "gemini", chat(reasoning_effort="none"))
    assert two["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


def test_bedrock_claude_thinking_and_structured_output() -> None:
    model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    request = chat(reasoning_effort="low", response_format=strict_format())
    body = build("amazon-bedrock", model, "converse", request)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"]["maxTokens"] > 2048
    text_format = body["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == SCHEMA


def test_deepseek_thinking_and_emulated_json_schema() -> None:
    body = build("deepseek", "deepseek-chat", "openai", chat(reasoning_effort="low", response_format=strict_format()))
    assert body["thinking"] == {"type": "enabled"} and body["reasoning_effort"] == "low"
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert "parallel_tool_calls" not in body  # a hint DeepSeek has no field for


def test_openai_forwards_what_the_table_says_and_nothing_it_does_not() -> None:
    request = chat(metadata={"a": "b"}, store=True, verbosity="low", user="u", safety_identifier="s")
    body = build("openai", "gpt-5-mini", "openai", request)
    assert {k: body[k] for k in ("metadata", "store", "verbosity", "user", "safety_identifier")} == {
        "metadata": {"a": "b"},
        "store": True,
        "verbosity": "low",
        "user": "u",
        "safety_identifier": "s",
    }
    gemini = build("google-ai-studio", "gemini-3-flash-preview", "gemini", request)
    assert set(gemini) == {"contents"}  # Gemini has no field for any of them


@pytest.mark.parametrize(
    ("provider", "family", "model_id", "usage", "expected"),
    [
        (
            "anthropic",
            "anthropic",
            "claude-sonnet-4-5-20250929",
            {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7},
            {"prompt_tokens": 115, "cached_tokens": 100, "cache_write_tokens": 5, "completion_tokens": 7},
        ),
        (
            "amazon-bedrock",
            "converse",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            {"inputTokens": 10, "outputTokens": 7, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 5},
            {"prompt_tokens": 115, "cached_tokens": 100, "cache_write_tokens": 5, "completion_tokens": 7},
        ),
    ],
)
def test_cache_usage_is_read_from_each_provider(
    provider: str, family: Any, model_id: str, usage: dict[str, int], expected: dict[str, int]
) -> None:
    target = (
        bedrock_key_target(model_id) if provider == "amazon-bedrock" else api_key_target(provider, model_id, family)
    )
    if family == "anthropic":
        upstream: Any = {"type": "message", "content": [{"type": "text", "text": "hi"}], "usage": usage}
    else:
        upstream = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "usage": usage}
    result = adapter_for(target).parse_response(chat(), target, json.dumps(upstream).encode())
    assert {k: result["usage"][k] for k in expected} == expected


def test_cost_prices_cached_and_written_tokens_at_their_own_rates() -> None:
    assert CLAUDE is not None
    offer = CLAUDE.providers[0]
    # 1M prompt tokens of which 400k cached and 100k written; 0 completion
    cost = offer.cost(1_000_000, 0, cached_tokens=400_000, cache_write_tokens=100_000)
    assert float(cost) == pytest.approx(0.5 * 3 + 0.4 * 0.3 + 0.1 * 3.75)
