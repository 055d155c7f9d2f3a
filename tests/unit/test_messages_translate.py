"""Messages requests for non-Claude models: onto the chat request and back, streams included."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.apis.chat.schema import AssistantMessage, SystemMessage, ToolMessage, UserMessage
from gateway.apis.messages.answers import EventEncoder, to_message
from gateway.apis.messages.schema import MessagesCall, MessagesRequest
from gateway.apis.messages.service import error_body
from gateway.apis.messages.translate import ignored_fields, to_chat
from gateway.core.errors import BadRequest

MODEL = "openai/gpt-5-mini"
PNG = "iVBORw0KGgo="


def call(**fields: Any) -> MessagesCall:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
    body.update(fields)
    return MessagesCall(MessagesRequest.model_validate(body), body)


def test_a_conversation_with_tools_becomes_the_chat_request() -> None:
    chat = to_chat(
        call(
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather?"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "Rain"}],
                        },
                        {"type": "text", "text": "Thanks"},
                    ],
                },
            ],
            tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            stop_sequences=["END"],
            metadata={"user_id": "u-1"},
            temperature=0.3,
            stream=True,
        )
    )
    roles = [type(m) for m in chat.messages]
    assert roles == [SystemMessage, UserMessage, AssistantMessage, ToolMessage, UserMessage]
    assert chat.messages[0].content == "Be brief."
    assistant = chat.messages[2]
    assert isinstance(assistant, AssistantMessage) and assistant.content == "Checking."
    assert assistant.tool_calls and assistant.tool_calls[0].function.arguments == '{"city":"Oslo"}'
    assert isinstance(chat.messages[3], ToolMessage) and chat.messages[3].content == "Rain"
    user = chat.messages[1]
    assert isinstance(user, UserMessage) and not isinstance(user.content, str)
    assert user.content[1].image_url.url == f"data:image/png;base64,{PNG}"  # type: ignore[union-attr]
    assert chat.tool_choice == "required" and chat.parallel_tool_calls is False
    assert chat.stop == ["END"] and chat.user == "u-1" and chat.temperature == 0.3 and chat.max_tokens == 100
    assert chat.stream and chat.stream_options and chat.stream_options.include_usage


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
                        ],
                    }
                ]
            },
            "messages.0.content.0",
        ),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        (
            {"messages": [{"role": "user", "content": [{"type": "search_result", "source": "x", "content": []}]}]},
            "messages.0.content.0",
        ),
    ],
)
def test_content_the_model_cannot_read_is_a_400_naming_it(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        to_chat(call(**fields))
    assert caught.value.param == param
    assert MODEL in caught.value.message


def test_settings_only_claude_has_are_dropped_and_named() -> None:
    # Given what Claude Code sends with every request, plus a server tool and a field newer than the gateway
    request = call(
        top_k=5,
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        output_config={"effort": "medium"},
        mcp_servers=[{"type": "url", "url": "https://mcp.example.com", "name": "x"}],
        container="container_1",
        brand_new_field={"on": True},
        tools=[
            {"type": "web_search_20250305", "name": "web_search"},
            {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}, "defer_loading": True},
        ],
    )
    # When it is translated for a non-Claude model
    chat = to_chat(request)
    # Then the client tool survives, and everything else is named as dropped
    assert [tool.function.name for tool in chat.tools or []] == ["Read"]
    assert set(ignored_fields(request)) == {
        "top_k",
        "context_management",
        "output_config.effort",
        "mcp_servers",
        "container",
        "brand_new_field",
        "tools.0",
    }


def test_claudes_structured_output_becomes_the_chat_response_format() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    request = call(output_config={"format": {"type": "json_schema", "schema": schema}})
    chat = to_chat(request)
    assert chat.response_format is not None and chat.response_format.type == "json_schema"
    assert chat.response_format.json_schema.schema_ == schema  # type: ignore[union-attr]
    assert ignored_fields(request) == ()


def test_system_turns_join_the_system_prompt_for_a_translated_model() -> None:
    chat = to_chat(
        call(
            system="Be brief.",
            messages=[
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": [{"type": "text", "text": "# Environment: linux"}]},
            ],
        )
    )
    assert [type(m) for m in chat.messages] == [SystemMessage, UserMessage]
    assert chat.messages[0].content == "Be brief.\n\n# Environment: linux"


def test_a_completion_becomes_an_anthropic_message() -> None:
    completion = {
        "choices": [
            {
                "message": {
                    "content": "Let me check.",
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 8}},
    }
    message = to_message(completion, MODEL)
    assert message["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    assert message["stop_reason"] == "tool_use" and message["model"] == MODEL
    assert message["usage"] == {
        "input_tokens": 4,
        "output_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 8,
    }


def test_chat_deltas_become_the_anthropic_event_stream() -> None:
    encoder = EventEncoder(MODEL)
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": None}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]},
                    "finish_reason": None,
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    events = [event for chunk in chunks for event in encoder.chunk(chunk)]
    events += encoder.finish({"prompt_tokens": 9, "completion_tokens": 3})
    kinds = [(e["type"], e.get("index"), (e.get("delta") or {}).get("type")) for e in events]
    assert kinds == [
        ("message_start", None, None),
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, "input_json_delta"),
        ("content_block_delta", 1, "input_json_delta"),
        ("content_block_stop", 1, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    assert events[5]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["input_tokens"] == 9 and events[-2]["usage"]["output_tokens"] == 3


def test_an_empty_stream_is_still_a_complete_message() -> None:
    encoder = EventEncoder(MODEL)
    assert [e["type"] for e in encoder.finish(None)] == ["message_start", "message_delta", "message_stop"]


@pytest.mark.parametrize(
    "body",
    [
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]},  # max_tokens is required
        {"model": MODEL, "max_tokens": 10, "messages": []},
        {"model": MODEL, "max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]},
        {"model": MODEL, "max_tokens": "10", "messages": [{"role": "user", "content": "Hi"}]},
        {
            "model": MODEL,
            "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 512},
            "messages": [{"role": "user", "content": "Hi"}],
        },
        {
            "model": MODEL,
            "max_tokens": 10,
            "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "x"}],
        },
        {"model": MODEL, "max_tokens": 10, "tools": [{"name": "f"}], "messages": [{"role": "user", "content": "x"}]},
        {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
    ],
)
def test_the_request_schema_refuses_what_anthropic_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MessagesRequest.model_validate(body)


def test_the_request_schema_accepts_what_claude_code_sends() -> None:
    # Given Claude Code's first request, in the parts a stricter schema refused
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 128_000,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "metadata": {"user_id": '{"device_id":"0d8b","session_id":"a029"}'},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "say hi"}]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
        ],
        "tools": [
            {"name": "Workflow", "description": "w" * 18_780, "input_schema": {"type": "object"}},
            {"name": "Later", "description": "d", "input_schema": {"type": "object"}, "defer_loading": True},
            {"type": "mcp_toolset", "mcp_server_name": "docs"},
        ],
        "stream": True,
    }
    # When it is validated, Then it is accepted with every field kept
    request = MessagesRequest.model_validate(body)
    assert request.model_extra == {
        "context_management": body["context_management"],
        "output_config": body["output_config"],
    }
    assert request.messages[1].role == "system"


def test_a_thinking_budget_above_max_tokens_is_anthropics_to_judge() -> None:
    # interleaved thinking lets the budget span the whole turn, above max_tokens
    body = {
        "model": MODEL,
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "messages": [{"role": "user", "content": "Hi"}],
    }
    assert MessagesRequest.model_validate(body).thinking is not None


def test_errors_take_anthropic_types_by_status() -> None:
    from gateway.core.errors import GatewayError, NotFound, PaymentRequired, Unauthorized

    assert error_body(Unauthorized("nope")) == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "nope"},
    }
    assert error_body(NotFound("x"))["error"]["type"] == "not_found_error"
    assert error_body(PaymentRequired("x"))["error"]["type"] == "billing_error"
    assert error_body(GatewayError("x", status=429))["error"]["type"] == "rate_limit_error"
    assert error_body(GatewayError("x", status=504))["error"]["type"] == "timeout_error"
    assert error_body(GatewayError("x", status=502))["error"]["type"] == "api_error"
