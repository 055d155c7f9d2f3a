"""The simulator answers the request as a model would: schemas satisfied, tool loops that end, reasoning when
asked for, cache and reasoning usage, and the providers' own constraints on thinking."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from local.simulator import anthropic_format, bedrock_format, gemini_format, openai_format
from local.simulator.schema_values import value_for
from local.simulator.wire import Reply

PERSON: dict[str, Any] = {
    "$defs": {"Pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}, "required": ["kind"]}},
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 12},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "pet": {"anyOf": [{"$ref": "#/$defs/Pet"}, {"type": "null"}]},
        "score": {"type": "number", "exclusiveMaximum": 1},
    },
    "required": ["name", "age", "email", "tags", "pet", "score"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}


def payload(reply: Reply) -> Any:
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def test_generated_values_satisfy_their_schema() -> None:
    value = value_for(PERSON)
    jsonschema.validate(value, PERSON)
    assert value["pet"] == {"kind": "cat"}


def test_openai_json_schema_answer_satisfies_the_schema() -> None:
    body = {
        "model": "gpt-5-mini",
        "messages": [{"role": "user", "content": "who?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Person", "schema": PERSON}},
    }
    content = payload(openai_format.handle_chat(body, "openai"))["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), PERSON)


def test_tool_arguments_follow_the_schema_and_a_tool_result_ends_the_loop() -> None:
    tools = [{"name": "get_weather", "input_schema": WEATHER}]
    ask = {"role": "user", "content": "weather in Paris?"}
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [ask], "tools": tools}
    first = payload(anthropic_format.handle_messages(body, "anthropic"))
    (use,) = first["content"]
    assert use["type"] == "tool_use" and use["input"] == {"city": "Paris", "unit": "celsius"}

    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "18C"}]}
    body["messages"] = [ask, {"role": "assistant", "content": [use]}, result]
    second = payload(anthropic_format.handle_messages(body, "anthropic"))
    assert second["stop_reason"] == "end_turn" and second["content"][0]["type"] == "text"


def test_anthropic_thinking_comes_first_and_its_constraints_are_enforced() -> None:
    base = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "primes?"}]}
    thinking = {"type": "enabled", "budget_tokens": 2048}
    answer = payload(anthropic_format.handle_messages({**base, "max_tokens": 4096, "thinking": thinking}, "anthropic"))
    assert [block["type"] for block in answer["content"]] == ["thinking", "text"]
    assert answer["content"][0]["thinking"].startswith("Thinking it over:")

    too_small = anthropic_format.handle_messages({**base, "max_tokens": 2048, "thinking": thinking}, "anthropic")
    assert too_small.status == 400 and b"max_tokens" in too_small.body
    hot = {**base, "max_tokens": 4096, "thinking": thinking, "temperature": 0.5}
    assert anthropic_format.handle_messages(hot, "anthropic").status == 400


def test_anthropic_streams_thinking_deltas() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "primes?"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stream": True,
    }
    reply = anthropic_format.handle_messages(body, "anthropic")
    assert reply.stream is not None
    events = [
        json.loads(line[6:]) for chunk in reply.stream for line in chunk.decode().splitlines() if line[:6] == "data: "
    ]
    thinking = "".join(e["delta"].get("thinking", "") for e in events if e["type"] == "content_block_delta")
    assert thinking.startswith("Thinking it over:")


def test_gemini_thoughts_only_with_include_thoughts_and_levels_only_on_gemini_3() -> None:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "primes?"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingLevel": "low", "includeThoughts": True}},
    }
    answer = payload(gemini_format.handle_generate(body, "google-ai-studio", "gemini-3-flash-preview", False, False))
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and answer["usageMetadata"]["thoughtsTokenCount"] > 0
    body["generationConfig"]["thinkingConfig"] = {"thinkingLevel": "low"}
    hidden = payload(gemini_format.handle_generate(body, "google-ai-studio", "gemini-3-flash-preview", False, False))
    assert not any(p.get("thought") for p in hidden["candidates"][0]["content"]["parts"])
    assert hidden["usageMetadata"]["thoughtsTokenCount"] > 0
    assert gemini_format.handle_generate(body, "google-ai-studio", "gemini-2.5-flash", False, False).status == 400


def test_bedrock_structured_output_takes_a_schema_string() -> None:
    text_format = {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(PERSON), "name": "P"}}}
    body = {"messages": [{"role": "user", "content": [{"text": "who?"}]}], "outputConfig": {"textFormat": text_format}}
    answer = payload(bedrock_format.handle_converse(body, "anthropic.claude", False))
    jsonschema.validate(json.loads(answer["output"]["message"]["content"][0]["text"]), PERSON)
    text_format["structure"]["jsonSchema"]["schema"] = PERSON  # type: ignore[index]
    assert bedrock_format.handle_converse(body, "anthropic.claude", False).status == 400


def test_a_long_system_prompt_seen_before_is_reported_cached() -> None:
    system = " ".join(f"word{i}" for i in range(70))
    body = {
        "model": "deepseek-chat",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}],
    }
    first = payload(openai_format.handle_chat(body, "deepseek"))["usage"]
    second = payload(openai_format.handle_chat(body, "deepseek"))["usage"]
    assert first["prompt_cache_hit_tokens"] == 0
    assert second["prompt_cache_hit_tokens"] == 70 == second["prompt_tokens_details"]["cached_tokens"]


def test_deepseek_thinking_returns_reasoning_content_and_tokens() -> None:
    body = {
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": "primes?"}],
        "thinking": {"type": "enabled"},
    }
    answer = payload(openai_format.handle_chat(body, "deepseek"))
    assert answer["choices"][0]["message"]["reasoning_content"].startswith("Thinking it over:")
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_json_mode_follows_the_schema_the_prompt_carries() -> None:
    # Given JSON mode and a prompt that spells out its JSON Schema (LangChain's json_mode, Vercel's generateObject)
    prompt = f"Extract the person. Answer with JSON matching this schema: {json.dumps(PERSON)}"
    body = {
        "model": "gpt-5-mini",
        "messages": [{"role": "user", "content": prompt}],
        "response_format": {"type": "json_object"},
    }
    content = payload(openai_format.handle_chat(body, "openai"))["choices"][0]["message"]["content"]
    # Then the object satisfies that schema, not a fixed shape
    jsonschema.validate(json.loads(content), PERSON)
    # and without a schema in sight it is still a JSON object
    body["messages"] = [{"role": "user", "content": "Answer in JSON"}]
    plain = payload(openai_format.handle_chat(body, "openai"))["choices"][0]["message"]["content"]
    assert isinstance(json.loads(plain), dict)


def test_openai_top_logprobs_and_n_choices_are_filled() -> None:
    body = {
        "model": "gpt-5-mini",
        "messages": [{"role": "user", "content": "Say hello"}],
        "logprobs": True,
        "top_logprobs": 3,
        "n": 2,
    }
    answer = payload(openai_format.handle_chat(body, "openai"))
    assert [choice["index"] for choice in answer["choices"]] == [0, 1]
    tokens = answer["choices"][0]["logprobs"]["content"]
    assert tokens and all(len(token["top_logprobs"]) == 3 for token in tokens)
    assert tokens[0]["top_logprobs"][0]["token"] == tokens[0]["token"]


def test_gemini_candidate_count_gives_that_many_candidates() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"candidateCount": 3}}
    answer = payload(gemini_format.handle_generate(body, "google-ai-studio", "gemini-3-flash-preview", False, False))
    assert [candidate["index"] for candidate in answer["candidates"]] == [0, 1, 2]


def test_claude_takes_system_turns_only_on_models_that_do() -> None:
    turns = [{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"}]
    newer = {"model": "claude-opus-5-5", "max_tokens": 100, "messages": turns}
    assert anthropic_format.handle_messages(newer, "anthropic").status == 200
    older = anthropic_format.handle_messages({**newer, "model": "claude-sonnet-4-5-20250929"}, "anthropic")
    assert older.status == 400 and b"messages.1.role" in older.body
