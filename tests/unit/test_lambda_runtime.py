"""gateway.http.lambda_runtime against a fake Lambda Runtime API speaking the documented protocol over real HTTP.

The loop runs in a thread of the test process (so a handler can synchronise with the test through events), or,
where the process itself matters, as the real process the ``lambda-stream`` exec wrapper starts.
Incremental delivery is proven without timing: a body yields chunk N+1 only once the fake Runtime API has
received chunk N, so a loop that buffered would stall and fail by a bounded timeout.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.http import lambda_runtime, runtime_api, streaming
from gateway.http.streaming import StreamedResponse, lambda_entry, proxy_result
from tests.fake_runtime_api import DELIMITER, FakeRuntimeApi

REPO_ROOT = Path(__file__).resolve().parents[2]
WRAPPER = REPO_ROOT / "layers" / "gateway" / "lambda-stream"
SECRET = "sk-live-SECRET-in-an-exception-message-0123456789"
EVENT = {"httpMethod": "POST", "path": "/v1/chat/completions", "body": "{}"}


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRuntimeApi]:
    monkeypatch.delenv(lambda_runtime.TRACE_ENV, raising=False)  # the loop sets it per invocation
    api = FakeRuntimeApi().start()
    yield api
    api.stop()


def serve_in_thread(api: FakeRuntimeApi, handler: Callable[[Any, Any], Any], *, streaming: bool = True) -> None:
    def run() -> None:
        # RuntimeApiError: the fake API shut down, as Lambda ends an execution environment
        with contextlib.suppress(runtime_api.RuntimeApiError):
            lambda_runtime.serve(runtime_api.RuntimeApiClient(api.address), handler, streaming=streaming)

    threading.Thread(target=run, name="runtime-loop", daemon=True).start()


class Body:
    """A streamed body that yields chunk N+1 only after the test released it (having seen chunk N)."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.released = [threading.Event() for _ in chunks]
        self.closes = 0
        self.exhausted = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for index, chunk in enumerate(self.chunks):
                if self.fail_after == index:
                    raise RuntimeError(SECRET)
                yield chunk
                if not self.released[index].wait(10):
                    raise TimeoutError("the runtime loop did not deliver the chunk before asking for the next")
            self.exhausted = True
        finally:
            self.closes += 1


def streamed(body: Body, status: int = 200) -> StreamedResponse:
    headers = {"content-type": "text/event-stream", "x-request-id": "req-1"}
    return StreamedResponse(status_code=status, headers=headers, body=iter(body))


def test_a_streamed_body_reaches_the_runtime_api_one_chunk_at_a_time(fake_api: FakeRuntimeApi) -> None:
    # Given a handler whose body only moves on once the previous chunk has been received
    body = Body([b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"])
    serve_in_thread(fake_api, lambda event, context: streamed(body))

    # When it is invoked
    invocation = fake_api.invoke(EVENT)

    # Then the prelude arrives first, then each chunk before the handler has produced the next one
    head = invocation.next_chunk()
    assert head.endswith(DELIMITER)
    assert json.loads(head[: -len(DELIMITER)]) == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream", "x-request-id": "req-1"},
    }
    for index, expected in enumerate(body.chunks):
        assert invocation.next_chunk() == expected
        assert not invocation.done
        body.released[index].set()
    invocation.wait()
    assert invocation.mode == "streaming"
    assert invocation.integration_response()[1] == b"".join(body.chunks)
    assert invocation.trailers == {}
    assert body.exhausted
    assert body.closes == 1


def test_the_streamed_post_declares_the_documented_headers(fake_api: FakeRuntimeApi) -> None:
    serve_in_thread(fake_api, lambda event, context: {"statusCode": 200, "body": "{}"})

    invocation = fake_api.invoke(EVENT).wait()

    headers = invocation.request_headers
    assert headers["lambda-runtime-function-response-mode"] == "streaming"
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    assert {t.strip() for t in headers["trailer"].split(",")} == {
        "Lambda-Runtime-Function-Error-Type",
        "Lambda-Runtime-Function-Error-Body",
    }
    assert "content-length" not in headers


def test_a_proxy_dict_goes_out_whole_through_the_streaming_integration(fake_api: FakeRuntimeApi) -> None:
    # Given a handler answering a classic proxy result (non-streamed chat answers take this path)
    result = {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-gateway-attempts": 2},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
        "body": json.dumps({"id": "chatcmpl-1", "content": "héllo"}),
        "isBase64Encoded": False,
    }
    serve_in_thread(fake_api, lambda event, context: result)

    # When it is invoked
    invocation = fake_api.invoke(EVENT).wait()

    # Then API Gateway gets the status and headers in the prelude and the body after the delimiter
    prelude, body = invocation.integration_response()
    assert invocation.mode == "streaming"
    assert prelude == {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-gateway-attempts": "2"},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
    }
    assert json.loads(body) == {"id": "chatcmpl-1", "content": "héllo"}


def test_a_base64_proxy_body_is_streamed_as_its_bytes(fake_api: FakeRuntimeApi) -> None:
    raw = bytes(range(256))
    serve_in_thread(
        fake_api,
        lambda event, context: {"statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True},
    )

    invocation = fake_api.invoke(EVENT).wait()

    assert invocation.integration_response()[1] == raw


def test_a_handler_that_raises_is_an_invocation_error_without_its_message(
    fake_api: FakeRuntimeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(event: Any, context: Any) -> Any:
        raise KeyError(SECRET)

    serve_in_thread(fake_api, handler)

    invocation = fake_api.invoke(EVENT).wait()

    assert invocation.mode == "error"
    assert invocation.error_type == "KeyError"
    assert invocation.error is not None
    assert invocation.error["errorType"] == "KeyError"
    assert invocation.error["requestId"] == invocation.request_id
    assert any("raise KeyError" in frame for frame in invocation.error["stackTrace"])
    assert SECRET not in json.dumps(invocation.error)
    assert SECRET not in capsys.readouterr().out


def test_an_invocation_error_carries_the_xray_error_cause_aws_clients_send(fake_api: FakeRuntimeApi) -> None:
    # Given a handler that raises
    def handler(event: Any, context: Any) -> Any:
        raise KeyError(SECRET)

    serve_in_thread(fake_api, handler)

    # When it is invoked
    invocation = fake_api.invoke(EVENT).wait()

    # Then /error carries the X-Ray cause in the shape of AWS's Python runtime client, still without the message
    cause = json.loads(invocation.request_headers["lambda-runtime-function-xray-error-cause"])
    assert set(cause) == {"working_directory", "exceptions", "paths"}
    assert cause["working_directory"] == os.getcwd()
    (exception,) = cause["exceptions"]
    assert exception["type"] == "KeyError"
    assert invocation.error is not None
    assert exception["message"] == invocation.error["errorMessage"]
    assert exception["stack"][-1]["label"] == "handler"
    assert exception["stack"][-1]["path"] == __file__
    assert isinstance(exception["stack"][-1]["line"], int)
    assert __file__ in cause["paths"]
    assert SECRET not in json.dumps(cause)


def test_a_body_that_fails_mid_stream_ends_with_the_error_trailers(
    fake_api: FakeRuntimeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a body that raises after its first chunk
    body = Body([b"data: one\n\n", b"data: two\n\n"], fail_after=1)
    serve_in_thread(fake_api, lambda event, context: streamed(body))

    # When it is invoked
    invocation = fake_api.invoke(EVENT)
    invocation.next_chunk()
    assert invocation.next_chunk() == b"data: one\n\n"
    body.released[0].set()
    invocation.wait()

    # Then what was sent stays sent, and the trailers say the function failed, without the message
    assert invocation.mode == "streaming"
    assert invocation.integration_response()[1] == b"data: one\n\n"
    assert invocation.trailers["lambda-runtime-function-error-type"] == "RuntimeError"
    error = invocation.trailer_error()
    assert error is not None
    assert error["errorType"] == "RuntimeError"
    assert SECRET not in json.dumps(error)
    assert SECRET not in capsys.readouterr().out
    assert body.closes == 1


def test_the_loop_keeps_serving_after_errors(fake_api: FakeRuntimeApi) -> None:
    calls = iter([ValueError("first"), {"statusCode": 200, "body": "second"}])

    def handler(event: Any, context: Any) -> Any:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    serve_in_thread(fake_api, handler)

    first = fake_api.invoke(EVENT).wait()
    second = fake_api.invoke(EVENT).wait()

    assert first.mode == "error"
    assert second.integration_response()[1] == b"second"


@pytest.mark.parametrize("result", [None, ["not", "a", "proxy", "result"], {"statusCode": "abc"}])
def test_a_result_api_gateway_cannot_read_is_an_invocation_error(fake_api: FakeRuntimeApi, result: Any) -> None:
    serve_in_thread(fake_api, lambda event, context: result)

    invocation = fake_api.invoke(EVENT).wait()

    assert invocation.mode == "error"
    assert invocation.error_type == "InvalidResult"


def test_the_context_carries_what_powertools_and_handlers_read(
    fake_api: FakeRuntimeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the environment Lambda sets for a function
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "test-chat")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
    monkeypatch.setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test-chat")
    seen: list[dict[str, Any]] = []

    def handler(event: Any, context: Any) -> Any:
        seen.append(
            {
                "event": event,
                "request_id": context.aws_request_id,
                "arn": context.invoked_function_arn,
                "name": context.function_name,
                "version": context.function_version,
                "memory": context.memory_limit_in_mb,
                "log_group": context.log_group_name,
                "remaining": context.get_remaining_time_in_millis(),
                "trace": os.environ.get(lambda_runtime.TRACE_ENV),
            }
        )
        return {"statusCode": 204}

    serve_in_thread(fake_api, handler)

    # When it is invoked with a trace header, then without one
    traced = fake_api.invoke(EVENT, timeout_s=120).wait()
    untraced = fake_api.invoke(EVENT, trace_id=None).wait()

    # Then the context and the X-Ray variable follow each invocation's headers
    first, second = seen
    assert first["event"] == EVENT
    assert first["request_id"] == traced.request_id
    assert first["arn"] == fake_api.function_arn
    assert (first["name"], first["version"], first["memory"]) == ("test-chat", "$LATEST", "1024")
    assert first["log_group"] == "/aws/lambda/test-chat"
    assert 60_000 < first["remaining"] <= 120_000
    assert first["trace"] == traced.headers["Lambda-Runtime-Trace-Id"]
    assert second["request_id"] == untraced.request_id
    assert second["trace"] is None


def test_the_context_gives_identity_client_context_and_log_as_aws_s_python_client(
    fake_api: FakeRuntimeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a handler that reads the mobile SDK fields of its context and logs through it
    seen: list[Any] = []

    def handler(event: Any, context: Any) -> Any:
        seen.append(context)
        context.log("logged through the context\n")
        return {"statusCode": 204}

    serve_in_thread(fake_api, handler)
    client_context = {
        "client": {"installation_id": "inst-1", "app_title": "Notes", "app_package_name": "com.example"},
        "custom": {"theme": "dark"},
        "env": {"locale": "en_GB"},
    }
    identity = {"cognitoIdentityId": "us-east-1:abc", "cognitoIdentityPoolId": "us-east-1:pool"}

    # When it is invoked by a mobile SDK caller, then by a plain one
    fake_api.invoke(
        EVENT,
        extra_headers={
            "Lambda-Runtime-Client-Context": json.dumps(client_context),
            "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
        },
    ).wait()
    fake_api.invoke(EVENT).wait()

    # Then the fields are objects with attributes, as AWS's client builds them, and log() writes to the log
    mobile, plain = seen
    assert mobile.identity.cognito_identity_id == "us-east-1:abc"
    assert mobile.identity.cognito_identity_pool_id == "us-east-1:pool"
    assert mobile.client_context.client.installation_id == "inst-1"
    assert mobile.client_context.client.app_title == "Notes"
    assert mobile.client_context.client.app_version_name is None
    assert mobile.client_context.custom == {"theme": "dark"}
    assert mobile.client_context.env == {"locale": "en_GB"}
    assert plain.client_context is None
    assert plain.identity.cognito_identity_id is None
    assert plain.identity.cognito_identity_pool_id is None
    assert "logged through the context\n" in capsys.readouterr().out


def test_a_client_that_goes_away_stops_the_body_and_the_loop_serves_on(fake_api: FakeRuntimeApi) -> None:
    # Given a body that keeps producing once the connection has been cut after its first chunk
    produced: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            yield b"data: first\n\n"
            for index in range(10_000):
                produced.append(index)
                yield b"data: more\n\n"
        finally:
            closed.set()

    calls = iter([StreamedResponse(200, {}, endless()), {"statusCode": 200, "body": "next"}])
    serve_in_thread(fake_api, lambda event, context: next(calls))

    # When the Runtime API drops the stream after the prelude and one chunk
    cut = fake_api.invoke(EVENT, cut_after=2)
    after = fake_api.invoke(EVENT)

    # Then the producer is closed long before it would have finished, and the next invocation is served
    assert cut.wait().mode == "cut"
    assert closed.wait(10)
    assert len(produced) < 10_000
    assert after.wait().integration_response()[1] == b"next"


class DeadlineBody:
    """An endless body with a request deadline, as the gateway's stream bodies carry one."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        self.produced += 1
        return b"data: " + b"x" * 65_536 + b"\n\n"

    def close(self) -> None:
        self.closed.set()


def test_a_stalled_reader_gets_its_stream_cut_at_the_request_deadline(fake_api: FakeRuntimeApi) -> None:
    # Given a body whose request deadline is 1 s away, and a Runtime API that stops reading after two chunks
    # (it holds the connection open for 30 s, far past the deadline)
    body = DeadlineBody(time.monotonic() + 1)
    calls = iter([StreamedResponse(200, {}, body), {"statusCode": 200, "body": "next"}])
    serve_in_thread(fake_api, lambda event, context: next(calls))

    stalled = fake_api.invoke(EVENT, stall_after=2)
    after = fake_api.invoke(EVENT)

    # Then the runtime loop gives up the blocked write at the deadline and closes the body (which settles and
    # records it), and the next invocation is served
    try:
        assert body.closed.wait(10), "the body was not closed: the blocked write outlived the deadline"
        assert after.wait().integration_response()[1] == b"next"
    finally:
        stalled.unstall.set()


def test_under_sam_local_a_streamed_answer_is_posted_whole(fake_api: FakeRuntimeApi) -> None:
    body = Body([b"data: one\n\n", b"data: [DONE]\n\n"])
    for event in body.released:
        event.set()
    serve_in_thread(fake_api, lambda event, context: streamed(body), streaming=False)

    invocation = fake_api.invoke(EVENT).wait()

    assert invocation.mode == "buffered"
    assert json.loads(invocation.body) == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream", "x-request-id": "req-1"},
        "body": "data: one\n\ndata: [DONE]\n\n",
        "isBase64Encoded": False,
    }
    assert body.closes == 1


def test_lambda_entry_joins_the_stream_only_for_a_lambda_runtime_that_cannot_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a handler returning a StreamedResponse, wrapped with lambda_entry
    def handler(event: Any, context: Any) -> StreamedResponse:
        return StreamedResponse(200, {"content-type": "text/event-stream"}, iter([b"data: a\n\n", b"data: b\n\n"]))

    entry = lambda_entry(handler)
    monkeypatch.setattr(streaming, "_runtime_streams", False)

    # Outside Lambda (dev server, tests, bench) the stream passes through
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    assert isinstance(entry({}, None), StreamedResponse)

    # Under Python's managed runtime the answer is one proxy dict with the whole body
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    assert entry({}, None) == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream"},
        "body": "data: a\n\ndata: b\n\n",
        "isBase64Encoded": False,
    }

    # Under the gateway's runtime loop, which declares itself when it starts serving, it streams again
    streaming.declare_streaming_runtime()
    assert isinstance(entry({}, None), StreamedResponse)


def test_proxy_result_base64_encodes_a_body_that_is_not_utf8() -> None:
    result = proxy_result(StreamedResponse(200, {}, iter([b"\xff\xfe", b"\x00"])))

    assert result["isBase64Encoded"] is True
    assert base64.b64decode(result["body"]) == b"\xff\xfe\x00"


# ---------------------------------------------------------------------------- the real process


def write_function(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(source, encoding="utf-8")
    return directory


def start_process(
    api: FakeRuntimeApi, task_root: Path, handler: str = "app.lambda_handler", **extra_env: str
) -> subprocess.Popen[str]:
    """The runtime as Lambda starts it: the exec wrapper, given the interpreter and the runtime's bootstrap."""
    env = {
        **extra_env,
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": "test-chat",
        "TEST_SETTING": SECRET,
    }
    return subprocess.Popen(
        [str(WRAPPER), sys.executable, "/var/runtime/bootstrap.py"],
        cwd=task_root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


STREAMING_FUNCTION = """
import sys

from gateway.http.streaming import StreamedResponse, lambda_entry


def body():
    for word in ("one", "two", "three"):
        yield f"data: {word}\\n\\n".encode()
        sys.stdin.readline()  # the test writes a line once it has received the chunk


def handler(event, context):
    return StreamedResponse(200, {"content-type": "text/event-stream"}, body())


lambda_handler = lambda_entry(handler)
"""


@pytest.mark.slow
def test_the_wrapper_starts_a_process_that_streams_chunk_by_chunk(fake_api: FakeRuntimeApi, tmp_path: Path) -> None:
    # Given the function started the way Lambda starts it, through the exec wrapper
    process = start_process(fake_api, write_function(tmp_path / "fn", STREAMING_FUNCTION))
    assert process.stdin is not None
    try:
        # When it is invoked
        invocation = fake_api.invoke(EVENT)

        # Then each chunk arrives while the handler waits to be told to produce the next
        prelude, _, _ = invocation.next_chunk().partition(DELIMITER)
        assert json.loads(prelude)["headers"] == {"content-type": "text/event-stream"}
        for word in ("one", "two", "three"):
            assert invocation.next_chunk() == f"data: {word}\n\n".encode()
            assert not invocation.done
            process.stdin.write("next\n")
            process.stdin.flush()
        assert invocation.wait().mode == "streaming"
    finally:
        process.kill()
        process.communicate()


@pytest.mark.slow
def test_under_sam_local_the_process_posts_each_answer_whole(fake_api: FakeRuntimeApi, tmp_path: Path) -> None:
    # Given the function started as sam local starts it (AWS_SAM_LOCAL=true), its body free to run to the end
    process = start_process(fake_api, write_function(tmp_path / "fn", STREAMING_FUNCTION), AWS_SAM_LOCAL="true")
    assert process.stdin is not None
    process.stdin.write("next\n" * 3)
    process.stdin.flush()
    try:
        # When it is invoked
        invocation = fake_api.invoke(EVENT).wait()

        # Then the emulator gets one buffered proxy result with the whole event stream
        assert invocation.mode == "buffered"
        assert json.loads(invocation.body) == {
            "statusCode": 200,
            "headers": {"content-type": "text/event-stream"},
            "body": "data: one\n\ndata: two\n\ndata: three\n\n",
            "isBase64Encoded": False,
        }
    finally:
        process.kill()
        process.communicate()


GC_REPORTING_FUNCTION = """
import gc
import json

LOADED_WITH_GC = gc.isenabled()


def lambda_handler(event, context):
    state = {"loaded": LOADED_WITH_GC, "serving": gc.isenabled(), "frozen": gc.get_freeze_count()}
    return {"statusCode": 200, "body": json.dumps(state)}
"""


@pytest.mark.slow
def test_the_garbage_collector_is_off_from_loading_until_the_first_invocation_returns(
    fake_api: FakeRuntimeApi, tmp_path: Path
) -> None:
    # Given a function started the way Lambda starts it, through the exec wrapper
    process = start_process(fake_api, write_function(tmp_path / "fn", GC_REPORTING_FUNCTION))
    try:
        # When it is invoked twice
        first = json.loads(fake_api.invoke(EVENT).wait().integration_response()[1])
        second = json.loads(fake_api.invoke(EVENT).wait().integration_response()[1])
    finally:
        process.kill()
        process.communicate()

    # Then its import and first invocation ran without the cyclic collector (the cold start's allocations live as
    # long as the process); from the second on it runs, with what the cold start allocated frozen out of its reach
    assert first == {"loaded": False, "serving": False, "frozen": 0}
    assert second["serving"] is True
    assert second["frozen"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        (None, "app.lambda_handler", "Runtime.ImportModuleError"),
        ("x = 1\n", "app.lambda_handler", "Runtime.HandlerNotFound"),
        ("def lambda_handler(:\n", "app.lambda_handler", "Runtime.UserCodeSyntaxError"),
        ("x = 1\n", "nodot", "Runtime.MalformedHandlerName"),
        # A setting's value in an exception message (the value comes from the environment, not the source)
        ("import os\nraise ValueError(os.environ['TEST_SETTING'])\n", "app.lambda_handler", "ValueError"),
    ],
)
def test_a_function_that_cannot_load_is_an_init_error(
    fake_api: FakeRuntimeApi, tmp_path: Path, source: str | None, handler: str, error_type: str
) -> None:
    task_root = tmp_path / "fn"
    task_root.mkdir()
    if source is not None:
        write_function(task_root, source)

    process = start_process(fake_api, task_root, handler)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 1
    assert fake_api.init_failed.is_set()
    assert fake_api.init_error_type == error_type
    assert fake_api.init_error is not None
    assert fake_api.init_error["errorType"] == error_type
    assert SECRET not in json.dumps(fake_api.init_error)
    assert SECRET not in output
