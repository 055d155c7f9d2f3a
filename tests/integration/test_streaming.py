"""Real streaming over HTTP (the dev server's wiring): incremental delivery, the commit rule, first-byte
timeouts, keep-alives, disconnects and the route headers.

Incremental delivery is proven without timing: the simulator holds each content chunk after the first
until the test has read the previous one from the gateway (``sync`` pacing). A gateway that buffers never
delivers the first delta, so the client's read timeout fails the test; nothing here races a clock.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from gateway.data import accounts
from tests.conftest import Gateway, configure
from tests.integration.helpers import ROUTES, add_key, byok_credentials, credential_id, get_log

MESSAGES: Any = [{"role": "user", "content": "Say hello"}]
READ_TIMEOUT_S = 5.0  # a buffering gateway fails here; the simulator holds a chunk for twice as long
HOLD_S = 2 * READ_TIMEOUT_S


def balance(account_id: str) -> Decimal:
    snapshot = accounts.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


def sse_lines(api: Any, gateway: Gateway, body: dict[str, Any]) -> Any:
    """An open raw stream (``httpx.stream`` context manager) of the chat endpoint."""
    return httpx.stream(
        "POST",
        f"{api.url}/v1/chat/completions",
        json={"messages": MESSAGES, "stream": True, **body},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=httpx.Timeout(READ_TIMEOUT_S),
    )


def settled(pacing: Any, counter: str, wait_s: float = 10.0) -> dict[str, Any]:
    """The pacing's counters once ``counter`` is non-zero (the simulator counts a stream after its last write)."""
    give_up = time.monotonic() + wait_s
    while pacing.snapshot()[counter] == 0 and time.monotonic() < give_up:
        time.sleep(0.02)
    return dict(pacing.snapshot())


def data_events(lines: list[str]) -> list[Any]:
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


def delta_text(line: str) -> str:
    """The content delta an SSE line carries ("" for anything else)."""
    if not line.startswith("data: {"):
        return ""
    choices = json.loads(line.removeprefix("data: ")).get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_the_sdk_receives_each_delta_while_the_upstream_still_produces_the_next(
    api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    # Given an upstream that sends chunk N+1 only once the client has read chunk N
    pacing = gateway.sim.pace(provider, chunks=6, sync=True, hold_timeout=HOLD_S)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=READ_TIMEOUT_S)

    # When the official SDK streams, releasing the next upstream chunk after each delta it receives
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, stream=True, extra_body={"provider": {"only": [provider]}}
    )
    pieces = []
    for chunk in raw.parse():
        text = chunk.choices[0].delta.content if chunk.choices else None
        if text:
            pieces.append(text)
            pacing.release()

    # Then every delta arrived, one at a time, and the upstream streamed to its end
    assert len(pieces) == 6
    assert settled(pacing, "finished")["finished"] == 1
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers.get("content-length") is None and raw.headers["transfer-encoding"] == "chunked"
    assert (raw.headers["x-gateway-provider"], raw.headers["x-gateway-byok"]) == (provider, "false")
    assert raw.headers["x-gateway-attempts"] == "1"
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["status"], record["stream"], record["api"]) == ("success", True, "chat")
    assert isinstance(record["time_to_first_token_ms"], int)
    assert record["usage"]["completion_tokens"] == 6  # usage is asked for even though the client did not
    [upstream] = [r for r in gateway.sim.requests if r.provider == provider]
    if provider in ("openai", "deepseek") or (upstream.json or {}).get("stream_options"):
        assert upstream.json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_a_stream_that_breaks_before_its_first_delta_falls_back(
    api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    # Given a BYOK key whose upstream hangs up after the stream's preamble (role chunk / message_start)
    credentials = byok_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.pace(provider, credential=credential_id(credentials), drop_after=0)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=20)

    # When the customer streams
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"provider": {"only": [provider]}},
    )
    chunks = list(raw.parse())

    # Then nothing of the broken attempt was sent: shared capacity answered the whole stream
    assert raw.status_code == 200
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(f"Hello from {provider}")
    assert chunks[-1].usage is not None and chunks[-1].usage.model_extra["is_byok"] is False
    assert (raw.headers["x-gateway-byok"], raw.headers["x-gateway-attempts"]) == ("false", "2")
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    byok, shared = record["attempts"]
    assert (byok["key_id"], byok["outcome"]) == (key["id"], "connection_error")
    assert (shared["credential"], shared["outcome"], record["status"]) == ("shared", "success", "success")


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_a_break_after_the_commit_ends_with_one_error_event_and_no_done(
    api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    # Given a BYOK key whose upstream hangs up after two content chunks
    credentials = byok_credentials(gateway.sim, provider)
    add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.pace(provider, credential=credential_id(credentials), chunks=8, drop_after=2)

    # When the customer streams
    with sse_lines(api, gateway, {"model": model, "provider": {"only": [provider]}}) as response:
        lines = list(response.iter_lines())
        headers = response.headers

    # Then the two deltas arrived, then exactly one error event in the OpenAI shape, and no [DONE]
    events = data_events(lines)
    assert "[DONE]" not in events
    *chunks, last = (json.loads(e) for e in events)
    assert set(last) == {"error"} and last["error"]["code"] == "stream_interrupted"
    assert set(last["error"]) == {"message", "type", "code", "param"}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == " ".join(f"Hello from {provider}".split()[:2]) or len(text.split()) == 2
    assert headers["x-gateway-byok"] == "true"
    record = get_log(api.url, gateway.api_key, headers["x-request-id"])
    [attempt] = record["attempts"]  # no fallback once the client has content
    assert (attempt["outcome"], record["status"], record["http_status"]) == ("stream_interrupted", "error", 200)
    assert len([r for r in gateway.sim.requests if r.provider == provider]) == 1


@pytest.mark.parametrize("where", ["request", "operator"])
def test_an_attempt_without_a_first_delta_in_time_is_abandoned_for_the_next(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # Given a hung BYOK key: headers and role chunk, then silence far past the first-byte timeout
    provider, model = "anthropic", "anthropic/claude-sonnet-4.5"
    credentials = byok_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.pace(provider, credential=credential_id(credentials), first_chunk_delay=HOLD_S)
    routing: dict[str, Any] = {"only": [provider]}
    if where == "request":
        configure(monkeypatch, MIN_FIRST_BYTE_TIMEOUT_MS="300")  # the operator's floor allows it
        routing["first_byte_timeout_ms"] = 300
    else:
        configure(monkeypatch, ATTEMPT_FIRST_BYTE_TIMEOUT_MS="300")

    # When the customer streams
    with sse_lines(api, gateway, {"model": model, "provider": routing}) as response:
        lines = list(response.iter_lines())
        headers = response.headers

    # Then the hung attempt was abandoned as a timeout and shared capacity answered
    assert data_events(lines)[-1] == "[DONE]"
    assert headers["x-gateway-attempts"] == "2"
    record = get_log(api.url, gateway.api_key, headers["x-request-id"])
    byok, shared = record["attempts"]
    assert (byok["key_id"], byok["outcome"]) == (key["id"], "timeout")
    assert 300 <= byok["latency_ms"] < HOLD_S * 1000
    assert shared["outcome"] == "success"


def test_a_silent_upstream_gets_keep_alive_comments_while_committed(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a short keep-alive interval and an upstream that holds its second chunk until told
    configure(monkeypatch, STREAM_KEEPALIVE_MS="50")
    pacing = gateway.sim.pace("openai", chunks=3, sync=True, hold_timeout=HOLD_S)

    with sse_lines(api, gateway, {"model": "openai/gpt-5-mini"}) as response:
        lines = response.iter_lines()
        # When the first delta has arrived and the upstream is silent
        first = next(line for line in lines if delta_text(line))
        # Then a keep-alive comment comes before anything else (a bounded wait: the read timeout)
        assert next(line for line in lines if line) == ": keep-alive"
        pacing.release(2)
        rest = list(lines)

    assert delta_text(first) == "Hello"
    assert data_events(rest)[-1] == "[DONE]"


def test_a_client_that_disconnects_stops_the_upstream_and_still_pays_for_what_was_generated(
    api: Any, gateway: Gateway
) -> None:
    # Given a long shared-capacity stream
    pacing = gateway.sim.pace("openai", chunks=400, delay=0.01)
    before = balance(gateway.customer.account_id)

    # When the client reads three deltas and hangs up
    with sse_lines(api, gateway, {"model": "openai/gpt-5-mini"}) as response:
        request_id = response.headers["x-request-id"]
        seen = 0
        for line in response.iter_lines():
            if delta_text(line):
                seen += 1
            if seen == 3:
                break

    # Then the gateway stopped reading the upstream, and billed and logged the part that was generated
    record = get_log(api.url, gateway.api_key, request_id, wait_s=10)
    [attempt] = record["attempts"]
    assert (attempt["outcome"], record["status"]) == ("stream_interrupted", "error")
    assert "client disconnected" in attempt["error"]
    assert 0 < record["usage"]["completion_tokens"] < 400
    assert record["cost"] > 0
    assert balance(gateway.customer.account_id) == pytest.approx(before - Decimal(str(record["cost"])))
    state = settled(pacing, "client_gone")
    assert (state["client_gone"], state["finished"]) == (1, 0)
    assert state["sent"] < 400


def test_route_headers_on_a_non_streamed_answer_after_a_fallback(api: Any, gateway: Gateway) -> None:
    credentials = byok_credentials(gateway.sim, "openai")
    add_key(api.url, gateway.api_key, "openai", credentials)
    gateway.sim.fail("openai", status=503, credential=credential_id(credentials))

    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=20,
    )

    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "openai"
    assert (response.headers["x-gateway-byok"], response.headers["x-gateway-attempts"]) == ("false", "2")
    assert response.json()["usage"]["is_byok"] is False
