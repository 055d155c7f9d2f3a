"""Claude passthrough: the Anthropic body on Anthropic, Bedrock InvokeModel and Vertex rawPredict, and the decoders."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from gateway.apis.messages.schema import MessagesCall, MessagesRequest
from gateway.core.errors import BadRequest
from gateway.providers import AttemptFailed, UnreadableResponse, claude
from gateway.providers.wire.anthropic_events import AnthropicEvents
from local.simulator.eventstream import encode_event, encode_exception
from tests.unit.providers.helpers import (
    api_key_target,
    aws_target,
    bedrock_key_target,
    body_of,
    feed_in_pieces,
    vertex_target,
)

BEDROCK_MODEL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "system": [{"type": "text", "text": "Handbook", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    "messages": [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig-1"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "Sunny",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "provider": {"order": ["amazon-bedrock"]},
    "stream": True,
}
EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "x",
            "usage": {"input_tokens": 3, "cache_read_input_tokens": 7, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Héllo"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}},
]


def call(body: dict[str, Any] | None = None, betas: tuple[str, ...] = ()) -> MessagesCall:
    body = dict(BODY if body is None else body)
    return MessagesCall(MessagesRequest.model_validate(body), body, betas)


def without_gateway_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("model", "provider", "stream")}


def test_anthropic_gets_the_body_as_sent_with_its_model_and_betas() -> None:
    target = api_key_target("anthropic", "claude-sonnet-4-5-20250929", "anthropic")
    upstream = claude.build_request(call(betas=("context-1m-2025-08-07",)), target, stream=True, timeout=5)
    body = body_of(upstream)
    assert upstream.url == "https://api.anthropic.com/v1/messages"
    assert upstream.headers["anthropic-version"] == "2023-06-01"
    assert upstream.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert body == {"model": "claude-sonnet-4-5-20250929", **without_gateway_fields(call().body), "stream": True}


@pytest.mark.parametrize("target", [aws_target(BEDROCK_MODEL), bedrock_key_target(BEDROCK_MODEL)], ids=["sigv4", "key"])
def test_bedrock_invoke_has_no_model_or_stream_and_its_own_version(target: Any) -> None:
    upstream = claude.build_request(call(betas=("a-1", "b-2")), target, stream=True, timeout=5)
    assert upstream.url.endswith(
        "/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
    )
    assert body_of(upstream) == {
        "anthropic_version": "bedrock-2023-05-31",
        **without_gateway_fields(call().body),
        "anthropic_beta": ["a-1", "b-2"],
    }
    assert upstream.headers["accept"] == "application/vnd.amazon.eventstream"
    assert upstream.headers["authorization"].startswith(("AWS4-HMAC-SHA256", "Bearer "))
    plain = claude.build_request(call(), target, stream=False, timeout=5)
    assert plain.url.endswith("/invoke")


def test_vertex_raw_predict_has_its_version_and_stream_flag(rsa_pem: str, fake_token: list[float]) -> None:
    target = vertex_target(rsa_pem, "claude-sonnet-4-5@20250929", "anthropic", region="us-east5")
    upstream = claude.build_request(call(), target, stream=True, timeout=5)
    assert upstream.url == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project-123/locations/us-east5"
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    )
    assert body_of(upstream) == {
        "anthropic_version": "vertex-2023-10-16",
        **without_gateway_fields(call().body),
        "stream": True,
    }
    assert upstream.headers["authorization"] == "Bearer ya29.fake-token"


def test_count_requests_for_each_host(rsa_pem: str, fake_token: list[float]) -> None:
    anthropic = claude.build_count_request(call(), api_key_target("anthropic", "claude-x", "anthropic"), timeout=5)
    assert anthropic.url.endswith("/v1/messages/count_tokens") and body_of(anthropic)["model"] == "claude-x"
    vertex = claude.build_count_request(call(), vertex_target(rsa_pem, "claude-x@1", "anthropic"), timeout=5)
    assert vertex.url.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert body_of(vertex)["model"] == "claude-x@1"
    bedrock = claude.build_count_request(call(), aws_target(BEDROCK_MODEL), timeout=5)
    # CountTokens takes the foundation model, not the cross-region inference profile.
    assert bedrock.url.endswith("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens")
    inner = json.loads(base64.b64decode(body_of(bedrock)["input"]["invokeModel"]["body"]))
    assert inner["anthropic_version"] == "bedrock-2023-05-31" and inner["messages"] == BODY["messages"]
    target = aws_target(BEDROCK_MODEL)
    assert claude.parse_count(target, b'{"inputTokens": 12}') == 12
    with pytest.raises(UnreadableResponse):
        claude.parse_count(target, b'{"input_tokens": 12}')


SYSTEM_TURN = {"role": "system", "content": [{"type": "text", "text": "# Environment"}]}


def test_system_turns_are_folded_into_system_for_a_model_that_does_not_take_them() -> None:
    # Given Claude Code's mid-conversation system turn, sent to Claude Sonnet 4.5 (which refuses it there)
    body = {**BODY, "messages": [BODY["messages"][0], SYSTEM_TURN, *BODY["messages"][1:]]}
    upstream = claude.build_request(
        call(body), api_key_target("anthropic", "claude-sonnet-4-5", "anthropic"), stream=False, timeout=5
    )
    sent = body_of(upstream)
    # Then it joins the system prompt after the client's blocks (their cache marks intact), in order
    assert sent["system"] == [*BODY["system"], {"type": "text", "text": "# Environment"}]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]


def test_system_turns_stay_in_place_for_a_model_that_takes_them() -> None:
    body = {**BODY, "messages": [BODY["messages"][0], SYSTEM_TURN, *BODY["messages"][1:]]}
    target = api_key_target("anthropic", "claude-opus-5-5", "anthropic")
    target = replace(target, offer=target.offer.model_copy(update={"system_turns": True}))
    sent = body_of(claude.build_request(call(body), target, stream=False, timeout=5))
    assert sent["messages"][1] == SYSTEM_TURN and sent["system"] == BODY["system"]


def test_unknown_fields_reach_claude_but_never_override_the_hosts_version(
    rsa_pem: str, fake_token: list[float]
) -> None:
    body = {**BODY, "context_management": {"edits": []}, "anthropic_version": "vertex-1999-01-01"}
    target = vertex_target(rsa_pem, "claude-sonnet-4-5@20250929", "anthropic")
    sent = body_of(claude.build_request(call(body), target, stream=False, timeout=5))
    assert sent["context_management"] == {"edits": []}
    assert sent["anthropic_version"] == "vertex-2023-10-16"


def test_bedrock_ids_that_steer_traffic_are_refused() -> None:
    with pytest.raises(AttemptFailed):
        claude.build_request(call(), aws_target("../../evil"), stream=False, timeout=5)
    with pytest.raises(AttemptFailed):
        claude.build_request(call(), aws_target(BEDROCK_MODEL, region="evil.example.com/x"), stream=False, timeout=5)


def test_beta_flags_are_checked() -> None:
    assert claude.parse_betas("a-1, b.2") == ("a-1", "b.2")
    assert claude.parse_betas(None) == ()
    with pytest.raises(BadRequest):
        claude.parse_betas("good-1,Bad\r\nInjected: yes")


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def bedrock_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(encode_event("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}) for e in events)


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_sse_decoder_passes_events_through_and_counts_usage(size: int) -> None:
    decoder = AnthropicEvents("anthropic")
    events = feed_in_pieces(decoder, sse_bytes(EVENTS), size)
    assert [e["type"] for e in events] == [e["type"] for e in EVENTS]
    assert events[3]["delta"]["text"] == "Héllo"
    assert decoder.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cached_tokens": 7}


@pytest.mark.parametrize("size", [1, 13, 4096])
def test_bedrock_decoder_unwraps_base64_chunks_and_drops_bedrock_extras(size: int) -> None:
    decoder = AnthropicEvents("amazon-bedrock", bedrock=True)
    events = feed_in_pieces(decoder, bedrock_bytes(EVENTS), size)
    assert [e["type"] for e in events] == [e["type"] for e in EVENTS]
    assert events[-1] == {"type": "message_stop"}
    assert decoder.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cached_tokens": 7}


def test_bedrock_exception_frame_fails_the_attempt_with_its_status() -> None:
    decoder = AnthropicEvents("amazon-bedrock", bedrock=True)
    with pytest.raises(AttemptFailed) as caught:
        decoder.feed(bedrock_bytes(EVENTS[:1]) + encode_exception("throttlingException", "slow down"))
    assert caught.value.status_code == 429


def test_streams_that_stop_early_or_report_errors_are_failures() -> None:
    decoder = AnthropicEvents("anthropic")
    decoder.feed(sse_bytes(EVENTS[:4]))
    with pytest.raises(UnreadableResponse):
        decoder.close()
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(AttemptFailed) as caught:
        AnthropicEvents("anthropic").feed(sse_bytes([EVENTS[0], overloaded]))
    assert caught.value.status_code == 529
    with pytest.raises(UnreadableResponse):
        AnthropicEvents("amazon-bedrock", bedrock=True).feed(encode_event("chunk", {"bytes": "not base64!"}))


def test_unknown_event_types_are_skipped() -> None:
    decoder = AnthropicEvents("anthropic")
    events = feed_in_pieces(decoder, sse_bytes([*EVENTS[:2], {"type": "future_event"}, *EVENTS[2:]]), 4096)
    assert "future_event" not in [e["type"] for e in events]


def test_a_message_that_is_not_anthropic_is_unreadable() -> None:
    target = api_key_target("anthropic", "claude-x", "anthropic")
    with pytest.raises(UnreadableResponse):
        claude.parse_message(target, b'{"choices": []}')
    message = claude.parse_message(target, b'{"type": "message", "content": [{"type": "text", "text": "hi"}]}')
    assert message["content"][0]["text"] == "hi"


def test_claude_targets_are_recognised() -> None:
    assert claude.is_claude(api_key_target("anthropic", "claude-x", "anthropic"))
    assert claude.is_claude(aws_target(BEDROCK_MODEL))
    assert not claude.is_claude(aws_target("amazon.nova-micro-v1:0"))
    assert not claude.is_claude(api_key_target("openai", "gpt-5-mini", "openai"))
