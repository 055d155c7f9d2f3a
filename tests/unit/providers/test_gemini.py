"""Gemini generateContent on Google AI Studio and Vertex AI."""

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

API_KEY = "AIzaSyD-secret-studio-key-000000"
STUDIO = api_key_target("google-ai-studio", "gemini-3-flash-preview", "gemini", key=API_KEY)
JPEG = "/9j/4AAQSkZJRg=="

RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "thinking...", "thought": True},
                    {"text": "Calling."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 31,
        "candidatesTokenCount": 12,
        "thoughtsTokenCount": 40,
        "totalTokenCount": 83,
    },
    "modelVersion": "gemini-3-flash-preview",
    "responseId": "abc",
}

STREAM = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},"modelVersion": "gemini-2.5-flash"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": "lo \xe2\x9c\x93"}],"role": "model"},"index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5}}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "lookup","args": {"q": "x"}}}],'
    b'"role": "model"},"finishReason": "STOP","index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 7,"totalTokenCount": 12}}\r\n\r\n'
)


def test_studio_request_uses_header_key_never_query() -> None:
    request = chat(
        messages=[
            {"role": "system", "content": "Be kind."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is it?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"}},
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "look", "arguments": '{"deep":true}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": "a dog"},
        ],
        tools=[
            {
                "type": "function",
                "function": {"name": "look", "parameters": {"type": "object", "additionalProperties": False}},
            }
        ],
        tool_choice={"type": "function", "function": {"name": "look"}},
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        stop=["END"],
        seed=42,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
    )
    upstream = adapter_for(STUDIO).build_request(request, STUDIO, stream=False, timeout=5)
    assert upstream.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash-preview:generateContent"
    )
    assert API_KEY not in upstream.url and "key=" not in upstream.url
    assert upstream.headers["x-goog-api-key"] == API_KEY
    assert "authorization" not in upstream.headers
    assert body_of(upstream) == {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "What is it?"}, {"inlineData": {"mimeType": "image/jpeg", "data": JPEG}}],
            },
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "look", "args": {"deep": True}},
                        "thoughtSignature": "skip_thought_signature_validator",
                    }
                ],
            },
            {"role": "user", "parts": [{"functionResponse": {"name": "look", "response": {"content": "a dog"}}}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be kind."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 42,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "maxOutputTokens": 100,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
        },
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "look", "parametersJsonSchema": {"type": "object", "additionalProperties": False}}
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["look"]}},
    }


def test_stream_url_uses_alt_sse(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "UPSTREAM_GOOGLE_AI_STUDIO_URL", "http://127.0.0.1:8181/v1beta")
    upstream = adapter_for(STUDIO).build_request(chat(), STUDIO, stream=True, timeout=5)
    assert upstream.url == "http://127.0.0.1:8181/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
    assert API_KEY not in upstream.url


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
def test_tool_choice_modes(choice: str, mode: str) -> None:
    request = chat(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice=choice)
    body = body_of(adapter_for(STUDIO).build_request(request, STUDIO, stream=False, timeout=5))
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": mode}}
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}]


def test_json_object_sets_mime_type_only() -> None:
    body = body_of(
        adapter_for(STUDIO).build_request(
            chat(response_format={"type": "json_object"}), STUDIO, stream=False, timeout=5
        )
    )
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_tool_result_without_matching_call_is_400() -> None:
    request = chat(messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}])
    with pytest.raises(BadRequest) as exc:
        adapter_for(STUDIO).build_request(request, STUDIO, stream=False, timeout=5)
    assert exc.value.param == "messages[0].tool_call_id"


def test_remote_image_is_400() -> None:
    request = chat(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://a/b.png"}}]}]
    )
    with pytest.raises(BadRequest) as exc:
        adapter_for(STUDIO).build_request(request, STUDIO, stream=False, timeout=5)
    assert exc.value.param == "messages[0].content[0].image_url.url"


@pytest.mark.parametrize("model_id", ["a/b", "../x", "http://x", "gemini?key=1", "x" * 129])
def test_hostile_model_ids_never_become_urls(model_id: str) -> None:
    target = api_key_target("google-ai-studio", model_id, "gemini")
    with pytest.raises(AttemptFailed) as exc:
        adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    assert exc.value.status_code is None


def test_response_maps_text_function_calls_and_usage() -> None:
    result = adapter_for(STUDIO).parse_response(
        chat(model="google/gemini-3-flash"), STUDIO, json.dumps(RESPONSE).encode()
    )
    choice = result["choices"][0]
    assert choice["message"]["content"] == "Calling."
    call = choice["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert call["id"].startswith("call_")
    assert choice["finish_reason"] == "tool_calls"
    assert result["model"] == "google/gemini-3-flash"
    assert result["usage"] == {"prompt_tokens": 31, "completion_tokens": 52, "total_tokens": 83, "reasoning_tokens": 40}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": reason}]}
    result = adapter_for(STUDIO).parse_response(chat(), STUDIO, json.dumps(body).encode())
    assert result["choices"][0]["finish_reason"] == finish


def test_blocked_prompt_is_content_filter() -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    result = adapter_for(STUDIO).parse_response(chat(), STUDIO, json.dumps(body).encode())
    assert result["choices"][0]["finish_reason"] == "content_filter"
    assert result["choices"][0]["message"]["content"] is None


def test_unexpected_body_is_unreadable() -> None:
    with pytest.raises(UnreadableResponse):
        adapter_for(STUDIO).parse_response(chat(), STUDIO, b'{"candidates": "no"}')


@pytest.mark.parametrize("size", [1, 4, 33, 100000])
def test_stream_decodes_across_splits(size: int) -> None:
    decoder = adapter_for(STUDIO).stream_decoder(chat(), STUDIO)
    chunks = feed_in_pieces(decoder, STREAM, size)
    folded = assemble(chunks)
    assert folded["text"] == "Hello ✓"
    assert [c["name"] for c in folded["tool_calls"]] == ["lookup"]
    assert folded["tool_calls"][0]["arguments"] == '{"q":"x"}'
    assert folded["finish_reason"] == "tool_calls"
    assert decoder.usage == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def test_stream_without_finish_reason_is_unreadable() -> None:
    decoder = adapter_for(STUDIO).stream_decoder(chat(), STUDIO)
    decoder.feed(STREAM.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    with pytest.raises(UnreadableResponse):
        decoder.close()


def test_error_message_from_google_shape() -> None:
    body = json.dumps(
        [{"error": {"code": 400, "message": f"API key not valid: {API_KEY}", "status": "INVALID_ARGUMENT"}}]
    ).encode()
    message = redact(adapter_for(STUDIO).error_message(400, body))
    assert message == "API key not valid: [redacted]"


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("global", "https://aiplatform.googleapis.com/v1"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/v1"),
    ],
)
def test_vertex_gemini_url_and_auth(rsa_pem: str, fake_token: list[float], region: str, host: str) -> None:
    target = vertex_target(rsa_pem, "gemini-2.5-flash", "gemini", region=region)
    upstream = adapter_for(target).build_request(chat(), target, stream=True, timeout=5)
    assert upstream.url == (
        f"{host}/projects/my-project-123/locations/{region}"
        "/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert upstream.headers["authorization"] == "Bearer ya29.fake-token"
    assert "x-vertex-ai-llm-request-type" not in upstream.headers
    assert "thoughtSignature" not in upstream.content.decode()


def test_vertex_provisioned_throughput_sends_dedicated(rsa_pem: str, fake_token: list[float]) -> None:
    target = vertex_target(rsa_pem, "gemini-2.5-flash", "gemini", region="us-central1", provisioned=True)
    upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
    assert upstream.headers["x-vertex-ai-llm-request-type"] == "dedicated"


def test_vertex_override_is_used_for_every_region(
    rsa_pem: str, fake_token: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(monkeypatch, "UPSTREAM_GOOGLE_VERTEX_URL", "http://127.0.0.1:7000/v1")
    for region in ("global", "asia-northeast1"):
        target = vertex_target(rsa_pem, "gemini-2.5-flash", "gemini", region=region)
        upstream = adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
        assert upstream.url.startswith(f"http://127.0.0.1:7000/v1/projects/my-project-123/locations/{region}/")


@pytest.mark.parametrize("region", ["us-east-1.evil.com", "us-central1/../x", "http://x", "US-CENTRAL1"])
def test_vertex_gemini_rejects_hostile_regions(rsa_pem: str, fake_token: list[float], region: str) -> None:
    target = vertex_target(rsa_pem, "gemini-2.5-flash", "gemini", region=region)
    with pytest.raises(AttemptFailed):
        adapter_for(target).build_request(chat(), target, stream=False, timeout=5)
