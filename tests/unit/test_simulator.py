"""The provider simulator speaks each provider's wire format, authenticates like it and fails on demand."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials
from botocore.eventstream import EventStreamBuffer
from google.auth import transport
from google.oauth2 import service_account

from local.simulator import ProviderSimulator, make_service_account
from local.simulator.eventstream import encode_event

OPENAI_KEY = "sk-test-openai-0001"
DEEPSEEK_KEY = "sk-test-deepseek-0001"
ANTHROPIC_KEY = "sk-ant-test-0001"
AI_STUDIO_KEY = "AIza-test-0001"
BEDROCK_KEY = "ABSK-test-bedrock-0001"
AWS_KEY_ID = "AKIASIMULATOR0001"
AWS_SECRET = "secret/simulator/0001"
CLAUDE_ON_BEDROCK = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
VERTEX = "/vertex/v1/projects/proj-1/locations/global"
HELLO = [{"role": "user", "content": "hi there friend"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture(scope="module")
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(strict=True).start() as simulator:
        for provider, key in [
            ("openai", OPENAI_KEY),
            ("deepseek", DEEPSEEK_KEY),
            ("anthropic", ANTHROPIC_KEY),
            ("google-ai-studio", AI_STUDIO_KEY),
            ("amazon-bedrock", BEDROCK_KEY),
        ]:
            simulator.accept_api_key(provider, key)
        simulator.accept_aws(AWS_KEY_ID, AWS_SECRET)
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(sim: ProviderSimulator) -> None:
    sim.clear_faults()
    sim.clear_pacing()
    sim.clear_requests()


@pytest.fixture(scope="module")
def lenient() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(strict=False).start() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def service_account_info(sim: ProviderSimulator) -> dict[str, Any]:
    info = make_service_account("proj-1", sim.token_uri)
    sim.accept_service_account(info)
    return info


@pytest.fixture(scope="module")
def vertex_token(service_account_info: dict[str, Any]) -> str:
    credentials = service_account.Credentials.from_service_account_info(service_account_info, scopes=[CLOUD_PLATFORM])
    credentials.refresh(_HttpxAuthRequest())
    assert credentials.token
    return str(credentials.token)


class _HttpxAuthResponse(transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class _HttpxAuthRequest(transport.Request):
    """The smallest google-auth transport: what the gateway does when it refreshes a service account."""

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        response = httpx.request(method, url, content=body, headers=headers, timeout=timeout or 10)
        return _HttpxAuthResponse(response)


def _post(url: str, body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, json=body, headers=headers or {}, timeout=5, **kwargs)


def _sse_data(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]


def _openai(sim: ProviderSimulator, body: dict[str, Any], key: str = OPENAI_KEY) -> httpx.Response:
    return _post(f"{sim.url}/openai/v1/chat/completions", body, {"Authorization": f"Bearer {key}"})


def _anthropic_headers(key: str = ANTHROPIC_KEY) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


def _bedrock_url(sim: ProviderSimulator, operation: str = "converse") -> str:
    return f"{sim.url}/bedrock/model/{CLAUDE_ON_BEDROCK.replace(':', '%3A')}/{operation}"


def _sigv4_headers(url: str, body: bytes, key_id: str, secret: str, service: str = "bedrock") -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(AwsCredentials(key_id, secret), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _converse_body(text: str = "hi there friend", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(str(message.headers[":event-type"]), json.loads(message.payload)) for message in buffer]


# --- OpenAI-compatible ---------------------------------------------------------------------------------


def test_openai_answers_a_chat_completion_with_usage_and_request_id(sim: ProviderSimulator) -> None:
    response = _openai(sim, {"model": "gpt-5-mini", "messages": HELLO})

    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "Hello from openai (gpt-5-mini): hi there friend"
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 7,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    [recorded] = sim.requests
    assert (recorded.provider, recorded.credential, recorded.status) == ("openai", OPENAI_KEY, 200)
    assert recorded.json["model"] == "gpt-5-mini"


def test_openai_stream_sends_word_chunks_then_usage_then_done(sim: ProviderSimulator) -> None:
    body = {
        "model": "gpt-5-mini",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    response = _openai(sim, body)

    assert response.headers["content-type"].startswith("text/event-stream")
    data = _sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from openai (gpt-5-mini): hi there friend"
    assert len(chunks) > 5
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 7


def test_openai_calls_the_first_tool_when_asked_about_weather(sim: ProviderSimulator) -> None:
    body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "weather in Paris?"}]}

    response = _openai(sim, body | {"tools": [WEATHER_TOOL]})

    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Paris"}


def test_openai_truncates_to_max_tokens(sim: ProviderSimulator) -> None:
    response = _openai(sim, {"model": "gpt-5-mini", "messages": HELLO, "max_tokens": 3})

    choice = response.json()["choices"][0]
    assert choice["message"]["content"] == "Hello from openai"
    assert choice["finish_reason"] == "length"


def test_deepseek_and_vertex_partner_models_speak_chat_completions(
    sim: ProviderSimulator, vertex_token: str, service_account_info: dict[str, Any]
) -> None:
    deepseek = _post(
        f"{sim.url}/deepseek/chat/completions",
        {"model": "deepseek-chat", "messages": HELLO},
        {"Authorization": f"Bearer {DEEPSEEK_KEY}"},
    )
    vertex = _post(
        f"{sim.url}{VERTEX}/endpoints/openapi/chat/completions",
        {"model": "deepseek-ai/deepseek-v3.2-maas", "messages": HELLO},
        {"Authorization": f"Bearer {vertex_token}"},
    )

    assert deepseek.json()["choices"][0]["message"]["content"].startswith("Hello from deepseek (deepseek-chat)")
    assert vertex.json()["choices"][0]["message"]["content"].startswith("Hello from google-vertex")
    assert sim.requests[-1].credential == service_account_info["client_email"]


def test_openai_rejects_an_unknown_key_in_strict_mode(sim: ProviderSimulator) -> None:
    response = _openai(sim, {"model": "gpt-5-mini", "messages": HELLO}, key="sk-not-registered-123")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert "sk-not-registered-123" not in response.text


# --- Anthropic ----------------------------------------------------------------------------------------------


def test_anthropic_answers_a_message(sim: ProviderSimulator) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "be brief", "messages": HELLO}

    response = _post(f"{sim.url}/anthropic/v1/messages", body, _anthropic_headers())

    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    message = response.json()
    assert message["type"] == "message"
    assert message["content"] == [{"type": "text", "text": "Hello from anthropic (claude-sonnet-4-5): hi there friend"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == 5


def test_anthropic_requires_the_version_header_and_max_tokens(sim: ProviderSimulator) -> None:
    url = f"{sim.url}/anthropic/v1/messages"
    no_version = _post(url, {"model": "m", "max_tokens": 10, "messages": HELLO}, {"x-api-key": ANTHROPIC_KEY})
    no_max_tokens = _post(url, {"model": "m", "messages": HELLO}, _anthropic_headers())

    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    assert no_max_tokens.status_code == 400


def test_anthropic_stream_has_the_documented_event_sequence(sim: ProviderSimulator) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": HELLO, "stream": True}

    response = _post(f"{sim.url}/anthropic/v1/messages", body, _anthropic_headers())

    events = [line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [json.loads(d) for d in _sse_data(response) if '"content_block_delta"' in d]
    assert len(deltas) > 3
    assert "".join(d["delta"]["text"] for d in deltas).endswith("hi there friend")


def test_anthropic_streams_a_forced_tool_call_as_input_json_deltas(sim: ProviderSimulator) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": HELLO,
        "stream": True,
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"},
    }

    response = _post(f"{sim.url}/anthropic/v1/messages", body, _anthropic_headers())

    payloads = [json.loads(d) for d in _sse_data(response)]
    start = next(p for p in payloads if p["type"] == "content_block_start")
    assert start["content_block"]["name"] == "lookup"
    partial = "".join(p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta")
    assert json.loads(partial) == {"location": "Paris"}
    assert next(p for p in payloads if p["type"] == "message_delta")["delta"]["stop_reason"] == "tool_use"


# --- Gemini (Google AI Studio and Vertex) -------------------------------------------------------------------


def _gemini_body(text: str = "hi there friend") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": {"temperature": 0}}


def test_ai_studio_generates_content_with_usage_metadata(sim: ProviderSimulator) -> None:
    url = f"{sim.url}/google-ai-studio/v1beta/models/gemini-3-flash:generateContent"

    response = _post(url, _gemini_body(), {"x-goog-api-key": AI_STUDIO_KEY})

    result = response.json()
    candidate = result["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"][0]["text"].startswith("Hello from google-ai-studio (gemini-3-flash)")
    assert candidate["finishReason"] == "STOP"
    assert result["usageMetadata"]["promptTokenCount"] == 3
    assert result["modelVersion"] == "gemini-3-flash"


def test_ai_studio_streams_crlf_separated_sse(sim: ProviderSimulator) -> None:
    url = f"{sim.url}/google-ai-studio/v1beta/models/gemini-3-flash:streamGenerateContent?alt=sse"

    response = _post(url, _gemini_body(), {"x-goog-api-key": AI_STUDIO_KEY})

    assert "\r\n\r\n" in response.text
    chunks = [json.loads(d) for d in _sse_data(response)]
    assert len(chunks) > 3
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks).endswith("hi there friend")
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_ai_studio_refuses_an_api_key_in_the_query_string(sim: ProviderSimulator) -> None:
    url = f"{sim.url}/google-ai-studio/v1beta/models/gemini-3-flash:generateContent"

    response = _post(url, _gemini_body(), params={"key": AI_STUDIO_KEY})

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_ai_studio_rejects_an_unknown_key(sim: ProviderSimulator) -> None:
    url = f"{sim.url}/google-ai-studio/v1beta/models/gemini-3-flash:generateContent"

    response = _post(url, _gemini_body(), {"x-goog-api-key": "AIza-unknown"})

    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_vertex_gemini_accepts_a_token_from_a_service_account_jwt_grant(
    sim: ProviderSimulator, service_account_info: dict[str, Any]
) -> None:
    credentials = service_account.Credentials.from_service_account_info(service_account_info, scopes=[CLOUD_PLATFORM])
    credentials.refresh(_HttpxAuthRequest())
    vertex_token = str(credentials.token)
    url = f"{sim.url}{VERTEX}/publishers/google/models/gemini-3-flash:generateContent"
    body = _gemini_body("what is the weather") | {
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]
    }

    response = _post(url, body, {"Authorization": f"Bearer {vertex_token}"})

    assert response.status_code == 200
    part = response.json()["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"] == {"name": "get_weather", "args": {"location": "Paris"}}
    token_call = next(r for r in sim.requests if r.provider == "google-oauth")
    assert token_call.credential == service_account_info["client_email"]
    assert sim.requests[-1].credential == service_account_info["client_email"]


def test_vertex_rejects_a_token_it_did_not_issue(sim: ProviderSimulator) -> None:
    url = f"{sim.url}{VERTEX}/publishers/google/models/gemini-3-flash:generateContent"

    response = _post(url, _gemini_body(), {"Authorization": "Bearer ya29.made-up"})

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_token_endpoint_rejects_a_jwt_signed_by_an_unregistered_key(sim: ProviderSimulator) -> None:
    stranger = make_service_account("proj-1", sim.token_uri)
    credentials = service_account.Credentials.from_service_account_info(stranger, scopes=[CLOUD_PLATFORM])

    with pytest.raises(Exception, match="invalid_grant"):
        credentials.refresh(_HttpxAuthRequest())


def test_vertex_claude_raw_predict_and_stream(sim: ProviderSimulator, vertex_token: str) -> None:
    base = f"{sim.url}{VERTEX}/publishers/anthropic/models/claude-sonnet-4-5@20250929"
    auth = {"Authorization": f"Bearer {vertex_token}"}
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 50, "messages": HELLO}

    plain = _post(f"{base}:rawPredict", body, auth)
    streamed = _post(f"{base}:streamRawPredict", body, auth)
    unversioned = _post(f"{base}:rawPredict", {"max_tokens": 50, "messages": HELLO}, auth)

    assert plain.json()["model"] == "claude-sonnet-4-5@20250929"
    assert plain.json()["content"][0]["text"].startswith("Hello from google-vertex")
    assert "event: message_stop" in streamed.text
    assert unversioned.status_code == 400


# --- Bedrock ------------------------------------------------------------------------------------------------


def test_bedrock_converse_with_an_api_key(sim: ProviderSimulator) -> None:
    body = _converse_body(system=[{"text": "be brief"}], inferenceConfig={"maxTokens": 4})

    response = _post(_bedrock_url(sim), body, {"Authorization": f"Bearer {BEDROCK_KEY}"})

    assert response.status_code == 200
    assert response.headers["x-amzn-requestid"]
    result = response.json()
    assert result["output"]["message"]["content"] == [
        {"text": "Hello from amazon-bedrock (global.anthropic.claude-sonnet-4-5-20250929-v1:0):"}
    ]
    assert result["stopReason"] == "max_tokens"
    assert result["usage"] == {"inputTokens": 5, "outputTokens": 4, "totalTokens": 9}


def test_bedrock_converse_stream_decodes_with_botocore(sim: ProviderSimulator) -> None:
    response = _post(_bedrock_url(sim, "converse-stream"), _converse_body(), {"Authorization": f"Bearer {BEDROCK_KEY}"})

    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    events = _events(response.content)
    names = [name for name, _ in events]
    assert names[0] == "messageStart"
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(payload["delta"]["text"] for name, payload in events if name == "contentBlockDelta")
    assert text.endswith("hi there friend")
    assert events[-1][1]["usage"]["outputTokens"] == len(text.split())


def test_bedrock_streams_a_tool_use(sim: ProviderSimulator) -> None:
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    body = _converse_body("weather please", toolConfig=tools)

    response = _post(_bedrock_url(sim, "converse-stream"), body, {"Authorization": f"Bearer {BEDROCK_KEY}"})

    events = _events(response.content)
    start = next(payload for name, payload in events if name == "contentBlockStart")
    assert start["start"]["toolUse"]["name"] == "get_weather"
    arguments = "".join(p["delta"]["toolUse"]["input"] for name, p in events if name == "contentBlockDelta")
    assert json.loads(arguments) == {"location": "Paris"}
    assert ("messageStop", {"stopReason": "tool_use"}) in events


def test_bedrock_accepts_a_correct_sigv4_signature(sim: ProviderSimulator) -> None:
    url, body = _bedrock_url(sim), json.dumps(_converse_body()).encode()

    response = httpx.post(url, content=body, headers=_sigv4_headers(url, body, AWS_KEY_ID, AWS_SECRET))

    assert response.status_code == 200
    assert sim.requests[-1].credential == AWS_KEY_ID


@pytest.mark.parametrize(
    ("key_id", "secret", "service", "error_type"),
    [
        (AWS_KEY_ID, "wrong-secret", "bedrock", "InvalidSignatureException"),
        ("AKIAUNKNOWN", AWS_SECRET, "bedrock", "UnrecognizedClientException"),
        (AWS_KEY_ID, AWS_SECRET, "s3", "InvalidSignatureException"),
    ],
)
def test_bedrock_rejects_a_bad_sigv4_signature(
    sim: ProviderSimulator, key_id: str, secret: str, service: str, error_type: str
) -> None:
    url, body = _bedrock_url(sim), json.dumps(_converse_body()).encode()

    response = httpx.post(url, content=body, headers=_sigv4_headers(url, body, key_id, secret, service))

    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == error_type
    assert "message" in response.json()


def test_bedrock_rejects_a_body_altered_after_signing(sim: ProviderSimulator) -> None:
    url, body = _bedrock_url(sim), json.dumps(_converse_body()).encode()
    headers = _sigv4_headers(url, body, AWS_KEY_ID, AWS_SECRET)

    response = httpx.post(url, content=body.replace(b"friend", b"foe!!!"), headers=headers)

    assert response.status_code == 403


def test_eventstream_encoder_round_trips_through_botocore() -> None:
    frames = encode_event("contentBlockDelta", {"delta": {"text": "héllo"}}) + encode_event("messageStop", {})

    assert _events(frames) == [("contentBlockDelta", {"delta": {"text": "héllo"}}), ("messageStop", {})]


# --- Lenient mode -------------------------------------------------------------------------------------------


def test_lenient_mode_accepts_any_key_but_one_marked_invalid(lenient: ProviderSimulator) -> None:
    url = f"{lenient.url}/anthropic/v1/messages"
    body = {"model": "m", "max_tokens": 10, "messages": HELLO}

    accepted = _post(url, body, _anthropic_headers("sk-ant-anything"))
    rejected = _post(url, body, _anthropic_headers("sk-ant-invalid-key"))

    assert accepted.status_code == 200
    assert rejected.status_code == 401
    assert rejected.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }


def test_lenient_mode_checks_sigv4_structure_only(lenient: ProviderSimulator) -> None:
    url, body = _bedrock_url(lenient), json.dumps(_converse_body()).encode()

    signed = httpx.post(url, content=body, headers=_sigv4_headers(url, body, "AKIAANY", "any-secret"))
    marked = httpx.post(url, content=body, headers=_sigv4_headers(url, body, "AKIAinvalid", "any-secret"))
    garbled = httpx.post(url, content=body, headers={"Authorization": "AWS4-HMAC-SHA256 nonsense"})

    assert signed.status_code == 200
    assert marked.status_code == 403
    assert garbled.headers["x-amzn-errortype"] == "IncompleteSignatureException"


def test_lenient_token_endpoint_still_needs_a_well_formed_jwt(lenient: ProviderSimulator) -> None:
    info = make_service_account("proj-2", lenient.token_uri)
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])
    credentials.refresh(_HttpxAuthRequest())

    garbage = httpx.post(
        lenient.token_uri,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "not-a-jwt"},
    )

    assert credentials.token
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "invalid_grant"


# --- Faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "status", "shape_check"),
    [
        ("openai", 429, lambda r: r.json()["error"]["code"] == "rate_limit_exceeded"),
        ("anthropic", 529, lambda r: r.json()["error"]["type"] == "overloaded_error"),
        ("google-ai-studio", 429, lambda r: r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"),
        ("amazon-bedrock", 429, lambda r: r.headers["x-amzn-errortype"] == "ThrottlingException"),
    ],
)
def test_status_fault_answers_in_the_provider_error_shape(
    sim: ProviderSimulator, provider: str, status: int, shape_check: Any
) -> None:
    sim.fail(provider, status=status, times=1)
    requests = {
        "openai": lambda: _openai(sim, {"model": "gpt-5-mini", "messages": HELLO}),
        "anthropic": lambda: _post(
            f"{sim.url}/anthropic/v1/messages",
            {"model": "m", "max_tokens": 5, "messages": HELLO},
            _anthropic_headers(),
        ),
        "google-ai-studio": lambda: _post(
            f"{sim.url}/google-ai-studio/v1beta/models/g:generateContent",
            _gemini_body(),
            {"x-goog-api-key": AI_STUDIO_KEY},
        ),
        "amazon-bedrock": lambda: _post(
            _bedrock_url(sim), _converse_body(), {"Authorization": f"Bearer {BEDROCK_KEY}"}
        ),
    }

    failed, recovered = requests[provider](), requests[provider]()

    assert failed.status_code == status
    assert shape_check(failed)
    assert recovered.status_code == 200
    assert [r.status for r in sim.requests] == [status, 200]


def test_fault_matches_only_the_named_credential(sim: ProviderSimulator) -> None:
    sim.accept_api_key("openai", "sk-test-other-0002")
    sim.fail("openai", status=503, credential="sk-test-other-0002")

    other = _openai(sim, {"model": "m", "messages": HELLO}, key="sk-test-other-0002")
    mine = _openai(sim, {"model": "m", "messages": HELLO})

    assert (other.status_code, mine.status_code) == (503, 200)


def test_custom_fault_body_is_sent_verbatim(sim: ProviderSimulator) -> None:
    sim.fail("openai", status=500, body='{"error": {"message": "boom"}}')

    response = _openai(sim, {"model": "m", "messages": HELLO})

    assert response.json() == {"error": {"message": "boom"}}


def test_timeout_fault_delays_the_answer_past_a_client_timeout(sim: ProviderSimulator) -> None:
    sim.fail("openai", mode="timeout", delay=0.6, times=1)

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{sim.url}/openai/v1/chat/completions",
            json={"model": "m", "messages": HELLO},
            headers={"Authorization": f"Bearer {OPENAI_KEY}"},
            timeout=0.2,
        )


def test_timeout_fault_then_answers_normally(sim: ProviderSimulator) -> None:
    sim.fail("openai", mode="timeout", delay=0.2)

    started = time.monotonic()
    response = _openai(sim, {"model": "m", "messages": HELLO})

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("mode", ["refuse", "drop"])
def test_connection_faults_close_without_an_answer(sim: ProviderSimulator, mode: str) -> None:
    sim.fail("deepseek", mode=mode)

    with pytest.raises(httpx.TransportError):
        _post(f"{sim.url}/deepseek/chat/completions", {"model": "m", "messages": HELLO})

    assert sim.requests[-1].status is None


@pytest.mark.parametrize("stream", [False, True])
def test_drop_mid_body_sends_headers_then_hangs_up(sim: ProviderSimulator, stream: bool) -> None:
    sim.fail("openai", mode="drop_mid_body")

    with pytest.raises(httpx.RemoteProtocolError):
        _openai(sim, {"model": "m", "messages": HELLO, "stream": stream})


def test_garbage_and_wrong_content_type_faults(sim: ProviderSimulator) -> None:
    sim.fail("anthropic", mode="garbage", times=1)
    garbage = _post(f"{sim.url}/anthropic/v1/messages", {}, _anthropic_headers())
    sim.fail("anthropic", mode="wrong_content_type", times=1)
    html = _post(f"{sim.url}/anthropic/v1/messages", {}, _anthropic_headers())

    assert garbage.status_code == 200
    assert garbage.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        garbage.json()
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")


def test_dedicated_only_fault_exhausts_provisioned_throughput(sim: ProviderSimulator, vertex_token: str) -> None:
    sim.fail("google-vertex", dedicated_only=True)
    url = f"{sim.url}{VERTEX}/publishers/google/models/gemini-3-flash:generateContent"
    auth = {"Authorization": f"Bearer {vertex_token}"}

    dedicated = _post(url, _gemini_body(), auth | {"X-Vertex-AI-LLM-Request-Type": "dedicated"})
    shared = _post(url, _gemini_body(), auth)

    assert dedicated.status_code == 429
    assert dedicated.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert shared.status_code == 200


def test_google_oauth_fault_breaks_the_token_grant(
    sim: ProviderSimulator, service_account_info: dict[str, Any]
) -> None:
    sim.fail("google-oauth", status=400, body='{"error": "invalid_grant", "error_description": "disabled"}')
    credentials = service_account.Credentials.from_service_account_info(service_account_info, scopes=[CLOUD_PLATFORM])

    with pytest.raises(Exception, match="invalid_grant"):
        credentials.refresh(_HttpxAuthRequest())


# --- Control API --------------------------------------------------------------------------------------------


def test_control_api_arms_faults_accepts_keys_and_lists_requests(sim: ProviderSimulator) -> None:
    # (the session's simulator is shared: another test's request may land meanwhile, so this one keeps to its key)
    key = "sk-from-control-api"
    accepted = httpx.post(f"{sim.url}/_sim/accept", json={"provider": "openai", "api_key": key})
    fault = {"provider": "openai", "credential": key, "status": 502, "times": 1}
    armed = httpx.post(f"{sim.url}/_sim/faults", json=fault)
    rejected = httpx.post(f"{sim.url}/_sim/faults", json={"provider": "openai", "mode": "explode"})

    failed = _openai(sim, {"model": "m", "messages": HELLO}, key=key)
    served = _openai(sim, {"model": "m", "messages": HELLO}, key=key)
    listed = httpx.get(f"{sim.url}/_sim/requests").json()["data"]
    httpx.delete(f"{sim.url}/_sim/requests")

    assert (accepted.status_code, armed.status_code, rejected.status_code) == (200, 201, 400)
    assert (failed.status_code, served.status_code) == (502, 200)
    assert [(r["provider"], r["credential"], r["status"]) for r in listed if r["credential"] == key] == [
        ("openai", key, 502),
        ("openai", key, 200),
    ]
    assert [r for r in sim.requests if r.credential == key] == []


def test_upstream_env_points_every_provider_at_the_simulator(sim: ProviderSimulator) -> None:
    env = sim.upstream_env()

    assert env["UPSTREAM_OPENAI_URL"] == f"{sim.url}/openai/v1"
    assert env["UPSTREAM_AMAZON_BEDROCK_URL"] == f"{sim.url}/bedrock"
    assert env["GOOGLE_TOKEN_URI_ALLOWLIST"] == sim.token_uri == f"{sim.url}/google/token"
    assert len(env) == 7


# --- stream pacing ------------------------------------------------------------------------------------------


def _stream_lines(sim: ProviderSimulator) -> Any:
    body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    return httpx.stream(
        "POST",
        f"{sim.url}/openai/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
        timeout=5,
    )


def _content(line: str) -> str:
    if not line.startswith("data: {"):
        return ""
    choices = json.loads(line[6:])["choices"]
    return str(choices[0]["delta"].get("content") or "") if choices else ""


def test_pacing_sets_the_chunk_count_and_sync_holds_each_chunk_until_released(sim: ProviderSimulator) -> None:
    pacing = sim.pace("openai", credential=OPENAI_KEY, chunks=4, sync=True, hold_timeout=5)
    pieces = []
    with _stream_lines(sim) as response:
        for line in response.iter_lines():
            if _content(line):
                pieces.append(_content(line))
                assert pacing.snapshot()["sent"] == len(pieces)  # the next one is held until released
                pacing.release()
    assert len(pieces) == 4
    assert pacing.snapshot()["streams"] == 1


def test_pacing_drops_after_n_content_chunks_without_finishing_the_body(sim: ProviderSimulator) -> None:
    pacing = sim.pace("openai", credential=OPENAI_KEY, chunks=6, drop_after=2)
    pieces = []
    with pytest.raises(httpx.RemoteProtocolError), _stream_lines(sim) as response:
        pieces.extend(_content(line) for line in response.iter_lines() if _content(line))
    assert len(pieces) == 2
    assert (pacing.snapshot()["hung_up"], pacing.snapshot()["finished"]) == (1, 0)


def test_pacing_through_the_control_api_matches_only_its_credential(sim: ProviderSimulator) -> None:
    armed = httpx.post(
        f"{sim.url}/_sim/pacing", json={"provider": "openai", "credential": "sk-someone-else", "drop_after": 0}
    )
    assert armed.status_code == 201
    assert httpx.post(f"{sim.url}/_sim/pacing", json={"provider": "nope"}).status_code == 400
    with _stream_lines(sim) as response:
        assert any(_content(line) for line in response.iter_lines())  # another key: not paced
    [listed] = httpx.get(f"{sim.url}/_sim/pacing").json()["data"]
    assert (listed["credential"], listed["streams"]) == ("sk-someone-else", 0)
    assert httpx.post(f"{sim.url}/_sim/pacing/release", json={"count": 2}).status_code == 200
    assert httpx.delete(f"{sim.url}/_sim/pacing").status_code == 200
    assert httpx.get(f"{sim.url}/_sim/pacing").json()["data"] == []


def test_a_fault_can_quote_a_given_secret_and_the_credentials_received(sim: ProviderSimulator) -> None:
    sim.fail("openai", status=401, message="Incorrect API key provided: plainsecret.", echo_credentials=True)

    response = _openai(sim, {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]})

    assert response.status_code == 401
    message = response.json()["error"]["message"]  # in OpenAI's own error shape
    assert message.startswith("Incorrect API key provided: plainsecret.")
    assert f"authorization: Bearer {OPENAI_KEY}" in message
