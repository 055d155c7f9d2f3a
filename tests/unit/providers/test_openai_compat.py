"""OpenAI, DeepSeek and Vertex partner models over Chat Completions."""

from __future__ import annotations

import json

import pytest

from gateway.core.errors import BadRequest
from gateway.providers import AttemptFailed, UnreadableResponse, adapter_for
from gateway.security.redact import redact
from tests.unit.providers.helpers import (
    api_key_target,
    assemble,
    body_of,
    chat,
    feed_in_pieces,
    set_env,
    vertex_target,
)

OPENAI = api_key_target("openai", "gpt-5-mini", "openai", key="sk-proj-secretsecret1234")
DEEPSEEK = api_key_target("deepseek", "deepseek-chat", "openai")

RESPONSE = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-5-mini-2025-08-07",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    }
                ],
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
    "system_fingerprint": None,
}

STREAM = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}],'
    b'"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini",'
    b'"choices":[{"index":0,"delta":{"content":"Bonjour"},"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini",'
    b'"choices":[{"index":0,"delta":{"content":" \xc3\xa0 tous"},"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini",'
    b'"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}\n\n'
    b"data: [DONE]\n\n"
)


def test_openai_request_goes_to_chat_completions_with_bearer_key() -> None:
    request = chat(
        model="openai/gpt-5-mini",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            },
        ],
        max_tokens=64,
        temperature=1,
        user="u-1",
        provider={"order": ["openai"]},
    )
    upstream = adapter_for(OPENAI).build_request(request, OPENAI, stream=False, timeout=5)
    assert upstream.method == "POST"
    assert upstream.url == "https://api.openai.com/v1/chat/completions"
    assert upstream.headers["authorization"] == "Bearer sk-proj-secretsecret1234"
    body = body_of(upstream)
    assert body["model"] == "gpt-5-mini"
    assert body["max_completion_tokens"] == 64  # reasoning model: max_tokens renamed
    assert "max_tokens" not in body and "provider" not in body and "stream" not in body
    assert body["messages"][0] == {"role": "developer", "content": "Be brief."}
    assert body["messages"][1]["content"][1]["image_url"]["url"] == "https://example.com/cat.png"
    assert body["user"] == "u-1"


def test_streaming_always_asks_for_usage() -> None:
    upstream = adapter_for(OPENAI).build_request(chat(stream=True), OPENAI, stream=True, timeout=5)
    body = body_of(upstream)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert upstream.headers["accept"] == "text/event-stream"


def test_operator_override_replaces_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "UPSTREAM_DEEPSEEK_URL", "http://127.0.0.1:9999/deepseek/")
    upstream = adapter_for(DEEPSEEK).build_request(chat(), DEEPSEEK, stream=False, timeout=5)
    assert upstream.url == "http://127.0.0.1:9999/deepseek/chat/completions"


def test_deepseek_gets_system_role_and_max_tokens() -> None:
    request = chat(
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Rules"}]},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ],
        max_completion_tokens=10,
        response_format={"type": "json_object"},
    )
    body = body_of(adapter_for(DEEPSEEK).build_request(request, DEEPSEEK, stream=False, timeout=5))
    assert body["messages"] == [{"role": "system", "content": "Rules"}, {"role": "user", "content": "ab"}]
    assert body["max_tokens"] == 10
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"seed": 7}, "seed"),
    ],
)
def test_deepseek_rejects_what_it_cannot_honour(fields: dict[str, object], param: str) -> None:
    with pytest.raises(BadRequest) as exc:
        adapter_for(DEEPSEEK).build_request(chat(**fields), DEEPSEEK, stream=False, timeout=5)
    assert exc.value.status == 400
    assert exc.value.param == param
    assert param in exc.value.message


def test_response_maps_tool_calls_and_usage() -> None:
    request = chat(model="openai/gpt-5-mini")
    result = adapter_for(OPENAI).parse_response(request, OPENAI, json.dumps(RESPONSE).encode())
    assert result["object"] == "chat.completion"
    assert result["model"] == "openai/gpt-5-mini"
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"location":"Paris"}',
    }
    assert result["usage"] == {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[]", b'{"choices": []}', b'{"choices": [{"x": 1}]}'])
def test_wrong_shape_is_unreadable(body: bytes) -> None:
    with pytest.raises(UnreadableResponse):
        adapter_for(OPENAI).parse_response(chat(), OPENAI, body)


@pytest.mark.parametrize("size", [1, 5, 17, 4096])
def test_stream_decodes_across_awkward_splits(size: int) -> None:
    decoder = adapter_for(OPENAI).stream_decoder(chat(), OPENAI)
    chunks = feed_in_pieces(decoder, STREAM, size)
    folded = assemble(chunks)
    assert folded["text"] == "Bonjour à tous"
    assert folded["finish_reason"] == "stop"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert decoder.usage == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def test_stream_cut_short_is_unreadable() -> None:
    decoder = adapter_for(OPENAI).stream_decoder(chat(), OPENAI)
    decoder.feed(STREAM[:300])
    with pytest.raises(UnreadableResponse):
        decoder.close()


def test_error_message_is_short_and_redacted() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "Incorrect API key provided: sk-proj-abcdefghijklmnop1234. You can find your API key at "
                "https://platform.openai.com/account/api-keys." + " padding" * 50,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    ).encode()
    message = redact(adapter_for(OPENAI).error_message(401, body))
    assert message.startswith("Incorrect API key provided: [redacted]")
    assert "abcdefghijklmnop" not in message
    assert len(message) <= 200
    assert adapter_for(OPENAI).error_message(502, b"<html>bad gateway</html>") == "upstream returned HTTP 502"


def test_vertex_partner_model_uses_openapi_endpoint(rsa_pem: str, fake_token: list[float]) -> None:
    target = vertex_target(rsa_pem, "deepseek-ai/deepseek-v3.2-maas", "openai", region="us-central1")
    upstream = adapter_for(target).build_request(chat(max_tokens=5), target, stream=False, timeout=4.5)
    assert upstream.url == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project-123/locations/us-central1"
        "/endpoints/openapi/chat/completions"
    )
    assert upstream.headers["authorization"] == "Bearer ya29.fake-token"
    assert fake_token == [4.5]
    assert body_of(upstream)["model"] == "deepseek-ai/deepseek-v3.2-maas"


@pytest.mark.parametrize("region", ["us-east-1.evil.com", "evil.com/x", "http://x", "../x"])
def test_vertex_partner_rejects_hostile_region(rsa_pem: str, fake_token: list[float], region: str) -> None:
    target = vertex_target(rsa_pem, "deepseek-ai/deepseek-v3.2-maas", "openai", region=region)
    with pytest.raises(AttemptFailed) as exc:
        adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    assert exc.value.status_code is None and exc.value.outcome == "error"
