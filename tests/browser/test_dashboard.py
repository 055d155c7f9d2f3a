"""The dashboard in a real browser: sign-in, the BYOK page, the logs page, text-only rendering, keyboard use.

Given the dev stack's wiring (the ``dashboard`` fixture: real handlers over HTTP, moto, the strict simulator)
and Debian's chromium, each test drives the page the way a customer would, finding controls by role and
accessible name, and checks the result through the API itself.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Dashboard, save_log
from tests.integration.helpers import byok_credentials

pytestmark = pytest.mark.slow

XSS = '<img src=x onerror="window.__xss=1">'
PROVIDER_NAMES = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "deepseek": "DeepSeek",
    "google-ai-studio": "Google AI Studio",
    "amazon-bedrock": "Amazon Bedrock",
    "google-vertex": "Google Vertex AI",
}


def _keys(board: Dashboard) -> list[dict[str, Any]]:
    answer = board.api("GET", "/v1/byok/keys")
    assert answer.status_code == 200
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def _attempt(provider: str, credential: str, status: int | None, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "credential": credential,
        "status_code": status,
        "outcome": outcome,
        "latency_ms": extra.pop("latency_ms", 40),
        **extra,
    }


# --- served by the stack ---------------------------------------------------------------------------------


def test_page_and_assets_carry_a_strict_policy(api: Any) -> None:
    page = httpx.get(f"{api.url}/dashboard", timeout=10)
    script = httpx.get(f"{api.url}/dashboard/app.js", timeout=10)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert script.headers["content-type"].startswith("text/javascript")
    for answer in (page, script):
        policy = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"
        assert directives["connect-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in policy and "http" not in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-request-id"]
    # Nothing inline: the one script is a file of this origin, no element carries an event handler attribute
    assert re.findall(r"<script[^>]*>", page.text) == ['<script type="module" src="dashboard/app.js">']
    assert re.findall(r"<[^>]*\son[a-z]+=", page.text) == []


def test_unknown_assets_are_404_and_only_the_stage_relative_page_is_html(api: Any) -> None:
    assert httpx.get(f"{api.url}/dashboard/nope.js", timeout=10).status_code == 404
    assert httpx.get(f"{api.url}/dashboard/index.html", timeout=10).status_code == 404
    assert httpx.get(f"{api.url}/dashboard/..%2Ftemplate.yaml", timeout=10).status_code == 404
    cached = httpx.get(f"{api.url}/dashboard/style.css", timeout=10)
    again = httpx.get(f"{api.url}/dashboard/style.css", headers={"If-None-Match": cached.headers["etag"]}, timeout=10)
    assert again.status_code == 304


def test_page_works_under_a_stage_path(dashboard: Dashboard) -> None:
    # Given the stack reached only under /Prod/ (as API Gateway serves a stage), every other path refused
    page = dashboard.page
    prefix = f"{dashboard.origin}/Prod/"
    outside: list[str] = []

    def through_stage(route: Any) -> None:
        url = route.request.url
        if not url.startswith(prefix):
            outside.append(url)
            route.abort()
            return
        route.fulfill(response=route.fetch(url=dashboard.origin + "/" + url[len(prefix) :]))

    page.route(f"{dashboard.origin}/**", through_stage)

    # When the customer opens /Prod/dashboard and signs in
    page.goto(prefix + "dashboard")
    page.get_by_label("Gateway API key").fill(dashboard.gateway.api_key)
    page.get_by_role("button", name="Sign in").click()

    # Then the providers load: every asset and API call went through the stage path
    expect(page.get_by_role("button", name="Add OpenAI key")).to_be_visible()
    assert outside == []
    assert any("/Prod/v1/byok/providers" in url for url in dashboard.requests)


# --- sign-in ---------------------------------------------------------------------------------------------


def test_sign_in_keeps_the_key_in_session_storage_only(dashboard: Dashboard) -> None:
    dashboard.sign_in()
    page = dashboard.page

    stored = page.evaluate("() => ({session: {...sessionStorage}, local: {...localStorage}})")
    assert list(stored["session"].values()) == [dashboard.gateway.api_key]
    assert stored["local"] == {}
    assert page.context.cookies() == []
    assert dashboard.gateway.api_key not in page.url
    assert all(dashboard.gateway.api_key not in url for url in dashboard.requests)
    for name in PROVIDER_NAMES.values():
        expect(page.get_by_role("button", name=f"Add {name} key")).to_be_visible()


def test_header_shows_credits_and_key_count(dashboard: Dashboard) -> None:
    dashboard.add_key_via_api("deepseek", "sk-header-count-0001", name="one")
    dashboard.sign_in()

    account = dashboard.api("GET", "/v1/account").json()
    header = dashboard.page.get_by_role("banner")
    expect(header.get_by_text(f"${account['credits']:.2f}")).to_be_visible()
    expect(header.get_by_text(f"1 of {account['keys']['limit']}")).to_be_visible()


def test_header_shows_the_debt_beside_the_credits(dashboard: Dashboard) -> None:
    from gateway.data import accounts, holds

    # Given an account whose $10 did not cover a settlement of $12.50 (the rest is debt)
    account_id = dashboard.gateway.customer.account_id
    assert holds.charge_over_hold(account_id, accounts.to_nanos(Decimal("12.5")))

    dashboard.sign_in()

    header = dashboard.page.get_by_role("banner")
    expect(header.get_by_text("Debt")).to_be_visible()
    expect(header.get_by_text("$2.50")).to_be_visible()
    expect(header.get_by_text("$0", exact=True)).to_be_visible()


def test_no_debt_shows_no_debt_entry(dashboard: Dashboard) -> None:
    dashboard.sign_in()

    expect(dashboard.page.get_by_role("banner").get_by_text("Debt")).to_be_hidden()


def test_a_wrong_key_stays_on_sign_in(dashboard: Dashboard) -> None:
    page = dashboard.page
    dashboard.open()
    page.get_by_label("Gateway API key").fill("gwk_0000000000000000_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    expect(page.get_by_role("link", name="BYOK")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_a_401_later_returns_to_sign_in(dashboard: Dashboard) -> None:
    # Given a signed-in page whose key stops working (revoked, say)
    dashboard.sign_in()
    page = dashboard.page
    page.evaluate(
        "(key) => { for (const name of Object.keys(sessionStorage)) sessionStorage.setItem(name, key) }",
        "gwk_0000000000000000_revoked",
    )

    # When the next call answers 401
    page.get_by_role("link", name="Logs").click()

    # Then the page is back on sign-in, without the key
    expect(page.get_by_label("Gateway API key")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("sign in again")
    assert page.evaluate("() => sessionStorage.length") == 0


# --- BYOK page -------------------------------------------------------------------------------------------


def test_add_with_a_passing_test_lists_the_key(dashboard: Dashboard) -> None:
    # Given credentials the provider accepts
    dashboard.gateway.sim.accept_api_key("openai", "sk-dash-good-0001")
    dashboard.sign_in()
    page = dashboard.page

    # When the customer adds them with the dialog's defaults
    page.get_by_role("button", name="Add OpenAI key").click()
    dialog = page.get_by_role("dialog", name="Add OpenAI key")
    expect(dialog.get_by_role("switch", name="Enabled")).to_be_checked()
    expect(dialog.get_by_role("checkbox", name="Always use this key")).not_to_be_checked()
    expect(dialog.get_by_label("Region")).to_have_count(0)
    dialog.get_by_label("Credentials").fill("sk-dash-good-0001")
    dialog.get_by_label("Name").fill("prod openai")
    dialog.get_by_role("button", name="Test Connection").click()

    # Then the dialog closes and the key is listed with its hint and passing test, stored as tested
    expect(dialog).to_be_hidden()
    row = dashboard.key_row("prod openai")
    expect(row).to_contain_text("OpenAI")
    expect(row).to_contain_text("0001")
    expect(row).to_contain_text("Passed")
    (key,) = _keys(dashboard)
    assert key["name"] == "prod openai" and key["enabled"] is True and key["last_test"]["ok"] is True
    assert "sk-dash-good-0001" not in page.content()


def test_add_with_a_failing_test_keeps_the_dialog_and_stores_nothing(dashboard: Dashboard) -> None:
    dashboard.sign_in()
    page = dashboard.page

    page.get_by_role("button", name="Add Anthropic key").click()
    dialog = page.get_by_role("dialog", name="Add Anthropic key")
    dialog.get_by_label("Credentials").fill("sk-ant-dash-rejected-0002")
    dialog.get_by_role("button", name="Test Connection").click()

    error = dialog.get_by_role("alert")
    expect(error).to_contain_text("Connection test failed; nothing was stored.")
    expect(error).to_contain_text("401")
    expect(dialog).to_be_visible()
    assert _keys(dashboard) == []
    assert "sk-ant-dash-rejected-0002" not in error.inner_text()

    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()


def test_dialog_fields_follow_the_provider(dashboard: Dashboard) -> None:
    dashboard.sign_in()
    page = dashboard.page

    page.get_by_role("button", name="Add Amazon Bedrock key").click()
    bedrock = page.get_by_role("dialog", name="Add Amazon Bedrock key")
    expect(bedrock.get_by_label("Region")).to_be_visible()
    expect(bedrock).to_contain_text("Bedrock API key")
    expect(bedrock).to_contain_text("accessKeyId")
    expect(bedrock.get_by_label("Provisioned throughput")).to_have_count(0)
    bedrock.get_by_role("button", name="Cancel").click()

    page.get_by_role("button", name="Add Google Vertex AI key").click()
    vertex = page.get_by_role("dialog", name="Add Google Vertex AI key")
    expect(vertex.get_by_label("Region")).to_be_visible()
    expect(vertex.get_by_role("checkbox", name="Provisioned throughput")).not_to_be_checked()
    expect(vertex).to_contain_text("service-account JSON")
    expect(vertex.get_by_role("switch", name="Enabled")).to_be_checked()


def test_vertex_service_account_with_region_and_provisioned_throughput(dashboard: Dashboard) -> None:
    info = byok_credentials(dashboard.gateway.sim, "google-vertex")
    dashboard.sign_in()
    page = dashboard.page
    page.get_by_role("button", name="Add Google Vertex AI key").click()
    dialog = page.get_by_role("dialog", name="Add Google Vertex AI key")
    dialog.get_by_label("Credentials").fill(json.dumps(info, indent=2))
    dialog.get_by_label("Name").fill("vertex pt")
    dialog.get_by_label("Region").fill("europe-west4")
    dialog.get_by_role("checkbox", name="Provisioned throughput").check()
    dialog.get_by_role("checkbox", name="Always use this key").check()
    dialog.get_by_role("button", name="Test Connection").click()

    expect(dialog).to_be_hidden()
    (key,) = _keys(dashboard)
    assert (key["region"], key["provisioned_throughput"], key["always_use"]) == ("europe-west4", True, True)


def test_enabled_switch_takes_effect_at_once(dashboard: Dashboard) -> None:
    dashboard.add_key_via_api("deepseek", "sk-dash-toggle-0003", name="toggle me")
    dashboard.sign_in()

    switch = dashboard.key_row("toggle me").get_by_role("switch", name="Enabled")
    expect(switch).to_be_checked()
    switch.uncheck()
    expect(dashboard.page.get_by_role("status").first).to_contain_text("disabled")
    assert _keys(dashboard)[0]["enabled"] is False

    switch.check()
    expect(dashboard.page.get_by_role("status").first).to_contain_text("enabled")
    assert _keys(dashboard)[0]["enabled"] is True


def test_delete_asks_first(dashboard: Dashboard) -> None:
    dashboard.add_key_via_api("deepseek", "sk-dash-delete-0004", name="doomed")
    dashboard.sign_in()
    page = dashboard.page

    dashboard.key_row("doomed").get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("alertdialog", name="Delete key")
    expect(confirm).to_contain_text("doomed")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert len(_keys(dashboard)) == 1

    dashboard.key_row("doomed").get_by_role("button", name="Delete").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(dashboard.key_row("doomed")).to_have_count(0)
    assert _keys(dashboard) == []


def test_test_button_records_the_result(dashboard: Dashboard) -> None:
    dashboard.gateway.sim.accept_api_key("deepseek", "sk-dash-test-0005")
    dashboard.add_key_via_api("deepseek", "sk-dash-test-0005", name="tested")
    dashboard.sign_in()
    row = dashboard.key_row("tested")
    expect(row).to_contain_text("Never tested")

    row.get_by_role("button", name="Test").click()

    expect(row).to_contain_text("Passed")
    assert _keys(dashboard)[0]["last_test"]["ok"] is True


def test_rotate_replaces_credentials_only_after_they_pass(dashboard: Dashboard) -> None:
    # Given a stored key
    dashboard.gateway.sim.accept_api_key("openai", "sk-dash-rotate-new-0007")
    original = dashboard.add_key_via_api("openai", "sk-dash-rotate-old-0006", name="rotating")
    dashboard.sign_in()
    page = dashboard.page
    row = dashboard.key_row("rotating")

    # When new credentials fail their test, nothing changes
    row.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("dialog", name="Rotate rotating")
    dialog.get_by_label("Credentials").fill("sk-dash-rotate-bad-0008")
    dialog.get_by_role("button", name="Test Connection").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Connection test failed")
    assert [(k["id"], k["hint"]) for k in _keys(dashboard)] == [(original["id"], original["hint"])]

    # When they pass, the same key now carries them
    dialog.get_by_label("Credentials").fill("sk-dash-rotate-new-0007")
    dialog.get_by_role("button", name="Test Connection").click()
    expect(dialog).to_be_hidden()
    (key,) = _keys(dashboard)
    assert key["id"] == original["id"]
    assert key["hint"] != original["hint"] and key["hint"].endswith("0007")
    expect(row).to_contain_text("0007")


# --- logs page -------------------------------------------------------------------------------------------


def _seed_logs(board: Dashboard) -> dict[str, str]:
    now = datetime.now(UTC)
    gateway = board.gateway
    return {
        "fallback": save_log(
            gateway,
            moment=now - timedelta(minutes=3),
            model="anthropic/claude-sonnet-4.5",
            cost="0.0021",
            api="responses",
            attempts=[
                _attempt("anthropic", "byok", 429, "error", key_id="key_x", error="rate limited by upstream"),
                _attempt("amazon-bedrock", "shared", 503, "error", error="service unavailable"),
                _attempt("google-vertex", "shared", 200, "success", latency_ms=420),
            ],
        ),
        "byok": save_log(
            gateway,
            moment=now - timedelta(minutes=2),
            model="openai/text-embedding-3-small",
            api="embeddings",
            attempts=[_attempt("openai", "byok", 200, "success")],
        ),
        "error": save_log(
            gateway,
            moment=now - timedelta(minutes=1),
            model="deepseek/deepseek-v3.2",
            attempts=[_attempt("deepseek", "shared", 500, "error", error="upstream exploded")],
        ),
    }


def test_logs_table_newest_first_with_the_attempt_chain(dashboard: Dashboard, usage_stream: Any) -> None:
    ids = _seed_logs(dashboard)
    usage_stream.flush()
    dashboard.sign_in()
    page = dashboard.page
    page.get_by_role("link", name="Logs").click()

    rows = page.locator("#log-rows tr[data-request-id]")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-request-id") for i in range(3)] == [
        ids["error"],
        ids["byok"],
        ids["fallback"],
    ]
    expect(rows.nth(0)).to_contain_text("deepseek/deepseek-v3.2")
    expect(rows.nth(0)).to_contain_text("Error 500")
    expect(rows.nth(1)).to_contain_text("BYOK")
    expect(rows.nth(1).get_by_role("cell").nth(1)).to_have_text("embeddings")
    expect(rows.nth(0).get_by_role("cell").nth(1)).to_have_text("chat")
    expect(rows.nth(2)).to_contain_text("google-vertex")
    expect(rows.nth(2)).to_contain_text("Shared")
    expect(rows.nth(2)).to_contain_text("12 → 30")
    expect(rows.nth(2)).to_contain_text("$0.0021")

    # When the customer selects the request that fell back twice
    rows.nth(2).get_by_role("button").click()

    # Then the Attempts region names the API it came through and lists the chain in order
    region = page.get_by_role("region", name="Attempts")
    expect(region).to_contain_text("Responses · anthropic/claude-sonnet-4.5 · 3 attempts")
    attempts = region.locator("tbody tr")
    expect(attempts).to_have_count(3)
    expected = [
        ("anthropic", "BYOK", "429", "rate limited by upstream"),
        ("amazon-bedrock", "Shared", "503", "service unavailable"),
        ("google-vertex", "Shared", "200", "420 ms"),
    ]
    for index, texts in enumerate(expected):
        for text in texts:
            expect(attempts.nth(index)).to_contain_text(text)

    # And the chart counts the last 24 hours, BYOK and shared apart
    expect(page.locator("#chart-summary")).to_contain_text("3 requests in the last 24 hours: 1 BYOK, 2 shared")
    expect(page.get_by_role("img", name=re.compile("3 requests"))).to_be_visible()


def test_each_attempt_shows_the_model_it_was_for(dashboard: Dashboard) -> None:
    # Given a request whose first model failed and whose fallback model served
    save_log(
        dashboard.gateway,
        model="openai/gpt-5-mini",
        attempts=[
            _attempt("openai", "shared", 503, "error", model="openai/gpt-5-mini", error="overloaded"),
            _attempt("openai", "shared", 200, "success", model="openai/gpt-5-nano"),
        ],
    )
    dashboard.sign_in()
    dashboard.page.get_by_role("link", name="Logs").click()
    dashboard.page.locator("#log-rows tr[data-request-id]").first.get_by_role("button").click()

    attempts = dashboard.page.get_by_role("region", name="Attempts").locator("tbody tr")
    expect(attempts.nth(0)).to_contain_text("openai/gpt-5-mini")
    expect(attempts.nth(1)).to_contain_text("openai/gpt-5-nano")


def test_filters_ask_the_api_and_show_only_matches(dashboard: Dashboard) -> None:
    ids = _seed_logs(dashboard)
    dashboard.sign_in()
    page = dashboard.page
    page.get_by_role("link", name="Logs").click()
    rows = page.locator("#log-rows tr[data-request-id]")
    expect(rows).to_have_count(3)

    def shown() -> list[str | None]:
        return [rows.nth(i).get_attribute("data-request-id") for i in range(rows.count())]

    page.get_by_role("button", name="BYOK", exact=True).click()
    expect(rows).to_have_count(1)
    assert shown() == [ids["byok"]]
    expect(page.get_by_role("button", name="BYOK", exact=True)).to_have_attribute("aria-pressed", "true")

    page.get_by_role("button", name="Shared", exact=True).click()
    expect(rows).to_have_count(2)
    assert shown() == [ids["error"], ids["fallback"]]

    page.get_by_role("button", name="Errors").click()
    expect(rows).to_have_count(1)
    assert shown() == [ids["error"]]
    assert any("is_byok=false" in url and "status=error" in url for url in dashboard.requests)


def test_load_more_follows_the_cursor(dashboard: Dashboard) -> None:
    now = datetime.now(UTC)
    for minute in range(30):
        save_log(
            dashboard.gateway,
            moment=now - timedelta(minutes=minute),
            attempts=[_attempt("openai", "shared", 200, "success")],
        )
    dashboard.sign_in()
    page = dashboard.page
    page.get_by_role("link", name="Logs").click()
    rows = page.locator("#log-rows tr[data-request-id]")
    expect(rows).to_have_count(25)

    page.get_by_role("button", name="Load more").click()

    expect(rows).to_have_count(30)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    ids = [rows.nth(i).get_attribute("data-request-id") for i in range(30)]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 30


# --- text, never markup ----------------------------------------------------------------------------------


def test_markup_from_the_api_shows_as_text(dashboard: Dashboard) -> None:
    # Given a key name and an upstream error that are HTML
    dashboard.add_key_via_api("deepseek", "sk-dash-xss-00009", name=XSS)
    save_log(
        dashboard.gateway, attempts=[_attempt("openai", "byok", 500, "error", key_id="k", error=f"upstream said {XSS}")]
    )
    dashboard.sign_in()
    page = dashboard.page

    # Then the name is shown literally, on the BYOK page and in the delete confirmation
    expect(page.get_by_role("cell", name=XSS, exact=True)).to_be_visible()
    dashboard.key_row(XSS).get_by_role("button", name="Delete").click()
    expect(page.get_by_role("alertdialog")).to_contain_text(XSS)
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel").click()

    # And so is the upstream error in the Attempts region
    page.get_by_role("link", name="Logs").click()
    page.locator("#log-rows tr[data-request-id]").first.get_by_role("button").click()
    expect(page.get_by_role("region", name="Attempts")).to_contain_text(f"upstream said {XSS}")

    # And no element was made of it, no handler ran
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => window.__xss") is None


def test_failed_test_error_text_is_not_markup(dashboard: Dashboard) -> None:
    dashboard.sign_in()
    page = dashboard.page
    body = {
        "error": {
            "message": "connection test failed; the key was not stored",
            "type": "invalid_request_error",
            "code": "key_test_failed",
            "param": None,
            "test": {
                "ok": False,
                "provider": "openai",
                "model": "gpt-5-nano",
                "latency_ms": 5,
                "error": {"status_code": 400, "message": XSS},
            },
        }
    }
    page.route(
        "**/v1/byok/keys",
        lambda route: route.fulfill(status=422, json=body) if route.request.method == "POST" else route.fallback(),
    )

    page.get_by_role("button", name="Add OpenAI key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Credentials").fill("sk-anything-0010")
    dialog.get_by_role("button", name="Test Connection").click()

    expect(dialog.get_by_role("alert")).to_contain_text(XSS)
    assert dialog.locator("img").count() == 0
    assert page.evaluate("() => window.__xss") is None


# --- keyboard only ---------------------------------------------------------------------------------------


def _tab_to(page: Any, accessible: str, limit: int = 80, prefix: bool = False) -> None:
    """Press Tab until the focused element's text or label is ``accessible`` (or starts with it)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = page.evaluate(
            """() => { const el = document.activeElement;
                 return (el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].textContent)
                         || el.textContent || '').trim(); }"""
        )
        if name == accessible or (prefix and name.startswith(accessible)):
            return
    raise AssertionError(f"Tab never reached {accessible!r}")


def _unlabelled_controls(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('button, input, textarea, select, a[href]')]
             .filter(el => el.getClientRects().length > 0)
             .filter(el => {
               const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                 || (el.labels && el.labels.length > 0) || (el.textContent || '').trim();
               return !named; })
             .map(el => el.outerHTML.slice(0, 80))"""
    )


def test_everything_works_from_the_keyboard(dashboard: Dashboard) -> None:
    dashboard.gateway.sim.accept_api_key("openai", "sk-dash-keyboard-0011")
    save_log(dashboard.gateway, attempts=[_attempt("openai", "shared", 200, "success")])
    page = dashboard.page
    dashboard.open()

    # Sign in: Tab to the key, type it, Enter
    _tab_to(page, "Gateway API key")
    page.keyboard.type(dashboard.gateway.api_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Add OpenAI key")).to_be_visible()
    assert _unlabelled_controls(page) == []

    # Add a key: open the dialog, fill it, Test Connection, all with keys
    _tab_to(page, "Add OpenAI key")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add OpenAI key")
    expect(dialog.get_by_label("Credentials")).to_be_focused()
    assert _unlabelled_controls(page) == []
    page.keyboard.type("sk-dash-keyboard-0011")
    _tab_to(page, "Name")
    page.keyboard.type("typed")
    _tab_to(page, "Test Connection")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    # Toggle it off with Space on its switch
    _tab_to(page, "Enabled")
    page.keyboard.press("Space")
    expect(page.get_by_role("status").first).to_contain_text("disabled")
    assert _keys(dashboard)[0]["enabled"] is False

    # Test from the keyboard: the list is redrawn and focus lands on the new row's Test button, not the page
    _tab_to(page, "Test")
    page.evaluate("() => { document.activeElement.dataset.before = 'yes' }")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.activeElement.textContent === 'Test' && !document.activeElement.dataset.before"
    )

    # Escape closes a dialog
    _tab_to(page, "Delete")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alertdialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_be_hidden()

    # Logs: follow the link, open a request's attempts
    page.keyboard.press("Shift+Tab")
    page.get_by_role("link", name="Logs").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#log-rows tr[data-request-id]")).to_have_count(1)
    _tab_to(page, "Errors")
    _tab_to(page, "Attempts of the request at", prefix=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("region", name="Attempts")).to_be_visible()
    assert _unlabelled_controls(page) == []


def test_api_keys_page_creates_a_key_shown_once_with_limits_and_revokes_after_confirmation(
    dashboard: Dashboard,
) -> None:
    dashboard.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard.origin)
    dashboard.sign_in()
    page = dashboard.page
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("billing service")
    page.get_by_label("Budget (USD)").fill("5")
    page.get_by_label("Budget period").select_option("day")
    page.get_by_label("Requests per minute").fill("60")
    page.get_by_label("Allowed models").fill("openai/gpt-5-mini, claude-sonnet-4-5")
    page.get_by_role("button", name="Create key").click()

    shown = page.get_by_label("The new key")
    expect(shown).to_have_value(re.compile(r"^gwk_"))
    key = shown.input_value()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="billing service", exact=True))
    expect(row).to_contain_text("$0 of $5.00 per day")
    expect(row).to_contain_text("60 / min")
    expect(row).to_contain_text("openai/gpt-5-mini, anthropic/claude-sonnet-4.5")
    assert key not in page.get_by_role("table").inner_text(), "the list never shows a key"
    with httpx.Client(base_url=dashboard.origin, headers={"Authorization": f"Bearer {key}"}) as service:
        assert service.get("/v1/logs").status_code == 200

        row.get_by_role("button", name="Revoke").click()
        confirm = page.get_by_role("alertdialog", name="Revoke key")
        expect(confirm).to_contain_text("billing service")
        confirm.get_by_role("button", name="Cancel").click()
        expect(confirm).to_be_hidden()
        assert service.get("/v1/logs").status_code == 200
        row.get_by_role("button", name="Revoke").click()
        confirm.get_by_role("button", name="Revoke").click()
        expect(row).to_have_count(0)
        assert service.get("/v1/logs").status_code == 401


def test_an_ordinary_key_sees_why_it_cannot_manage_api_keys(dashboard: Dashboard) -> None:
    created = httpx.post(
        f"{dashboard.origin}/v1/api-keys",
        json={"name": "ci"},
        headers={"Authorization": f"Bearer {dashboard.gateway.api_key}"},
    ).json()
    dashboard.sign_in(created["key"])
    dashboard.page.get_by_role("link", name="API keys").click()
    expect(dashboard.page.get_by_text("sign in with a management key")).to_be_visible()


def test_the_byok_dialog_sets_priority_and_allowed_models(dashboard: Dashboard) -> None:
    dashboard.gateway.sim.accept_api_key("openai", "sk-dash-fallback-0009")
    dashboard.sign_in()
    page = dashboard.page
    page.get_by_role("button", name="Add OpenAI key").click()
    dialog = page.get_by_role("dialog", name="Add OpenAI key")
    expect(dialog.get_by_label("Priority")).to_have_value("first")
    dialog.get_by_label("Credentials").fill("sk-dash-fallback-0009")
    dialog.get_by_label("Name").fill("fallback openai")
    dialog.get_by_label("Priority").select_option("after_shared")
    dialog.get_by_label("Allowed models").fill("openai/gpt-5-mini")
    dialog.get_by_role("button", name="Test Connection").click()
    expect(dialog).to_be_hidden()

    [key] = _keys(dashboard)
    assert (key["priority"], key["allowed_models"]) == ("after_shared", ["openai/gpt-5-mini"])
