"""The real chat handler behind the streaming runtime loop, as the deployed chat function runs it.

Events from events/ (API Gateway REST proxy events) go through the fake Lambda Runtime API into
gateway.lambda_runtime, which calls the chat function's handler against moto and the provider simulator; what
reaches the Runtime API is read the way API Gateway's streaming integration reads it (prelude, 8 NULs, body).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import lambda_runtime
from local.handlers import load_handler
from tests.conftest import Gateway
from tests.fake_runtime_api import FakeRuntimeApi, Invocation
from tests.integration.test_events import load_event, with_authorization


@pytest.fixture
def chat_function(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRuntimeApi]:
    """The chat function's handler served by the runtime loop, as AWS_LAMBDA_EXEC_WRAPPER starts it."""
    monkeypatch.delenv(lambda_runtime.TRACE_ENV, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "byok-gateway-chat")
    handler = load_handler("functions/chat")
    api = FakeRuntimeApi(function_arn="arn:aws:lambda:us-east-1:123456789012:function:byok-gateway-chat").start()

    def run() -> None:
        with contextlib.suppress(lambda_runtime.RuntimeApiError):
            lambda_runtime.serve(lambda_runtime.RuntimeApiClient(api.address), handler)

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
