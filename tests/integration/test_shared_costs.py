"""What shared capacity forwards is what its hold covers; what it cannot cover becomes debt; a stream's deadline
holds whatever its client does (issue 18, findings 5 and 6).

Given moto's tables (the ``gateway`` fixture), the real handlers over HTTP like ``make dev`` (the ``api``
fixture) and the simulator, which serves the operator's shared keys and, when asked, a customer's BYOK key; an
armed pacing makes it report a large usage (``prompt_tokens``) or stream a long answer under sync control.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.billing import credits
from gateway.data import accounts, holds
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, get_log

CLAUDE = "anthropic/claude-sonnet-4.5"
ONLY_ANTHROPIC = {"provider": {"only": ["anthropic"]}}
HELLO = [{"role": "user", "content": "Say hello"}]
PDF_URL = "https://example.com/annual-report.pdf"


def messages(api: Any, api_key: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/messages",
        json={"model": CLAUDE, "max_tokens": 64, **ONLY_ANTHROPIC, **body},
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01", **(headers or {})},
        timeout=30,
    )


def chat(api: Any, api_key: str, **body: Any) -> httpx.Response:
    payload = {"model": CLAUDE, "messages": HELLO, "max_tokens": 16, **ONLY_ANTHROPIC, **body}
    return httpx.post(
        f"{api.url}/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def account(api: Any, api_key: str) -> dict[str, Any]:
    response = httpx.get(f"{api.url}/v1/account", headers={"Authorization": f"Bearer {api_key}"}, timeout=20)
    assert response.status_code == 200, response.text
    return dict(response.json())


def nanos(account_id: str) -> tuple[int, int]:
    """(balance, debt) in nano-USD, as stored."""
    item = accounts.profile_item(account_id)
    assert item is not None
    return int(item["credits_nanos"]), int(item.get("debt_nanos", 0))


def document(source: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "document", "source": source}, {"type": "text", "text": "Sum up"}]}


# Requests whose cost on the operator's key no hold can bound: (case, body, anthropic-beta, the field named).
UNPRICED: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("url document", {"messages": [document({"type": "url", "url": PDF_URL})]}, None, "messages"),
    (
        "file document",
        {"messages": [document({"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"})]},
        None,
        "messages",
    ),
    (
        "web search server tool",
        {"messages": HELLO, "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 50}]},
        None,
        "tools",
    ),
    (
        "code execution server tool",
        {"messages": HELLO, "tools": [{"type": "code_execution_20250522", "name": "code_execution"}]},
        None,
        "tools",
    ),
    (
        "mcp servers",
        {"messages": HELLO, "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "x"}]},
        "mcp-client-2025-04-04",
        "mcp_servers",
    ),
    ("container", {"messages": HELLO, "container": "container_011CQPX4xd8p7f9YGQhcVQzs"}, None, "container"),
]
IDS = [case for case, *_ in UNPRICED]


# --- what shared capacity forwards is priced or refused ------------------------------------------------------


@pytest.mark.parametrize(("case", "body", "beta", "param"), UNPRICED, ids=IDS)
def test_an_unpriceable_messages_request_is_refused_on_shared_capacity(
    api: Any, gateway: Gateway, case: str, body: dict[str, Any], beta: str | None, param: str
) -> None:
    # Given a customer with credits and no BYOK key
    before = nanos(gateway.customer.account_id)

    # When the request forwards something the operator's key would be billed for beyond any hold
    refused = messages(api, gateway.api_key, body, {"anthropic-beta": beta} if beta else None)

    # Then it is a 400 that says why and that a BYOK key serves it; nothing went upstream, nothing was charged
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "shared capacity" in error["message"] and "BYOK" in error["message"]
    assert error["message"].startswith(f"{param}: ")
    assert [r for r in gateway.sim.requests if r.provider == "anthropic"] == []
    assert nanos(gateway.customer.account_id) == before


@pytest.mark.parametrize(("case", "body", "beta", "param"), UNPRICED, ids=IDS)
def test_the_same_request_is_served_by_the_customers_byok_key(
    api: Any, gateway: Gateway, case: str, body: dict[str, Any], beta: str | None, param: str
) -> None:
    add_key(api.url, gateway.api_key, "anthropic", byok_credentials(gateway.sim, "anthropic"))

    served = messages(api, gateway.api_key, body, {"anthropic-beta": beta} if beta else None)

    assert served.status_code == 200, served.text
    assert served.headers["x-gateway-byok"] == "true"
    (sent,) = [r for r in gateway.sim.requests if r.provider == "anthropic"]
    assert sent.json["messages"] == body["messages"]  # the body went to the customer's own key as it was


def test_client_side_tools_stay_on_shared_capacity(api: Any, gateway: Gateway) -> None:
    tools = [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ]

    served = messages(api, gateway.api_key, {"messages": HELLO, "tools": tools})

    assert served.status_code == 200, served.text
    assert served.headers["x-gateway-byok"] == "false"


LONG_PROMPT = [{"role": "user", "content": "word " * 55_000}]  # 275 kB: a bound past the 200k-token tier
ONE_M = {"anthropic-beta": "context-1m-2025-08-07"}


def test_a_1m_context_request_is_held_at_the_long_context_rates(api: Any, gateway: Gateway) -> None:
    # Given a customer with $1: a 275k-token bound with 1,000 output tokens is $0.84 at Sonnet's base rates,
    # $1.67 at the long-context rates ($6 and $22.50 per million)
    customer = gateway.create_customer("long context", credits="1")

    refused = messages(api, customer.api_key, {"messages": LONG_PROMPT, "max_tokens": 1000}, ONE_M)
    without_beta = messages(api, customer.api_key, {"messages": LONG_PROMPT, "max_tokens": 1000})

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["type"] == "billing_error"
    assert without_beta.status_code == 200, without_beta.text  # below 200k tokens only with the beta's 1M window


def test_a_1m_context_request_past_200k_tokens_is_settled_at_the_long_context_rates(api: Any, gateway: Gateway) -> None:
    gateway.sim.pace("anthropic", prompt_tokens=300_000, times=2)

    long = messages(api, gateway.api_key, {"messages": LONG_PROMPT, "max_tokens": 1000}, ONE_M)
    base = messages(api, gateway.api_key, {"messages": LONG_PROMPT, "max_tokens": 1000})

    assert long.status_code == 200 and base.status_code == 200, (long.text, base.text)
    completion = long.json()["usage"]["output_tokens"]
    assert Decimal(long.headers["x-gateway-cost"]) == (300_000 * 6 + completion * Decimal("22.5")) / 10**6
    assert Decimal(base.headers["x-gateway-cost"]) == (300_000 * 3 + completion * 15) / Decimal(10**6)


def test_chat_web_search_is_refused_on_shared_capacity_and_served_by_byok(api: Any, gateway: Gateway) -> None:
    body = {"model": "openai/gpt-5-mini", "web_search_options": {}, "provider": {"only": ["openai"]}}

    refused = chat(api, gateway.api_key, **body)
    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    served = chat(api, gateway.api_key, **body)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "web_search_options"
    assert "BYOK" in refused.json()["error"]["message"]
    assert served.status_code == 200, served.text
    assert served.json()["usage"]["is_byok"] is True


# --- a settlement above the hold is debt ---------------------------------------------------------------------


def test_a_settlement_above_the_hold_is_recorded_as_debt(api: Any, gateway: Gateway) -> None:
    # Given a customer with $1 and an upstream that reports 2M prompt tokens ($6 at Sonnet's $3/M) for a
    # request whose hold covers a few words
    customer = gateway.create_customer("overrun", credits="1")
    gateway.sim.pace("anthropic", prompt_tokens=2_000_000, times=1)

    served = messages(api, customer.api_key, {"messages": HELLO, "max_tokens": 8})

    # Then the answer says what it cost, the balance paid what it had and the rest is debt, visible to the customer
    assert served.status_code == 200, served.text
    cost = Decimal(served.headers["x-gateway-cost"])
    assert cost > Decimal(6)
    shown = account(api, customer.api_key)
    assert shown["credits"] == 0
    assert Decimal(str(shown["debt"])) == cost - 1
    assert shown["shared_limit"] is None
    assert nanos(customer.account_id) == (0, round((cost - 1) * 10**9))
    assert get_log(api.url, customer.api_key, served.headers["x-request-id"])["cost"] == float(cost)


def in_debt(gateway: Gateway, owed: str = "2.5") -> Any:
    customer = gateway.create_customer("in debt", credits="3")
    assert holds.charge_over_hold(customer.account_id, accounts.to_nanos(Decimal(3) + Decimal(owed)))
    return customer


def test_an_account_in_debt_is_served_by_byok_only(api: Any, gateway: Gateway) -> None:
    customer = in_debt(gateway)

    refused = chat(api, customer.api_key)
    add_key(api.url, customer.api_key, "anthropic", byok_credentials(gateway.sim, "anthropic"))
    served = chat(api, customer.api_key)

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "account_in_debt"
    assert "debt" in refused.json()["error"]["message"] and "$2.5" in refused.json()["error"]["message"]
    assert served.status_code == 200 and served.json()["usage"]["is_byok"] is True
    shared = [r for r in gateway.sim.requests if r.credential != byok_credentials(gateway.sim, "anthropic")]
    assert shared == []  # no shared attempt was made


def test_an_account_in_debt_with_credits_left_is_still_byok_only(api: Any, gateway: Gateway) -> None:
    # Given an account whose overrun left debt while a hold elsewhere kept part of its balance
    customer = gateway.create_customer("owes but holds", credits="5")
    hold = credits.reserve(customer.account_id, Decimal("4"))
    assert hold is not None and holds.charge_over_hold(customer.account_id, accounts.to_nanos(Decimal("1.5")))
    credits.release(hold)
    assert nanos(customer.account_id) == (accounts.to_nanos(Decimal(4)), accounts.to_nanos(Decimal("0.5")))

    refused = messages(api, customer.api_key, {"messages": HELLO})

    assert refused.status_code == 402, refused.text
    assert "debt" in refused.json()["error"]["message"]


def test_add_credits_pays_the_debt_first(api: Any, gateway: Gateway) -> None:
    from local import admin

    customer = in_debt(gateway, owed="2.5")

    partly = admin.run(admin._parser().parse_args(["add-credits", "--account", customer.account_id, "--credits", "1"]))
    assert (partly["credits"], partly["debt"]) == (0, Decimal("1.5"))
    assert chat(api, customer.api_key).status_code == 402  # still in debt: still BYOK only

    paid = admin.run(admin._parser().parse_args(["add-credits", "--account", customer.account_id, "--credits", "4"]))

    assert (paid["credits"], paid["debt"]) == (Decimal("2.5"), 0)
    assert account(api, customer.api_key)["debt"] == 0
    served = chat(api, customer.api_key)
    assert served.status_code == 200 and served.json()["usage"]["is_byok"] is False


def test_no_concurrency_loses_a_charge_or_takes_the_balance_below_zero(
    gateway: Gateway, serialized_dynamodb: None
) -> None:
    # Given an account with $1 that 20 overrunning settlements ($0.30 each) and 10 top-ups ($0.20 each) race on
    customer = gateway.create_customer("race", credits="1")
    charge, top_up = accounts.to_nanos(Decimal("0.3")), Decimal("0.2")
    errors: list[BaseException] = []

    def overrun() -> None:
        try:
            assert holds.charge_over_hold(customer.account_id, charge)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def add() -> None:
        try:
            accounts.add_credits(customer.account_id, top_up)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=overrun) for _ in range(20)] + [threading.Thread(target=add) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every nano is accounted for: $1 + $2 added - $6 charged = -$3, so $3 of debt and a balance of 0
    assert errors == []
    balance, debt = nanos(customer.account_id)
    assert balance >= 0
    assert balance - debt == accounts.to_nanos(Decimal(1) + 10 * top_up) - 20 * charge


# --- a stream's deadline holds whatever the client does ------------------------------------------------------


def stalled_stream(api: Any, api_key: str, body: dict[str, Any]) -> socket.socket:
    """Send a streamed chat request from a client that never reads its answer (a tiny receive window)."""
    payload = json.dumps(body).encode()
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    client.connect(("127.0.0.1", api.port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    client.sendall(head.encode() + payload)
    return client


def test_a_stalled_reader_is_cut_at_the_deadline_billed_and_recorded_and_its_hold_outlives_the_function(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an 8 s request deadline (time for the simulator to fill the sockets even on a busy machine), a 620 s
    # function timeout, and a shared upstream whose answer (400,000 chunks, about 64 MB) is far more than the
    # sockets on its way can buffer: about 1 MB between the gateway and the client (its tiny window), and up to
    # tcp_rmem's and tcp_wmem's maxima between the simulator and the gateway (32 + 4 MB here: 50,000 chunks fit)
    configure(monkeypatch, REQUEST_DEADLINE_MS="8000", FUNCTION_TIMEOUT_S="620")
    customer = gateway.create_customer("stalls", credits="10")
    pacing = gateway.sim.pace("anthropic", chunks=400_000, times=1)
    body = {"model": CLAUDE, "messages": HELLO, "stream": True, **ONLY_ANTHROPIC}

    # When the client sends the request and never reads a byte of the answer
    client = stalled_stream(api, customer.api_key, body)
    try:
        # Then while it runs its hold cannot be swept at any moment the function may still be running
        hold = wait_for_hold(customer.account_id)
        assert hold["expires_at"] >= time.time() + 620
        profile = accounts.profile_item(customer.account_id)
        assert profile is not None and holds.expired_holds(profile, now=time.time() + 600) == {}

        # And the gateway ends the stream at the deadline without the client: settled, recorded, billed
        record = wait_for_record(api.url, customer.api_key)
    finally:
        client.close()
    assert record["status"] == "error"
    (attempt,) = record["attempts"]
    assert attempt["outcome"] == "stream_interrupted"
    assert "did not read" in attempt["error"]
    assert record["cost"] > 0
    balance, debt = nanos(customer.account_id)
    assert (balance, debt) == (accounts.to_nanos(Decimal(10)) - accounts.to_nanos(Decimal(str(record["cost"]))), 0)
    assert accounts.profile_item(customer.account_id)["holds"] == {}  # type: ignore[index]
    assert pacing.sent < 400_000  # the upstream read stopped with it


def wait_for_hold(account_id: str, wait_s: float = 20.0) -> dict[str, Any]:
    give_up = time.monotonic() + wait_s
    while time.monotonic() < give_up:
        item = accounts.profile_item(account_id) or {}
        holds = item.get("holds") or {}
        if holds:
            return dict(next(iter(holds.values())))
        time.sleep(0.02)
    raise AssertionError("no hold was taken")


def wait_for_record(base_url: str, api_key: str, wait_s: float = 30.0) -> dict[str, Any]:
    """The account's one request record, once the gateway has written it (the stream has ended)."""
    give_up = time.monotonic() + wait_s
    while time.monotonic() < give_up:
        listed = httpx.get(f"{base_url}/v1/logs", headers={"Authorization": f"Bearer {api_key}"}, timeout=20)
        assert listed.status_code == 200, listed.text
        if listed.json()["data"]:
            return get_log(base_url, api_key, listed.json()["data"][0]["request_id"])
        time.sleep(0.05)
    raise AssertionError("the stream was never ended: no request record")
