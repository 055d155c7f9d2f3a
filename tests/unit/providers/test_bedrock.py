"""Amazon Bedrock Converse / ConverseStream."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest

from gateway.core.errors import BadRequest
from gateway.providers import AttemptFailed, UnreadableResponse, adapter_for
from tests.unit.providers.helpers import (
    assemble,
    aws_target,
    bedrock_key_target,
    body_of,
    chat,
    feed_in_pieces,
    set_env,
)

MODEL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
ENCODED_MODEL = "global.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
PNG = "iVBORw0KGgo="

RESPONSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"text": "Checking the weather."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    }
                },
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 405, "outputTokens": 60, "totalTokens": 465},
    "metrics": {"latencyMs": 1500},
}


def frame(headers: dict[str, str], payload: dict[str, Any] | bytes) -> bytes:
    """One application/vnd.amazon.eventstream message (string headers only), as AWS encodes it."""
    encoded = b""
    for name, value in headers.items():
        raw = value.encode()
        encoded += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    total = 12 + len(encoded) + len(body) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + body
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


STREAM = b"".join(
    [
        event("messageStart", {"p": "abc", "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me "}, "p": "ab"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "look ☂."}, "p": "ab"}),
        event("contentBlockStop", {"contentBlockIndex": 0, "p": "a"}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}, "p": "x"},
        ),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}, "p": "x"}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Oslo"}'}}, "p": "x"}),
        event("contentBlockStop", {"contentBlockIndex": 1, "p": "x"}),
        event("messageStop", {"stopReason": "tool_use", "p": "x"}),
        event(
            "metadata",
            {"usage": {"inputTokens": 20, "outputTokens": 31, "totalTokens": 51}, "metrics": {"latencyMs": 9}},
        ),
    ]
)


def test_request_with_api_key_uses_bearer_and_encoded_model() -> None:
    target = bedrock_key_target(MODEL, region="eu-central-1")
    upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    assert upstream.url == f"https://bedrock-runtime.eu-central-1.amazonaws.com/model/{ENCODED_MODEL}/converse"
    assert upstream.headers["authorization"] == "Bearer bedrock-api-key-abcdef"
    streamed = adapter_for(target).build_request(chat(), target, stream=True, timeout=5)
    assert streamed.url.endswith(f"/model/{ENCODED_MODEL}/converse-stream")


def test_sigv4_uses_only_the_stored_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "e" * 40)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-session-token")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    target = aws_target(MODEL, region="us-west-2", session_token="StoredSessionToken0123456789")
    upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    authorization = upstream.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIASTOREDSTOREDKEY1/")
    assert "/us-west-2/bedrock/aws4_request" in authorization
    assert "AKIAENVIRONMENTKEY00" not in json.dumps(upstream.headers)
    assert "ap-south-1" not in json.dumps(upstream.headers) and "ap-south-1" not in upstream.url
    assert upstream.headers["x-amz-security-token"] == "StoredSessionToken0123456789"
    assert "x-amz-date" in upstream.headers
    assert upstream.url.startswith("https://bedrock-runtime.us-west-2.amazonaws.com/")


def test_sigv4_signature_matches_botocore_for_the_same_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    import botocore.auth
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fixed = datetime.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    target = aws_target(MODEL, region="us-east-1")
    upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    check = AWSRequest(
        method="POST",
        url=upstream.url,
        data=upstream.content,
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    SigV4Auth(Credentials("AKIASTOREDSTOREDKEY1", "s" * 40), "bedrock", "us-east-1").add_auth(check)
    assert upstream.headers["x-amz-date"] == "20260102T030405Z"
    assert check.headers["Authorization"] == upstream.headers["authorization"]


def test_override_is_used_for_every_region(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "UPSTREAM_AMAZON_BEDROCK_URL", "http://127.0.0.1:4010/")
    for region in ("us-east-1", "eu-west-3"):
        target = bedrock_key_target(MODEL, region=region)
        upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
        assert upstream.url == f"http://127.0.0.1:4010/model/{ENCODED_MODEL}/converse"


@pytest.mark.parametrize(
    ("region", "model_id"),
    [
        ("us-east-1.evil.com", MODEL),
        ("http://x", MODEL),
        (None, MODEL),
        ("us-east-1", "../x"),
        ("us-east-1", "a/b"),
        ("us-east-1", "http://x"),
    ],
)
def test_hostile_values_are_refused_before_any_request(region: str | None, model_id: str) -> None:
    target = bedrock_key_target(model_id, region=region)
    with pytest.raises(AttemptFailed) as exc:
        adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    assert exc.value.outcome == "error" and exc.value.status_code is None


def test_body_maps_messages_tools_and_inference_config() -> None:
    request = chat(
        messages=[
            {"role": "system", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "rain"},
        ],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "w", "parameters": {"type": "object"}},
            }
        ],
        tool_choice="required",
        max_completion_tokens=300,
        temperature=0.3,
        top_p=0.8,
        stop=["STOP"],
    )
    target = bedrock_key_target(MODEL)
    assert body_of(adapter_for(target).build_request(request, target, stream=False, timeout=5)) == {
        "messages": [
            {
                "role": "user",
                "content": [{"text": "Weather?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}],
            },
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}}],
            },
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "rain"}]}}]},
        ],
        "system": [{"text": "Be terse."}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.3, "topP": 0.8, "stopSequences": ["STOP"]},
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "get_weather", "description": "w", "inputSchema": {"json": {"type": "object"}}}}
            ],
            "toolChoice": {"any": {}},
        },
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"auto": {}}), ({"type": "function", "function": {"name": "f"}}, {"tool": {"name": "f"}})],
)
def test_tool_choice_shapes(choice: object, expected: dict[str, Any]) -> None:
    target = bedrock_key_target(MODEL)
    request = chat(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice=choice)
    body = body_of(adapter_for(target).build_request(request, target, stream=False, timeout=5))
    assert body["toolConfig"]["toolChoice"] == expected


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"seed": 3}, "seed"),
        ({"presence_penalty": 1}, "presence_penalty"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
    ],
)
def test_unsupported_parameters_are_400(fields: dict[str, object], param: str) -> None:
    target = bedrock_key_target(MODEL)
    with pytest.raises(BadRequest) as exc:
        adapter_for(target).build_request(chat(**fields), target, stream=False, timeout=5)
    assert exc.value.param == param


def test_response_maps_output_message() -> None:
    target = bedrock_key_target(MODEL)
    result = adapter_for(target).parse_response(chat(), target, json.dumps(RESPONSE).encode())
    message = result["choices"][0]["message"]
    assert message["content"] == "Checking the weather."
    assert message["tool_calls"][0] == {
        "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    assert result["usage"] == {"prompt_tokens": 405, "completion_tokens": 60, "total_tokens": 465}


@pytest.mark.parametrize(
    ("reason", "finish"), [("end_turn", "stop"), ("max_tokens", "length"), ("guardrail_intervened", "content_filter")]
)
def test_stop_reasons(reason: str, finish: str) -> None:
    target = bedrock_key_target(MODEL)
    body = {**RESPONSE, "stopReason": reason}
    assert (
        adapter_for(target).parse_response(chat(), target, json.dumps(body).encode())["choices"][0]["finish_reason"]
        == finish
    )


def test_missing_output_is_unreadable() -> None:
    target = bedrock_key_target(MODEL)
    with pytest.raises(UnreadableResponse):
        adapter_for(target).parse_response(chat(), target, b'{"Output": {}}')


@pytest.mark.parametrize("size", [1, 7, 50, 1000000])
def test_event_stream_decodes_across_frame_splits(size: int) -> None:
    target = bedrock_key_target(MODEL)
    decoder = adapter_for(target).stream_decoder(chat(), target)
    folded = assemble(feed_in_pieces(decoder, STREAM, size))
    assert folded["text"] == "Let me look ☂."
    assert folded["tool_calls"] == [{"id": "tooluse_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'}]
    assert folded["finish_reason"] == "tool_calls"
    assert decoder.usage == {"prompt_tokens": 20, "completion_tokens": 31, "total_tokens": 51}


def test_exception_frame_fails_the_attempt_with_its_status() -> None:
    target = bedrock_key_target(MODEL)
    decoder = adapter_for(target).stream_decoder(chat(), target)
    exception = frame(
        {":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"},
        {"message": "Too many requests, please wait before trying again."},
    )
    with pytest.raises(AttemptFailed) as exc:
        decoder.feed(exception)
    assert exc.value.status_code == 429


def test_truncated_or_corrupt_stream_is_unreadable() -> None:
    target = bedrock_key_target(MODEL)
    decoder = adapter_for(target).stream_decoder(chat(), target)
    decoder.feed(STREAM[:-10])
    with pytest.raises(UnreadableResponse):
        decoder.close()
    corrupt = bytearray(event("messageStart", {"role": "assistant"}))
    corrupt[-1] ^= 0xFF
    with pytest.raises(UnreadableResponse):
        adapter_for(target).stream_decoder(chat(), target).feed(bytes(corrupt))


def test_error_message_from_bedrock_shape() -> None:
    target = bedrock_key_target(MODEL)
    body = b'{"message":"The security token included in the request is invalid."}'
    assert adapter_for(target).error_message(403, body) == "The security token included in the request is invalid."
