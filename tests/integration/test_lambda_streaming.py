"""The real chat handler behind the streaming runtime loop, as the deployed chat function runs it.

Events from events/ (API Gateway REST proxy events) go through the fake Lambda Runtime API into
gateway.http.lambda_runtime, which calls the chat function's handler against moto and the provider simulator; what
reaches the Runtime API is read the way API Gateway's streaming integration reads it (prelude, 8 NULs, body).
For every provider, the simulator releases content chunk N+1 only once chunk N has reached the fake Runtime API,
so a loop or pipeline that buffers fails by a bounded read timeout, never by a race.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.http import lambda_runtime, runtime_api, streaming
from local.handlers import LambdaContext, load_handler
from tests.conftest import Gateway
from tests.fake_runtime_api import DELIMITER, FakeRuntimeApi, Invocation
from tests.integration.helpers import ROUTES
from tests.integration.test_events import load_event, with_authorization


@pytest.fixture
def chat_function(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRuntimeApi]:
    """The chat function's handler served by the runtime loop, as AWS_LAMBDA_EXEC_WRAPPER starts it."""
    monkeypatch.delenv(lambda_runtime.TRACE_ENV, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "byok-gateway-chat")
    handler = load_handler("functions/chat")
    api = FakeRuntimeApi(function_arn="arn:aws:lambda:us-east-1:123456789012:function:byok-gateway-chat").start()

    def run() -> None:
        with contextlib.suppress(runtime_api.RuntimeApiError):
            lambda_runtime.serve(runtime_api.RuntimeApiClient(api.address), handler)

    threading.Thread(target=run, name="chat-runtime-loop", daemon=True).start()
    yield api
    api.stop()


def invoke(api: FakeRuntimeApi, event_name: str, api_key: str, **body: Any) -> Invocation:
    event = with_authorization(load_event(event_name), f"Bearer {api_key}")
    if body:
        event["body"] = json.dumps({**json.loads(event["body"]), **body})
    return api.invoke(event, timeout_s=60).wait(timeout=30)


def headers_of(prelude: dict[str, Any]) -> dict[str, str]:
    merged = {k.lower(): v for k, v in prelude.get("headers", {}).items()}
    merged.update({k.lower(): values[-1] for k, values in prelude.get("multiValueHeaders", {}).items()})
    return merged


def sse_data(body: bytes) -> list[str]:
    return [line[len("data: ") :] for line in body.decode("utf-8").splitlines() if line.startswith("data: ")]


def test_a_streamed_chat_answer_goes_out_as_an_integration_response(
    chat_function: FakeRuntimeApi, gateway: Gateway
) -> None:
    # When the stream event reaches the chat function through the runtime loop
    invocation = invoke(chat_function, "chat_completions_stream", gateway.api_key)

    # Then API Gateway gets a 200 event stream with the gateway's headers, chunks, and [DONE]
    assert invocation.mode == "streaming"
    assert invocation.trailers == {}
    prelude, body = invocation.integration_response()
    headers = headers_of(prelude)
    assert prelude["statusCode"] == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-request-id"]
    data = sse_data(body)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert chunks
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_a_non_streamed_chat_answer_goes_through_the_streaming_integration_whole(
    chat_function: FakeRuntimeApi, gateway: Gateway
) -> None:
    invocation = invoke(chat_function, "chat_completions", gateway.api_key)

    assert invocation.mode == "streaming"
    prelude, body = invocation.integration_response()
    assert prelude["statusCode"] == 200
    assert headers_of(prelude)["content-type"].startswith("application/json")
    completion = json.loads(body)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"]


def test_a_chat_error_keeps_its_status_and_openai_shape_through_the_loop(
    chat_function: FakeRuntimeApi, gateway: Gateway
) -> None:
    invocation = invoke(chat_function, "chat_completions", "gwk_0000000000000000_wrong")

    prelude, body = invocation.integration_response()
    assert prelude["statusCode"] == 401
    assert headers_of(prelude)["x-request-id"]
    assert set(json.loads(body)["error"]) == {"message", "type", "code", "param"}


def test_python_s_managed_runtime_gets_the_whole_stream_as_one_proxy_result(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the chat handler called by Python's managed runtime (a Lambda environment, no streaming loop)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    monkeypatch.setattr(streaming, "_runtime_streams", False)
    event = with_authorization(load_event("chat_completions_stream"), f"Bearer {gateway.api_key}")

    # When it handles the stream event
    result = load_handler("functions/chat")(event, LambdaContext(function_name="ChatFunction", timeout_s=30))

    # Then it answers a proxy dict the classic runtime can marshal, with every chunk and [DONE]
    assert isinstance(result, dict)
    assert result["statusCode"] == 200
    assert result["headers"]["x-request-id"]
    assert result["headers"]["content-type"].startswith("text/event-stream")
    assert result["isBase64Encoded"] is False
    assert sse_data(result["body"].encode())[-1] == "[DONE]"
    json.dumps(result)


HOLD_S = 10.0  # the simulator holds a chunk this long at most; a buffering loop fails by next_chunk's 5 s first


def content_deltas(chunk: bytes) -> list[str]:
    pieces = []
    for item in sse_data(chunk):
        if item.startswith("{"):
            choices = json.loads(item).get("choices") or [{}]
            text = (choices[0].get("delta") or {}).get("content")
            if text:
                pieces.append(text)
    return pieces


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_each_delta_reaches_the_runtime_api_while_the_upstream_still_produces_the_next(
    chat_function: FakeRuntimeApi, gateway: Gateway, model: str, provider: str
) -> None:
    # Given an upstream that sends content chunk N+1 only once chunk N has reached the Lambda Runtime API
    pacing = gateway.sim.pace(provider, chunks=6, sync=True, hold_timeout=HOLD_S)
    event = with_authorization(load_event("chat_completions_stream"), f"Bearer {gateway.api_key}")
    event["body"] = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": True,
            "provider": {"only": [provider]},
        }
    )

    # When the chat function streams through the runtime loop, releasing the upstream after each delta
    invocation = chat_function.invoke(event, timeout_s=60)
    prelude, _, rest = invocation.next_chunk(timeout=15).partition(DELIMITER)
    pieces: list[str] = []
    chunk = rest
    while "[DONE]" not in sse_data(chunk):
        chunk = invocation.next_chunk(timeout=5)
        for piece in content_deltas(chunk):
            pieces.append(piece)
            pacing.release()

    # Then every delta arrived on its own, before the upstream produced the next one
    assert invocation.wait().mode == "streaming"
    assert json.loads(prelude)["statusCode"] == 200
    assert len(pieces) == 6
