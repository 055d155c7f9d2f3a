"""Responses requests for models other than OpenAI's: onto the chat request and back, streams included; OpenAI's
own stream checked as it passes through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.apis.chat.schema import AssistantMessage, SystemMessage, ToolMessage, UserMessage
from gateway.apis.responses.events import EventEncoder
from gateway.apis.responses.items import to_output
from gateway.apis.responses.native import NativeDecoder, upstream_body
from gateway.apis.responses.schema import ResponsesCall, ResponsesRequest
from gateway.apis.responses.stream import commits
from gateway.apis.responses.translate import ignored_hints, namespaces, to_chat
from gateway.core.errors import BadRequest
from gateway.providers import AttemptFailed, UnreadableResponse

MODEL = "anthropic/claude-sonnet-4.5"
FUNCTION: Any = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def call(history: list[dict[str, Any]] | None = None, **fields: Any) -> ResponsesCall:
    body: dict[str, Any] = {"model": MODEL, "input": "Hi", **fields}
    return ResponsesCall(ResponsesRequest.model_validate(body), body, history or [])


def test_a_conversation_with_a_tool_round_trip_becomes_the_chat_request() -> None:
    chat = to_chat(
        call(
            instructions="Be brief.",
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            ],
            tools=[FUNCTION],
            tool_choice={"type": "function", "name": "get_weather"},
            text={"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True}},
            reasoning={"effort": "low"},
            max_output_tokens=300,
            stream=True,
        )
    )
    system, user, assistant, tool = chat.messages
    assert isinstance(system, SystemMessage) and system.content == "Be brief."
    assert isinstance(user, UserMessage) and user.content[0].text == "Weather?"  # type: ignore[union-attr]
    # the reasoning item is context for the model that wrote it only; the call and its output become chat's
    assert isinstance(assistant, AssistantMessage) and assistant.tool_calls[0].id == "call_1"  # type: ignore[index]
    assert isinstance(tool, ToolMessage) and tool.content == "sunny"
    assert chat.tools is not None and chat.tools[0].function.name == "get_weather"
    assert chat.tool_choice is not None and chat.tool_choice.function.name == "get_weather"  # type: ignore[union-attr]
    assert chat.response_format is not None and chat.response_format.json_schema.strict is True  # type: ignore[union-attr]
    assert (chat.reasoning_effort, chat.max_completion_tokens, chat.stream) == ("low", 300, True)
    assert chat.stream_options is not None and chat.stream_options.include_usage is True


def test_the_earlier_turns_come_first() -> None:
    history = [{"role": "user", "content": "first"}, {"type": "message", "role": "assistant", "content": "one"}]
    chat = to_chat(call(history=history, input="second"))
    assert [(m.role, m.content) for m in chat.messages] == [
        ("user", "first"),
        ("assistant", "one"),
        ("user", "second"),
    ]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools.0"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input.0.content.0.file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/y.pdf"}]}]},
            "input.0.content.0.file_url",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input.0.content.0.file_id",
        ),
        ({"background": True}, "background"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0"),
    ],
)
def test_what_a_translated_provider_cannot_take_is_a_400_naming_it(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as refused:
        to_chat(call(**fields))
    assert refused.value.param == param


def test_hints_and_unknown_fields_are_named() -> None:
    named = ignored_hints(call(include=["reasoning.encrypted_content"], truncation="disabled", client_metadata={}))
    assert named == ("include", "client_metadata")


def test_namespaced_functions_are_offered_and_answered_with_their_namespace() -> None:
    tool = {"type": "namespace", "name": "agents", "description": "d", "tools": [{**FUNCTION, "name": "spawn"}]}
    request = call(tools=[tool])
    assert [t.function.name for t in to_chat(request).tools or []] == ["spawn"]
    completion = {
        "choices": [
            {
                "message": {"tool_calls": [{"id": "c1", "function": {"name": "spawn", "arguments": "{}"}}]},
                "finish_reason": "tool_calls",
            }
        ]
    }
    [item] = to_output(completion, namespaces(request))["output"]
    assert (item["type"], item["name"], item["namespace"], item["call_id"]) == (
        "function_call",
        "spawn",
        "agents",
        "c1",
    )


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_chat_deltas_become_the_semantic_events_item_by_item() -> None:
    encoder = EventEncoder()
    events = encoder.chunk(chunk({"reasoning_content": "Hmm"}))
    events += encoder.chunk(chunk({"content": "Hel"})) + encoder.chunk(chunk({"content": "lo"}))
    events += encoder.chunk(
        chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]})
    )
    events += encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}, "tool_calls"))
    events += encoder.finish({"prompt_tokens": 3, "completion_tokens": 4})

    kinds = [event["type"] for event in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    reasoning, message, call_item = events[-1]["response"]["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Hmm"}]
    assert message["content"][0]["text"] == "Hello" and message["status"] == "completed"
    assert (call_item["arguments"], call_item["call_id"], call_item["status"]) == ('{"a":1}', "c1", "completed")
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [0, 1, 2]
    # the stream commits on the first generated delta, not on the preamble or an empty message item
    assert [commits(e) for e in events[:5]] == [False, False, False, False, True]


def test_a_length_finish_is_an_incomplete_response() -> None:
    encoder = EventEncoder()
    events = encoder.chunk(chunk({"content": "cut"}, "length")) + encoder.finish(None)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def test_openais_stream_passes_through_and_its_usage_is_noted() -> None:
    decoder = NativeDecoder("openai")
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
    }
    created = {"type": "response.created", "response": {"id": "resp_upstream", "output": []}}
    completed = {"type": "response.completed", "response": {"id": "resp_upstream", "output": [], "usage": usage}}
    raw = sse(created) + sse(completed)
    events = decoder.feed(raw[:20]) + decoder.feed(raw[20:]) + decoder.close()
    assert events == [created, completed]
    assert decoder.usage == {
        "prompt_tokens": 10,
        "completion_tokens": 7,
        "total_tokens": 17,
        "cached_tokens": 4,
        "reasoning_tokens": 2,
    }


def test_openais_stream_failures_fail_the_attempt() -> None:
    with pytest.raises(AttemptFailed):
        NativeDecoder("openai").feed(sse({"type": "error", "code": "server_error", "message": "x"}))
    with pytest.raises(AttemptFailed):
        NativeDecoder("openai").feed(sse({"type": "response.failed", "response": {}}))
    cut = NativeDecoder("openai")
    cut.feed(sse({"type": "response.created", "response": {}}))
    with pytest.raises(UnreadableResponse):
        cut.close()


def test_openai_gets_the_conversation_instead_of_previous_response_id() -> None:
    history = [{"role": "user", "content": "first"}]
    request = call(history=history, input="second", previous_response_id="resp_1", provider={"only": ["openai"]})
    body = upstream_body(request, "gpt-5-mini", stream=True)
    assert body["input"] == [*history, {"type": "message", "role": "user", "content": "second"}]
    assert "previous_response_id" not in body and "provider" not in body
    assert (body["model"], body["stream"]) == ("gpt-5-mini", True)
