"""Every function on every events/ file under AWS's own Runtime Interface Emulator, as ``make invoke`` runs them.

The emulator is the ``aws-lambda-rie`` binary of the aws-sam-cli package (``make emulator``): AWS's Runtime API
server, not ours, so a misreading of the protocol by the streaming loop (or by this repository's fake Runtime
API) fails here. The functions run against a real ``make dev`` stack in another process (moto's server and the
provider simulator), one emulator per function, kept warm across its events.

The emulator collects a streamed answer before returning it, so incremental delivery is proven at the Runtime
API itself: a relay between the runtime loop and the emulator records each chunk as it arrives, and the
simulator (in sync pacing) produces content chunk N+1 only once chunk N has reached the relay.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.invoke import (
    LAMBDA_RUNTIME_DIR,
    LAYER_DIR,
    REPO_ROOT,
    Emulator,
    EmulatorAnswer,
    InvokeError,
    LambdaFunction,
    StackAddresses,
    emulator_binary,
    free_port,
    lambda_function,
    with_api_key,
)
from local.template import load_template, stream_consumers
from tests.integration.test_events import EVENT_FILES, EVENTS_DIR, route_of, with_path_parameter
from tests.integration.test_lambda_streaming import content_deltas, sse_data
from tests.runtime_api_relay import RelayedCall, RuntimeApiRelay

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lambda-emulator")]

DEV_API_KEY = "gwk_00000000000000ee_emulator-test-secret-0123456789abcdef"
START_TIMEOUT_S = 90
# DynamoDB stream batches for the functions the logs table's stream feeds (not API routes, so not in events/ itself)
STREAM_EVENT_FILES = sorted((EVENTS_DIR / "streams").glob("*.json"))
FAULTY_FUNCTION_DIR = REPO_ROOT / "tests" / "fixtures" / "lambda_functions" / "faulty"


@dataclass
class DevStack:
    addresses: StackAddresses
    api_url: str
    state_file: Path

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.addresses.simulator_url}/_sim/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def emulator_installed() -> None:
    try:
        emulator_binary()
    except InvokeError as exc:
        pytest.fail(f"{exc} (make test installs it)")


@pytest.fixture(scope="module")
def dev_stack(emulator_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """``make dev`` in its own process, as a developer runs it beside ``make invoke``."""
    state_file = tmp_path_factory.mktemp("devstack") / "state.json"
    environment = {**os.environ, "PORT": str(free_port()), "DEVSTACK_STATE": str(state_file)}
    environment["DEV_API_KEY"] = DEV_API_KEY
    process = subprocess.Popen(
        [sys.executable, "-m", "local.devstack"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(START_TIMEOUT_S * 10):
            if state_file.exists() or process.poll() is not None:
                break
            try:
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
        assert state_file.exists(), "make dev did not start"
        state = json.loads(state_file.read_text(encoding="utf-8"))
        yield DevStack(
            addresses=StackAddresses(
                **{name: state[name] for name in StackAddresses.__dataclass_fields__ if name in state}
            ),
            api_url=state["api_url"],
            state_file=state_file,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def emulator_for(function: LambdaFunction, log_dir: Path) -> Emulator:
    return Emulator(function, log_path=log_dir / f"{function.logical_id}.log")


# ---------------------------------------------------------------------------- every function, every event


def header(headers: dict[str, Any], multi: dict[str, Any], name: str) -> str | None:
    merged = {k.lower(): v for k, v in headers.items()}
    merged.update({k.lower(): values[-1] for k, values in multi.items()})
    value = merged.get(name)
    return str(value) if value is not None else None


def status_headers_body(function: LambdaFunction, answer: EmulatorAnswer) -> tuple[int, dict[str, Any], bytes]:
    """What API Gateway would make of the function's answer: status, headers and body."""
    assert answer.status == 200, f"{function.logical_id}: the emulator answered {answer.status}: {answer.body[:300]!r}"
    if function.streamed:
        prelude, body = answer.integration_response()
        headers = {"headers": prelude.get("headers") or {}, "multi": prelude.get("multiValueHeaders") or {}}
        return int(prelude["statusCode"]), headers, body
    result = answer.json()
    assert set(result) >= {"statusCode", "body"}, f"{function.logical_id}: not a proxy result: {result}"
    raw = result["body"] or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
    headers = {"headers": result.get("headers") or {}, "multi": result.get("multiValueHeaders") or {}}
    return int(result["statusCode"]), headers, body


def shape_problem(event_name: str, status: int, headers: dict[str, Any], body: bytes, *, authorized: bool) -> str:
    """Why the answer is not what a client of this event expects ("" when it is)."""
    content_type = header(headers["headers"], headers["multi"], "content-type") or ""
    if not header(headers["headers"], headers["multi"], "x-request-id"):
        return "no x-request-id header"
    if not authorized:
        if status != 401:
            return f"status {status}, expected 401"
        error = json.loads(body)
        error = error["error"]
        return "" if isinstance(error.get("message"), str) and error["message"] and error.get("type") else "error shape"
    if not 200 <= status < 300:
        return f"status {status}: {body[:300]!r}"
    if status == 204:
        return "" if body == b"" else "a body on 204"
    if content_type.startswith("text/event-stream"):
        if event_name.startswith("responses"):  # Responses' semantic events end with the completed response
            return (
                "" if b'"type":"response.completed"' in body.rstrip().rsplit(b"\n", 1)[-1] else "no response.completed"
            )
        end = b'data: {"type":"message_stop"}' if event_name.startswith("messages") else b"data: [DONE]"
        return "" if body.rstrip().endswith(end) else f"the stream does not end with {end!r}"
    if content_type.startswith("application/json"):
        return "" if isinstance(json.loads(body), dict) else "not a JSON object"
    return "" if body.strip() else "an empty body"


def prepared_events(stack: DevStack) -> dict[str, dict[str, Any]]:
    """Each events/ file with the dev customer's key, and the ids its path needs (created through the dev API)."""
    authorization = {"Authorization": f"Bearer {DEV_API_KEY}"}
    created = httpx.post(
        f"{stack.api_url}/v1/byok/keys",
        headers=authorization,
        json=json.loads(json.loads((REPO_ROOT / "events" / "keys_create.json").read_text())["body"]),
        timeout=30,
    )
    assert created.status_code == 201, created.text
    chat = httpx.post(
        f"{stack.api_url}/v1/chat/completions",
        headers=authorization,
        json={"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "Hello"}]},
        timeout=30,
    )
    assert chat.status_code == 200, chat.text
    api_key = httpx.post(f"{stack.api_url}/v1/api-keys", headers=authorization, json={"name": "events"}, timeout=30)
    assert api_key.status_code == 201, api_key.text
    response = httpx.post(
        f"{stack.api_url}/v1/responses",
        headers=authorization,
        json={"model": "openai/gpt-5-mini", "input": "Hello"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    ids = {
        "key_id": created.json()["id"],
        "request_id": chat.headers["x-request-id"],
        "response_id": response.json()["id"],
    }
    events = {}
    for path in EVENT_FILES:
        event = with_api_key(json.loads(path.read_text(encoding="utf-8")), DEV_API_KEY)
        for name, value in ids.items():
            if name in (event["pathParameters"] or {}):
                is_api_key = name == "key_id" and "/v1/api-keys/" in event["path"]
                event = with_path_parameter(event, name, api_key.json()["id"] if is_api_key else value)
        events[path.stem] = event
    return events


def test_every_function_answers_every_event_under_aws_s_runtime_interface_emulator(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    # Given every function of the template with its events, each function under its own emulator
    by_function: dict[str, list[str]] = {}
    for path in EVENT_FILES:
        route = route_of(json.loads(path.read_text(encoding="utf-8")))
        assert route is not None, path.name
        by_function.setdefault(route.function, []).append(path.stem)
    events = prepared_events(dev_stack)
    placeholders = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in EVENT_FILES}

    def run(logical_id: str) -> list[str]:
        function = lambda_function(logical_id, dev_stack.addresses)
        problems = []
        with emulator_for(function, tmp_path).start() as emulator:
            # The key the events share is deleted last
            for name in sorted(by_function[logical_id], key=lambda name: (name.endswith("_delete"), name)):
                # When the event is invoked with the dev customer's key, then as shipped (the placeholder key)
                cases = [(events[name], True)]
                if events[name]["resource"].startswith("/v1/"):
                    cases.append((placeholders[name], False))
                for event, authorized in cases:
                    status, headers, body = status_headers_body(function, emulator.invoke(event))
                    problem = shape_problem(name, status, headers, body, authorized=authorized)
                    if problem:
                        problems.append(f"{logical_id} {name} ({'key' if authorized else 'placeholder'}): {problem}")
        return problems

    def run_stream_consumer(logical_id: str) -> list[str]:
        function = lambda_function(logical_id, dev_stack.addresses)
        with emulator_for(function, tmp_path).start() as emulator:
            answers = {path.stem: emulator.invoke(json.loads(path.read_text())) for path in STREAM_EVENT_FILES}
        # A batch whose records were all counted reports no failures (anything else would be retried by Lambda)
        return [
            f"{logical_id} {name}: {answer.status} {answer.body[:300]!r}"
            for name, answer in answers.items()
            if answer.status != 200 or answer.json() != {"batchItemFailures": []}
        ]

    (consumer,) = {consumer.function for consumer in stream_consumers(load_template())}
    with ThreadPoolExecutor(max_workers=len(by_function) + 1) as pool:
        consumed = pool.submit(run_stream_consumer, consumer)
        problems = [problem for found in pool.map(run, sorted(by_function)) for problem in found]
        problems += consumed.result()

    # Then each answer has its status, x-request-id and the body its client reads
    assert not problems, "\n".join(problems)
    assert {"ChatFunction", "MessagesFunction", "PublicFunction", "KeysFunction"} <= set(by_function)
    assert STREAM_EVENT_FILES


def test_make_invoke_prints_a_streamed_function_s_prelude_then_its_body(dev_stack: DevStack) -> None:
    # Given `make dev` running, and its key pinned as a developer pins it
    environment = {**os.environ, "DEVSTACK_STATE": str(dev_stack.state_file), "DEV_API_KEY": DEV_API_KEY}

    # When a developer runs `make invoke FN=ChatFunction EVENT=events/chat_completions_stream.json`
    run = subprocess.run(
        [sys.executable, "-m", "local.invoke", "ChatFunction", "events/chat_completions_stream.json"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        timeout=120,
        check=False,
    )

    # Then stdout has the prelude on its first line, then the event stream, and the logs went to stderr
    assert run.returncode == 0, run.stderr[-2000:]
    prelude, _, body = run.stdout.partition(b"\n")
    assert json.loads(prelude)["statusCode"] == 200
    assert json.loads(prelude)["headers"]["content-type"] == "text/event-stream"
    assert sse_data(body)[-1] == "[DONE]"
    assert b"REPORT RequestId" in run.stderr


# ---------------------------------------------------------------------------- streaming at the Runtime API


@pytest.fixture
def relayed_chat(dev_stack: DevStack, tmp_path: Path) -> Iterator[tuple[Emulator, RuntimeApiRelay]]:
    """The chat function under the emulator, its runtime loop talking to the emulator through the relay."""
    emulator = emulator_for(lambda_function("ChatFunction", dev_stack.addresses), tmp_path)
    relay = RuntimeApiRelay(emulator.runtime_api_address).start()
    emulator.start(runtime_api=relay.address)
    yield emulator, relay
    emulator.stop()
    relay.stop()
    dev_stack.control("DELETE", "pacing")


def streamed_call(relay: RuntimeApiRelay) -> RelayedCall:
    call = relay.next_call(timeout=60)
    assert call.path.endswith("/response"), call.path
    assert call.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    return call


def test_each_delta_reaches_aws_s_runtime_api_before_the_upstream_produces_the_next(
    dev_stack: DevStack, relayed_chat: tuple[Emulator, RuntimeApiRelay]
) -> None:
    emulator, relay = relayed_chat
    # Given an upstream that produces content chunk N+1 only once the test has seen chunk N at the Runtime API
    dev_stack.control("POST", "pacing", {"provider": "openai", "chunks": 6, "sync": True, "hold_timeout": 10})
    event = with_api_key(json.loads((REPO_ROOT / "events" / "chat_completions_stream.json").read_text()), DEV_API_KEY)
    event["body"] = json.dumps(
        {
            "model": "openai/gpt-5-mini",
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": True,
            "provider": {"only": ["openai"]},
        }
    )

    # When the chat function streams it through the runtime loop to the emulator
    with ThreadPoolExecutor(max_workers=1) as pool:
        answered = pool.submit(emulator.invoke, event)
        call = streamed_call(relay)
        prelude = call.next_chunk(timeout=60)
        # Each delta is stamped with how many content chunks the upstream had produced when it reached the relay
        produced_when_relayed: list[int] = []
        chunks = [prelude]
        while True:
            try:
                chunk = call.next_chunk(timeout=5)  # a buffering loop leaves chunk 2 held upstream: queue.Empty
            except EOFError:
                break
            chunks.append(chunk)
            for _ in content_deltas(chunk.data):
                (pacing,) = dev_stack.control("GET", "pacing")["data"]
                produced_when_relayed.append(pacing["sent"])
                dev_stack.control("POST", "pacing/release", {"provider": "openai"})
        answer = answered.result(timeout=60)

    # Then delta N reached AWS's Runtime API while the upstream had produced exactly N chunks, one after another,
    assert produced_when_relayed == [1, 2, 3, 4, 5, 6]
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert all(a.received_at <= b.received_at for a, b in itertools.pairwise(chunks))
    # the emulator accepted the stream, and answered exactly the bytes that reached it
    assert call.upstream_status == 202
    assert call.trailers == {}
    assert answer.body == b"".join(chunk.data for chunk in chunks)
    head, body = answer.integration_response()
    assert head["statusCode"] == 200
    assert sse_data(body)[-1] == "[DONE]"


@pytest.fixture
def relayed_faulty(emulator_installed: None, tmp_path: Path) -> Iterator[tuple[Emulator, RuntimeApiRelay]]:
    """A function that fails on purpose, started by the streaming exec wrapper as the template's are."""
    function = LambdaFunction(
        logical_id="FaultyFunction",
        code_dir=FAULTY_FUNCTION_DIR,
        handler="app.lambda_handler",
        timeout_s=30,
        memory_mb=128,
        environment={
            "_HANDLER": "app.lambda_handler",
            "LAMBDA_TASK_ROOT": str(FAULTY_FUNCTION_DIR),
            "PYTHONPATH": f"{LAYER_DIR}:{LAMBDA_RUNTIME_DIR}",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
        },
        exec_wrapper=LAYER_DIR / "lambda-stream",
        streamed=True,
    )
    emulator = emulator_for(function, tmp_path)
    relay = RuntimeApiRelay(emulator.runtime_api_address).start()
    emulator.start(runtime_api=relay.address)
    yield emulator, relay
    emulator.stop()
    relay.stop()


def test_a_mid_stream_error_ends_the_stream_with_trailers_aws_s_runtime_api_accepts(
    relayed_faulty: tuple[Emulator, RuntimeApiRelay],
) -> None:
    emulator, relay = relayed_faulty

    # When the body fails after its first chunk
    answer = emulator.invoke({"fail": "mid_stream"})

    # Then the chunk sent stays sent, and the stream ends with the error trailers, which the emulator accepted
    call = streamed_call(relay)
    assert call.done.wait(10)
    assert call.upstream_status == 202
    assert call.trailers["lambda-runtime-function-error-type"] == "RuntimeError"
    error = json.loads(base64.b64decode(call.trailers["lambda-runtime-function-error-body"]))
    assert error["errorType"] == "RuntimeError"
    assert "the body failed after" not in json.dumps(error)  # the exception's message stays in the process
    head, body = answer.integration_response()
    assert head == {"statusCode": 200, "headers": {"content-type": "text/event-stream"}}
    assert body == b"data: first\n\n"


def test_an_error_before_the_first_byte_is_an_invocation_error_with_its_xray_cause(
    relayed_faulty: tuple[Emulator, RuntimeApiRelay],
) -> None:
    emulator, relay = relayed_faulty

    # When the handler raises before answering
    answer = emulator.invoke({"fail": "before_first_byte"})

    # Then the loop reports it on /error with the X-Ray cause, which the emulator accepted and answered with
    call = relay.next_call(timeout=10)
    assert call.done.wait(10)
    assert call.path.endswith("/error")
    assert call.upstream_status == 202
    assert call.headers["Lambda-Runtime-Function-Error-Type"] == "LookupError"
    cause = json.loads(call.headers["Lambda-Runtime-Function-XRay-Error-Cause"])
    assert cause["working_directory"] == str(FAULTY_FUNCTION_DIR)
    assert cause["exceptions"][0]["type"] == "LookupError"
    assert cause["exceptions"][0]["stack"][-1]["label"] == "lambda_handler"
    assert str(FAULTY_FUNCTION_DIR / "app.py") in cause["paths"]
    error = answer.json()
    assert error["errorType"] == "LookupError"
    assert "no answer for this event" not in answer.body.decode()
    assert answer.body == call.body
