"""Trust in the shared routing signals and in what a cut attempt costs, through the HTTP API (issue 18, 2-4).

- ``provider.first_byte_timeout_ms`` has the operator's floor ``MIN_FIRST_BYTE_TIMEOUT_MS`` (lower is a 400) and
  cuts every attempt, streamed or not.
- Only what happened on the operator's credentials, within the operator's timeouts, moves another customer's
  routing: not a timeout the request set, not a BYOK key's failures or measurements.
- A shared attempt the gateway cut after its request body went out is billed for its prompt; one that never
  reached the upstream is free.

Given the real handlers behind the local API server, moto and the simulator. Slow upstreams are the simulator's
``slow``/``timeout`` faults, each far longer than the timeout that cuts it, so no assertion depends on how fast
this machine is. (Not stream pacing: an upstream request a test abandoned wakes up later in the simulator and
would take a pacing armed by the next test.)
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from tests.conftest import Customer, Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, get_log

DEEPSEEK = "deepseek/deepseek-v3.2"  # catalog order: deepseek, then google-vertex (dearer)
HELLO = [{"role": "user", "content": "Say hello"}]
FLOOR_MS = 1000  # this stack's MIN_FIRST_BYTE_TIMEOUT_MS: short, so a test waits little for a cut
STALL_S = 6.0  # how long a stalled upstream keeps silent: far past FLOOR_MS


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def chat(api: Any, api_key: str, model: str = DEEPSEEK, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": model, "messages": HELLO, **body},
        headers=bearer(api_key),
        timeout=30,
    )


def messages(api: Any, api_key: str, model: str = DEEPSEEK, content: str = "Say hello", **body: Any) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/messages",
        json={"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": content}], **body},
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )


def attempts(api: Any, api_key: str, response: httpx.Response) -> list[tuple[str, str, str]]:
    record = get_log(api.url, api_key, response.headers["x-request-id"])
    return [(a["provider"], a["credential"], a["outcome"]) for a in record["attempts"]]


def balance(api: Any, api_key: str) -> float:
    response = httpx.get(f"{api.url}/v1/account", headers=bearer(api_key), timeout=20)
    assert response.status_code == 200, response.text
    return float(response.json()["credits"])


@pytest.fixture
def floor(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> int:
    configure(monkeypatch, MIN_FIRST_BYTE_TIMEOUT_MS=str(FLOOR_MS))
    return FLOOR_MS


# --- the floor -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_name", ["chat", "messages"])
def test_a_first_byte_timeout_below_the_operators_floor_is_a_400_naming_the_field(
    api: Any, gateway: Gateway, api_name: str
) -> None:
    send = chat if api_name == "chat" else messages

    # When a request asks for 1 ms, below the default floor of 2000 ms
    low = send(api, gateway.api_key, provider={"first_byte_timeout_ms": 1})

    # Then it is a 400 naming the field, and nothing reached an upstream
    assert low.status_code == 400, low.text
    error = low.json()["error"]
    assert "provider.first_byte_timeout_ms" in error["message"]
    assert "2000" in error["message"]
    if api_name == "chat":
        assert error["param"] == "provider.first_byte_timeout_ms"
    else:
        assert error["type"] == "invalid_request_error"
    assert [r for r in gateway.sim.requests if r.provider != "google-oauth"] == []

    # And the floor itself, or 0 (none: wait up to the deadline), are served
    assert send(api, gateway.api_key, provider={"first_byte_timeout_ms": 2000}).status_code == 200
    assert send(api, gateway.api_key, provider={"first_byte_timeout_ms": 0}).status_code == 200


# --- every attempt, streamed or not -------------------------------------------------------------------------


def test_a_non_streamed_attempt_without_its_first_byte_is_cut_and_falls_back(
    api: Any, gateway: Gateway, floor: int
) -> None:
    # Given deepseek's shared capacity answers nothing for seconds
    gateway.sim.fail("deepseek", mode="timeout", delay=STALL_S, times=1)

    # When a non-streamed request sets the shortest first-byte timeout allowed
    response = chat(api, gateway.api_key, provider={"first_byte_timeout_ms": floor})

    # Then the silent attempt is cut and the next provider serves
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "google-vertex"
    assert attempts(api, gateway.api_key, response) == [
        ("deepseek", "shared", "timeout"),
        ("google-vertex", "shared", "success"),
    ]


# --- nobody steers another customer's routing ---------------------------------------------------------------


@pytest.mark.parametrize("api_name", ["chat", "messages"])
def test_a_timeout_customer_a_set_does_not_move_customer_bs_routing(
    api: Any, gateway: Gateway, floor: int, api_name: str
) -> None:
    attacker = gateway.create_customer("attacker")
    only_deepseek = {"only": ["deepseek"], "first_byte_timeout_ms": floor}
    # Given deepseek's shared capacity keeps silent for seconds on the next request
    gateway.sim.fail("deepseek", mode="timeout", delay=STALL_S, times=1)

    # When customer A cuts it with its own first-byte timeout (streamed; the same through /v1/messages)
    if api_name == "chat":
        cut = chat(api, attacker.api_key, stream=True, provider=only_deepseek)
    else:
        cut = messages(api, attacker.api_key, stream=True, provider=only_deepseek)
    assert cut.status_code == 504, cut.text
    assert attempts(api, attacker.api_key, cut) == [("deepseek", "shared", "timeout")]

    # Then customer B's next request still goes to deepseek, not to the dearer provider
    served = chat(api, gateway.api_key)
    assert served.status_code == 200, served.text
    assert served.json()["provider"] == "deepseek"
    assert attempts(api, gateway.api_key, served) == [("deepseek", "shared", "success")]


def test_the_operators_own_first_byte_timeout_still_marks_a_shared_provider(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the operator's default first-byte timeout, and deepseek silent for seconds on one request
    configure(monkeypatch, ATTEMPT_FIRST_BYTE_TIMEOUT_MS=str(FLOOR_MS))
    gateway.sim.fail("deepseek", mode="timeout", delay=STALL_S, times=1)

    first = chat(api, gateway.api_key)
    assert first.json()["provider"] == "google-vertex"

    # Then the provider that failed within the operator's timeout moves to the end for everyone
    other = gateway.create_customer("other")
    assert attempts(api, other.api_key, chat(api, other.api_key)) == [("google-vertex", "shared", "success")]


def test_byok_failures_do_not_mark_shared_health(api: Any, gateway: Gateway) -> None:
    attacker = gateway.create_customer("attacker")
    credentials = byok_credentials(gateway.sim, "deepseek")
    add_key(api.url, attacker.api_key, "deepseek", credentials)
    # Given A's own deepseek key answers 503 (and its shared fallback is there)
    gateway.sim.fail("deepseek", status=503, credential=credentials, times=3)
    for _ in range(3):
        failed_over = chat(api, attacker.api_key)
        assert attempts(api, attacker.api_key, failed_over)[0] == ("deepseek", "byok", "error")

    # Then B's request still goes to shared deepseek first
    served = chat(api, gateway.api_key)
    assert attempts(api, gateway.api_key, served) == [("deepseek", "shared", "success")]


def measure(api: Any, customer: Customer | Gateway, **provider: Any) -> None:
    response = chat(api, customer.api_key, provider=provider)
    assert response.status_code == 200, response.text


def test_slow_byok_calls_do_not_flip_bs_sort_by_latency_or_throughput(api: Any, gateway: Gateway) -> None:
    # Given B's measurements: shared deepseek fast, shared Vertex slow
    gateway.sim.fail("google-vertex", mode="slow", delay=0.5, times=1)  # far slower than a loaded machine's noise
    measure(api, gateway, order=["google-vertex"])
    measure(api, gateway, order=["deepseek"])
    for sort in ("latency", "throughput"):
        assert chat(api, gateway.api_key, provider={"sort": sort}).json()["provider"] == "deepseek"

    # When customer A makes six slow calls on its own deepseek key
    attacker = gateway.create_customer("attacker")
    credentials = byok_credentials(gateway.sim, "deepseek")
    add_key(api.url, attacker.api_key, "deepseek", credentials)
    gateway.sim.fail("deepseek", mode="slow", delay=2.0, credential=credentials, times=6)
    for _ in range(6):
        slow = chat(api, attacker.api_key)
        assert slow.json()["usage"]["is_byok"] is True

    # Then B's sort: latency and sort: throughput still put shared deepseek first
    for sort in ("latency", "throughput"):
        response = chat(api, gateway.api_key, provider={"sort": sort})
        assert response.json()["provider"] == "deepseek", sort


# --- what a cut attempt costs -------------------------------------------------------------------------------

LARGE_PROMPT = "lorem ipsum " * 62_500  # ~750 KB


def test_a_shared_attempt_cut_after_its_prompt_was_sent_is_billed_for_the_prompt(
    api: Any, gateway: Gateway, floor: int
) -> None:
    # Given deepseek's shared capacity takes the prompt and then says nothing for seconds
    gateway.sim.fail("deepseek", mode="timeout", delay=STALL_S, times=8)
    before = balance(api, gateway.api_key)

    # When eight large prompts are cut by the request's own first-byte timeout
    records = []
    for _ in range(8):
        cut = messages(
            api, gateway.api_key, content=LARGE_PROMPT, provider={"only": ["deepseek"], "first_byte_timeout_ms": floor}
        )
        assert cut.status_code == 504, cut.text
        records.append(get_log(api.url, gateway.api_key, cut.headers["x-request-id"]))

    # Then each is billed for its prompt, on the attempt and in the request's total, and the balance shows it
    for record in records:
        [attempt] = record["attempts"]
        assert (attempt["credential"], attempt["outcome"]) == ("shared", "timeout")
        assert attempt["cost"] > 0
        assert record["cost"] == pytest.approx(attempt["cost"])
    charged = sum(record["cost"] for record in records)
    assert charged > 1.0  # 8 x ~750k prompt tokens at deepseek's $0.28 per million (the hold's upper bound)
    assert balance(api, gateway.api_key) == pytest.approx(before - charged, abs=1e-6)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_shared_attempt_that_never_reached_the_upstream_is_free(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given deepseek's shared endpoint refuses connections (nothing listens)
    configure(monkeypatch, UPSTREAM_DEEPSEEK_URL=f"http://127.0.0.1:{closed_port()}")
    before = balance(api, gateway.api_key)

    # When a large prompt is sent there
    failed = messages(api, gateway.api_key, content=LARGE_PROMPT, provider={"only": ["deepseek"]})

    # Then the attempt failed before sending anything and costs nothing
    assert failed.status_code == 502, failed.text
    record = get_log(api.url, gateway.api_key, failed.headers["x-request-id"])
    assert [(a["outcome"], a["cost"]) for a in record["attempts"]] == [("connection_error", 0)]
    assert record["cost"] == 0
    assert balance(api, gateway.api_key) == pytest.approx(before)
