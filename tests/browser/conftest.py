"""A real browser on the dashboard: Debian's chromium through Playwright, against the dev stack's wiring.

One browser per test session (per xdist worker); each test gets a fresh context (empty sessionStorage) and a
fresh stack from the ``api`` fixture (moto, the simulator in strict mode, the real handlers over HTTP). Every
test also checks, when it ends, that the page asked nothing of another origin and raised no script error.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Gateway

VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from local.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@dataclass
class Dashboard:
    """The page under test plus direct access to the same API, for setting up and checking state."""

    page: Any
    origin: str
    gateway: Gateway
    requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.origin}/dashboard"

    def api(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.gateway.api_key}"}
        return httpx.request(method, f"{self.origin}{path}", headers=headers, timeout=20, **kwargs)

    def open(self, hash_: str = "") -> None:
        self.page.goto(self.url + hash_)

    def sign_in(self, key: str | None = None) -> None:
        self.open()
        self.page.get_by_label("Gateway API key").fill(key or self.gateway.api_key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("link", name="BYOK").wait_for()

    def add_key_via_api(self, provider: str, credentials: Any, name: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"provider": provider, "credentials": credentials, **extra}
        if name is not None:
            body["name"] = name
        answer = self.api("POST", "/v1/byok/keys", json=body)
        assert answer.status_code == 201, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def key_row(self, name: str) -> Any:
        return self.page.get_by_role("row").filter(has=self.page.get_by_role("cell", name=name, exact=True))


def request_id_at(moment: datetime) -> str:
    return f"req_{int(moment.timestamp() * 1000):012x}{secrets.token_hex(8)}"


def save_log(
    gateway: Gateway,
    *,
    moment: datetime | None = None,
    model: str = "openai/gpt-5-mini",
    attempts: list[dict[str, Any]],
    cost: str = "0",
    prompt_tokens: int = 12,
    completion_tokens: int = 30,
    api: Literal["chat", "messages", "responses"] = "chat",
) -> str:
    """Store one request record the way the chat function does (or the front door ``api`` names), with the given
    attempt chain."""
    from gateway.logs import AttemptRecord, RequestRecord, save_request

    moment = moment or datetime.now(UTC)
    served = next((a for a in attempts if a["outcome"] == "success"), None)
    record = RequestRecord(
        request_id=request_id_at(moment),
        account_id=gateway.customer.account_id,
        created_at=moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        model=model,
        provider=served["provider"] if served else None,
        is_byok=bool(served and served["credential"] == "byok"),
        status="success" if served else "error",
        http_status=200 if served else int(attempts[-1]["status_code"] or 502),
        latency_ms=sum(a["latency_ms"] for a in attempts),
        prompt_tokens=prompt_tokens if served else 0,
        completion_tokens=completion_tokens if served else 0,
        cost=Decimal(cost),
        stream=False,
        api=api,
        attempts=[
            AttemptRecord(
                attempt=index,
                provider=a["provider"],
                credential=a["credential"],
                key_id=a.get("key_id"),
                status_code=a["status_code"],
                outcome=a["outcome"],
                error=a.get("error"),
                latency_ms=a["latency_ms"],
                model=a.get("model", model),
            )
            for index, a in enumerate(attempts, start=1)
        ],
    )
    save_request(record)
    return record.request_id


@pytest.fixture
def dashboard(browser: Any, api: Any, gateway: Gateway) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=VIEWPORT, base_url=api.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    board = Dashboard(page=page, origin=api.url, gateway=gateway)
    page.on("request", lambda request: board.requests.append(request.url))
    page.on("pageerror", lambda error: board.script_errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            board.script_errors.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    yield board
    context.close()
    origin = urlsplit(api.url)
    foreign = [url for url in board.requests if urlsplit(url)[:2] != origin[:2]]
    assert foreign == [], "the page called another origin"
    assert board.script_errors == [], "script errors or CSP violations on the page"
