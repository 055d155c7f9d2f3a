"""No call of one test lands in the next: the simulator counts its calls in flight and can release them, and
the ``settled_simulator`` fixture (tests/conftest.py) does so after every test that used one.

These tests use the worker's session simulator (``sim`` in tests/conftest.py), the one every integration test
shares, each with a key of its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from local.simulator import ProviderSimulator

KEY = "sk-test-settle-0001"
PARK_S = 60.0  # a timeout fault's park: longer than any bound below, so only a release ends it in time
HELLO = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}


@pytest.fixture
def own_key(sim: ProviderSimulator) -> str:
    sim.accept_api_key("openai", KEY)
    return KEY


def chat(sim: ProviderSimulator, timeout: float = 5, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{sim.url}/openai/v1/chat/completions",
        json=HELLO | {"stream": stream},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=timeout,
    )


def until(condition: Callable[[], bool], within: float = 10) -> bool:
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def parked(sim: ProviderSimulator, own_key: str) -> threading.Thread:
    """A call parked in a timeout fault, its client still waiting for it in a thread."""
    sim.fail("openai", mode="timeout", delay=PARK_S, credential=own_key, times=1)
    answers: list[Any] = []
    client = threading.Thread(target=lambda: answers.append(chat(sim, timeout=PARK_S + 5)), daemon=True)
    client.start()
    assert until(lambda: sim.in_flight == 1)
    return client


def test_a_parked_call_is_in_flight_until_settle_releases_it(sim: ProviderSimulator, parked: threading.Thread) -> None:
    assert sim.requests == []  # recorded when answered

    assert sim.settle(10) is True

    assert sim.in_flight == 0
    assert [(r.credential, r.status) for r in sim.requests] == [(KEY, 200)]
    parked.join(10)
    assert not parked.is_alive()


def test_wait_idle_answers_at_once_when_nothing_is_in_flight(sim: ProviderSimulator) -> None:
    assert sim.in_flight == 0
    assert sim.wait_idle(0) is True
    assert sim.settle(0) is True


def test_wait_idle_is_bounded_while_a_call_is_parked(sim: ProviderSimulator, parked: threading.Thread) -> None:
    assert sim.wait_idle(0.05) is False
    assert sim.in_flight == 1


def test_a_settle_that_gives_up_leaves_later_calls_parking(sim: ProviderSimulator, own_key: str) -> None:
    """A call that no release ends (its client is still sending the body) outlasts the bound: the release is
    undone, or every timeout fault of the tests after it would answer at once."""
    head = b"POST /openai/v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Length: 100\r\n\r\n{"
    address = urlsplit(sim.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as uploading:
        uploading.sendall(head)
        assert until(lambda: sim.in_flight == 1)

        assert sim.settle(0.2) is False

        sim.fail("openai", mode="timeout", delay=PARK_S, credential=own_key, times=1)
        with pytest.raises(httpx.ReadTimeout):
            chat(sim, timeout=2)


def test_settle_releases_a_held_stream_whose_pacing_is_used_up(sim: ProviderSimulator, own_key: str) -> None:
    pacing = sim.pace("openai", credential=own_key, times=1, chunks=5, sync=True, hold_timeout=PARK_S)
    chunks: list[str] = []

    def read() -> None:
        with httpx.stream(
            "POST",
            f"{sim.url}/openai/v1/chat/completions",
            json=HELLO | {"stream": True},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=PARK_S + 5,
        ) as response:
            chunks.extend(response.iter_lines())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert until(lambda: pacing.snapshot()["sent"] == 1)  # chunk 2 is held, and the pacing is no longer armed
    assert sim.pacings("openai") == []

    assert sim.settle(10) is True

    reader.join(10)
    assert pacing.snapshot()["finished"] == 1
    assert [line for line in chunks if line][-1] == "data: [DONE]"


def test_the_control_api_reports_and_settles_the_calls_in_flight(
    sim: ProviderSimulator, parked: threading.Thread
) -> None:
    assert httpx.get(f"{sim.url}/_sim/in-flight").json() == {"in_flight": 1}

    settled = httpx.post(f"{sim.url}/_sim/settle", json={"timeout": 10}, timeout=15)

    assert settled.json() == {"settled": True, "in_flight": 0}
    assert httpx.get(f"{sim.url}/_sim/in-flight").json() == {"in_flight": 0}
    assert httpx.post(f"{sim.url}/_sim/settle", json={"timeout": -1}).status_code == 400


# --- the fixture: a test that ends with a call parked, and the next test on the same worker -------------------


@pytest.mark.xdist_group("simulator-settle")
def test_ends_with_its_call_parked_and_its_fault_armed(sim: ProviderSimulator, own_key: str) -> None:
    """Left behind: a call parked for a minute (its client gave up) and a timeout fault with no ``times``."""
    sim.fail("openai", mode="timeout", delay=PARK_S, credential=own_key)

    with pytest.raises(httpx.ReadTimeout):
        chat(sim, timeout=0.5)

    assert until(lambda: sim.in_flight == 1)


@pytest.mark.xdist_group("simulator-settle")
def test_the_next_test_finds_nothing_in_flight_recorded_or_armed(sim: ProviderSimulator, own_key: str) -> None:
    """Runs right after the one above on the same simulator; without the fixture the parked call is still in
    flight (and lands in this test's records when it is answered) and the old fault parks this test's call."""
    assert (sim.in_flight, sim.requests, sim.armed_faults()) == (0, [], [])
    sim.fail("openai", status=503, credential=own_key, times=1)

    assert chat(sim).status_code == 503
    assert chat(sim).status_code == 200

    assert sim.wait_idle(10)
    assert [(r.credential, r.status) for r in sim.requests] == [(KEY, 503), (KEY, 200)]
