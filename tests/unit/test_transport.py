"""The shared upstream pool keeps no per-customer state between requests."""

from __future__ import annotations

import httpx

from gateway.providers import transport


def test_a_cookie_set_by_an_upstream_is_never_sent_with_the_next_request() -> None:
    # Given an upstream that sets a session cookie on one customer's request
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"set-cookie": "session=customer-a; Path=/"}, json={})

    client = transport.new_client(httpx.MockTransport(upstream))

    # When the next request (another customer's) goes to the same host through the same pool
    client.post("https://api.example.com/v1/chat/completions", headers={"authorization": "Bearer a"})
    client.post("https://api.example.com/v1/chat/completions", headers={"authorization": "Bearer b"})

    # Then it carries no cookie of the first
    assert "cookie" not in seen[1].headers
    assert len(client.cookies) == 0


def test_redirects_are_not_followed() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": "https://elsewhere.example/steal"})

    response = transport.new_client(httpx.MockTransport(upstream)).get("https://api.example.com/")

    assert response.status_code == 307
