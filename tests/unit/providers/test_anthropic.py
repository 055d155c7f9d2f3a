"""Anthropic Messages, direct and through Vertex rawPredict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.core.errors import BadRequest
from gateway.providers import AttemptFailed, UnreadableResponse, adapter_for
from tests.unit.providers.helpers import (
    api_key_target,
    assemble,
    body_of,
    chat,
    feed_in_pieces,
    vertex_target,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "providers"
TARGET = api_key_target("anthropic", "claude-sonnet-4-5-20250929", "anthropic", key="sk-ant-api03-secret")
PNG = "iVBORw0KGgo="

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
    {"role": "user", "content": "Thanks"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

RESPONSE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 89, "cache_read_input_tokens": 10},
}

STREAM = (FIXTURES / "anthropic_stream.sse").read_bytes().replace(b"\n", b"\r\n")


def test_request_maps_the_whole_conversation() -> None:
    request = chat(messages=CONVERSATION, tools=TOOLS, tool_choice="required", stop="END", user="u-9", top_p=0.5)
    upstream = adapter_for(TARGET).build_request(request, TARGET, stream=False, timeout=5)
    assert upstream.url == "https://api.anthropic.com/v1/messages"
    assert upstream.headers["x-api-key"] == "sk-ant-api03-secret"
    assert upstream.headers["anthropic-version"] == "2023-06-01"
    assert upstream.headers["content-type"] == "application/json"
    assert "authorization" not in upstream.headers
    assert body_of(upstream) == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 4096,
        "system": "You are terse.\n\nUse tools.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
        "top_p": 0.5,
        "stop_sequences": ["END"],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather for a city",
                "input_schema": TOOLS[0]["function"]["parameters"],  # type: ignore[index]
            }
        ],
        "tool_choice": {"type": "any"},
        "metadata": {"user_id": "u-9"},
    }


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_tool_choice_mapping(choice: object, parallel: bool | None, expected: object) -> None:
    request = chat(tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel, max_tokens=12)
    body = body_of(adapter_for(TARGET).build_request(request, TARGET, stream=True, timeout=5))
    assert body.get("tool_choice") == expected
    assert body["max_tokens"] == 12
    assert body["stream"] is True


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"seed": 1}, "seed"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"temperature": 1.5}, "temperature"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
    ],
)
def test_unsupported_parameters_are_400(fields: dict[str, object], param: str) -> None:
    with pytest.raises(BadRequest) as exc:
        adapter_for(TARGET).build_request(chat(**fields), TARGET, stream=False, timeout=5)
    assert exc.value.status == 400
    assert exc.value.param == param


def test_remote_image_message_explains_data_urls() -> None:
    request = chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}])
    with pytest.raises(BadRequest, match="data: URLs"):
        adapter_for(TARGET).build_request(request, TARGET, stream=False, timeout=5)


def test_response_maps_text_tool_use_and_usage() -> None:
    result = adapter_for(TARGET).parse_response(chat(), TARGET, json.dumps(RESPONSE).encode())
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert result["usage"] == {"prompt_tokens": 482, "completion_tokens": 89, "total_tokens": 571, "cached_tokens": 10}


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter")],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    body = {**RESPONSE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    result = adapter_for(TARGET).parse_response(chat(), TARGET, json.dumps(body).encode())
    assert result["choices"][0]["finish_reason"] == finish


def test_non_message_body_is_unreadable() -> None:
    with pytest.raises(UnreadableResponse):
        adapter_for(TARGET).parse_response(chat(), TARGET, b'{"type": "error"}')


@pytest.mark.parametrize("size", [1, 3, 11, 100, 100000])
def test_stream_decodes_text_and_tool_calls(size: int) -> None:
    decoder = adapter_for(TARGET).stream_decoder(chat(), TARGET)
    folded = assemble(feed_in_pieces(decoder, STREAM, size))
    assert folded["text"] == "Let me check é."
    assert folded["tool_calls"] == [
        {"id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert folded["finish_reason"] == "tool_calls"
    assert decoder.usage == {"prompt_tokens": 25, "completion_tokens": 89, "total_tokens": 114}


def test_stream_without_message_stop_is_unreadable() -> None:
    decoder = adapter_for(TARGET).stream_decoder(chat(), TARGET)
    decoder.feed(STREAM.split(b"event: message_stop")[0])
    with pytest.raises(UnreadableResponse):
        decoder.close()


@pytest.mark.parametrize(
    ("error_type", "status"), [("overloaded_error", 529), ("rate_limit_error", 429), ("api_error", 502)]
)
def test_stream_error_event_fails_the_attempt_with_the_status_health_reads(error_type: str, status: int) -> None:
    """The chat path reads Anthropic's error events as the Messages path does: overloaded is a 5xx for health."""
    decoder = adapter_for(TARGET).stream_decoder(chat(), TARGET)
    event = b'event: error\ndata: {"type":"error","error":{"type":"%s","message":"x"}}\n\n' % error_type.encode()
    with pytest.raises(AttemptFailed, match=error_type) as raised:
        decoder.feed(event)
    assert raised.value.status_code == status


def test_a_stream_error_type_that_is_not_anthropics_is_not_repeated() -> None:
    decoder = adapter_for(TARGET).stream_decoder(chat(), TARGET)
    event = b'event: error\ndata: {"type":"error","error":{"type":"plainkeyquoted","message":"x"}}\n\n'
    with pytest.raises(AttemptFailed) as raised:
        decoder.feed(event)
    assert "plainkeyquoted" not in str(raised.value)


def test_error_message_from_anthropic_shape() -> None:
    body = b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'
    assert adapter_for(TARGET).error_message(401, body) == "invalid x-api-key"


def test_vertex_claude_uses_raw_predict(rsa_pem: str, fake_token: list[float]) -> None:
    target = vertex_target(rsa_pem, "claude-sonnet-4-5@20250929", "anthropic", region="us-east5")
    adapter = adapter_for(target)
    upstream = adapter.build_request(chat(max_tokens=9), target, stream=False, timeout=3)
    assert upstream.url == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project-123/locations/us-east5"
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    )
    assert upstream.headers["authorization"] == "Bearer ya29.fake-token"
    assert "x-api-key" not in upstream.headers
    body = body_of(upstream)
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in body
    streamed = adapter.build_request(chat(), target, stream=True, timeout=3)
    assert streamed.url.endswith(":streamRawPredict")


@pytest.mark.parametrize(
    ("region", "model_id"),
    [
        ("us-east-1.evil.com", "claude-sonnet-4-5@20250929"),
        ("global", "../x"),
        ("global", "a/b"),
        ("global", "http://x"),
    ],
)
def test_vertex_claude_rejects_hostile_values(
    rsa_pem: str, fake_token: list[float], region: str, model_id: str
) -> None:
    target = vertex_target(rsa_pem, model_id, "anthropic", region=region)
    with pytest.raises(AttemptFailed):
        adapter_for(target).build_request(chat(), target, stream=False, timeout=3)
    assert fake_token == []  # nothing was fetched for a request that cannot be built
