"""``make screenshots``: the dashboard's BYOK page, add dialog and logs page (with a fallback chain) as PNGs.

Starts the dev stack in this process on a free port, sets up a customer the way a person would (keys through
the API with connection tests, chat requests, one of which falls back from two failing BYOK keys to shared
capacity), then photographs the pages in Debian's chromium into ``docs/img/``.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from local.handlers import REPO_ROOT

OUT_DIR = REPO_ROOT / "docs" / "img"
VIEWPORT = {"width": 1100, "height": 720}
SHOTS = {
    "byok": OUT_DIR / "dashboard-byok.png",
    "dialog": OUT_DIR / "dashboard-add-key.png",
    "logs": OUT_DIR / "dashboard-logs.png",
}
# The dev simulator accepts any well-formed credential, except one containing "invalid".
KEYS: list[dict[str, Any]] = [
    {"provider": "openai", "credentials": "sk-proj-demo-4f9c2b7e1a", "name": "Production OpenAI", "test": True},
    {"provider": "deepseek", "credentials": "sk-demo-deepseek-88d1", "name": "DeepSeek batch jobs", "test": True},
    {"provider": "anthropic", "credentials": "sk-ant-demo-invalid-7c31", "name": "Claude (old team key)"},
    {
        "provider": "amazon-bedrock",
        "credentials": {
            "accessKeyId": "AKIADEMOEXAMPLE00042",
            "secretAccessKey": "demoSecretAccessKey/00000000000000000000",
        },
        "name": "Bedrock us-east-1",
        "region": "us-east-1",
    },
]
REQUESTS = [
    ("openai/gpt-5-mini", 3),
    ("deepseek/deepseek-v3.2", 2),
    ("google/gemini-3-flash", 2),
    ("anthropic/claude-sonnet-4.5", 1),  # BYOK anthropic 401, BYOK bedrock 503, then shared anthropic
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(base: str, api_key: str, simulator_url: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for key in KEYS:
            created = client.post("/v1/byok/keys", json=key)
            created.raise_for_status()
            if not key.get("test"):
                client.post(f"/v1/byok/keys/{created.json()['id']}/test").raise_for_status()
        # Bedrock answers the last request's BYOK attempt with 503, so its chain ends on shared capacity
        fault = {"provider": "amazon-bedrock", "status": 503, "times": 1}
        httpx.post(f"{simulator_url}/_sim/faults", json=fault, timeout=10).raise_for_status()
        for model, count in REQUESTS:
            for _ in range(count):
                body = {"model": model, "messages": [{"role": "user", "content": "Summarise BYOK in one line."}]}
                client.post("/v1/chat/completions", json=body)


def _shoot(base: str, api_key: str) -> None:
    from playwright.sync_api import sync_playwright

    from local.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/dashboard")
        page.get_by_label("Gateway API key").fill(api_key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("row").filter(has_text="Production OpenAI").wait_for()
        page.screenshot(path=str(SHOTS["byok"]), full_page=True)

        page.set_viewport_size({**VIEWPORT, "height": 940})
        page.get_by_role("button", name="Add Google Vertex AI key").click()
        page.get_by_role("dialog").wait_for()
        page.screenshot(path=str(SHOTS["dialog"]))
        page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
        page.set_viewport_size(VIEWPORT)

        page.get_by_role("link", name="Logs").click()
        chain = page.locator("#log-rows tr").filter(has_text="anthropic/claude-sonnet-4.5").first
        chain.get_by_role("button").click()
        page.get_by_role("region", name="Attempts").wait_for()
        page.set_viewport_size({**VIEWPORT, "height": 1000})
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS["logs"]))
        browser.close()


def main() -> int:
    os.environ.pop("DEV_API_KEY", None)
    from local.devstack import DevStack

    stack = DevStack(_free_port())
    try:
        state = stack.start()
        from gateway.data.api_keys import account_id_from_api_key
        from local.sample_logs import write_sample_logs

        account_id = account_id_from_api_key(stack.api_key)
        assert account_id is not None
        write_sample_logs(account_id, 160)  # a day of earlier traffic, for the table and the chart
        _seed(state.api_url, stack.api_key, state.simulator_url)
        time.sleep(1.5)  # the usage stream poller runs every 500 ms; let it sum the requests for the chart
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        _shoot(state.api_url, stack.api_key)
    finally:
        stack.stop()
    for path in SHOTS.values():
        print(f"{Path(path).relative_to(REPO_ROOT)}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
