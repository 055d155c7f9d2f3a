"""One path to every upstream: each route that reaches a provider does so only through ``routing.run_attempt``.

The transport refuses to send outside an attempt (``transport.attempt``, entered by ``run_attempt`` alone), so
a route that bypassed it would fail outright; this test also proves the converse for each route: it reached the
upstream, every transport call it made was inside an attempt, and the simulator saw no request that did not
pass through the transport.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.providers import transport
from gateway.routing import attempt as routing
from local.apigw import Router
from tests.conftest import Gateway
from tests.integration.test_hostile_input import in_process

CLAUDE = "anthropic/claude-sonnet-4.5"
HI = [{"role": "user", "content": "hi"}]
KEY = "sk-one-path-key-000000000001"


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Counts of run_attempt calls and of transport calls, each with whether it was inside an attempt."""
    seen: dict[str, list[Any]] = {"attempts": [], "transport": []}
    run_attempt, check = routing.run_attempt, transport._check_attempt

    def counted_attempt(*args: Any, **kwargs: Any) -> Any:
        seen["attempts"].append(args[2].provider)
        return run_attempt(*args, **kwargs)

    def counted_check() -> None:
        seen["transport"].append(transport._IN_ATTEMPT.get())
        check()

    monkeypatch.setattr(routing, "run_attempt", counted_attempt)
    monkeypatch.setattr(transport, "_check_attempt", counted_check)
    for module in ("gateway.routing.engine",):  # the name the engine imported
        monkeypatch.setattr(f"{module}.run_attempt", counted_attempt)
    return seen


ROUTES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "chat": ("POST", "/v1/chat/completions", {"model": "openai/gpt-5-mini", "messages": HI}),
    "chat stream": ("POST", "/v1/chat/completions", {"model": "openai/gpt-5-mini", "messages": HI, "stream": True}),
    "messages": ("POST", "/v1/messages", {"model": CLAUDE, "max_tokens": 8, "messages": HI}),
    "messages stream": ("POST", "/v1/messages", {"model": CLAUDE, "max_tokens": 8, "messages": HI, "stream": True}),
    "count_tokens": ("POST", "/v1/messages/count_tokens", {"model": CLAUDE, "messages": HI}),
    "vertex via oauth": (
        "POST",
        "/v1/chat/completions",
        {"model": "google/gemini-3-flash", "messages": HI, "provider": {"only": ["google-vertex"]}},
    ),
    "key test": ("POST", "/v1/byok/keys/{key_id}/test", {}),
    "create with test": (
        "POST",
        "/v1/byok/keys",
        {"provider": "deepseek", "credentials": KEY, "test": True},
    ),
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_reaches_the_upstream_only_through_run_attempt(
    route: str, gateway: Gateway, spied: dict[str, list[Any]]
) -> None:
    # Given the HTTP API and, for a key test, a stored key
    gateway.sim.accept_api_key("deepseek", KEY)
    http = httpx.Client(
        transport=in_process(Router.from_template(stage="test")),
        base_url="https://gateway.test",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=30,
    )
    method, path, body = ROUTES[route]
    if "{key_id}" in path:
        stored = http.post("/v1/byok/keys", json={"provider": "deepseek", "credentials": KEY})
        path = path.format(key_id=stored.json()["id"])
    gateway.sim.clear_requests()
    spied["attempts"].clear()
    spied["transport"].clear()

    # When the route is called
    answer = http.request(method, path, json=body)
    answer.read()

    # Then it reached the upstream, through run_attempt only: every transport call inside an attempt, and no
    # request reached the simulator that did not go through the transport
    assert answer.status_code in (200, 201), answer.text
    assert spied["attempts"], "the route never called run_attempt"
    assert gateway.sim.requests, "the route never reached an upstream"
    assert all(spied["transport"]) and len(spied["transport"]) == len(gateway.sim.requests)
