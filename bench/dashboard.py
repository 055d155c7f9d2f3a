"""The dashboard's page load under the dev stack, with 100 BYOK keys and 1,000 request records.

``make bench`` runs it after the gateway benchmark (alone: ``python -m bench.dashboard --runs 7``). It runs
``make dev`` in its own process, creates the keys with the key service and the records the way the chat
function stores them (from this process, against that stack's moto server, like ``make admin``), then opens
``/dashboard#byok`` and ``/dashboard#logs`` signed in, each run in a fresh browser context (nothing cached),
and reads the browser's timing: ``loadEventEnd`` (HTML, scripts, styles), the app's ``dashboard:<page>-ready``
mark (the page's own content rendered: the 100 keys, or the first 25 requests) and ``-complete`` (the header's
account and, on the logs page, the 24-hour chart too). Target: complete, median, under 1 s. The baseline is the
same page for an empty account, measured in the same run, so machine noise shows in both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx

from bench import quiet
from bench.stats import format_table, median
from local.handlers import REPO_ROOT, ensure_layer_importable

KEYS = 100
RECORDS = 1_000
TARGET_MS = 1_000.0
PAGE = 25  # requests on the logs page's first page (logs.js PAGE_SIZE)
RESULTS = REPO_ROOT / ".bench" / "dashboard.json"
LOG = REPO_ROOT / ".bench" / "run.log"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(api_key: str) -> str:
    """100 keys and 1,000 records for the dev customer, and an empty account; returns the empty one's key."""
    from gateway.apis import admin
    from gateway.apis import byok as keys
    from gateway.core.settings import get_settings
    from gateway.data import api_keys
    from local.sample_logs import write_sample_logs

    os.environ["MAX_KEYS_PER_ACCOUNT"] = str(KEYS)  # the template's default is 50: keys are made from here
    get_settings.cache_clear()
    for index in range(KEYS):
        snapshot = api_keys.authenticate(api_key)
        assert snapshot is not None
        request = keys.CreateKeyRequest.model_validate(
            {"provider": "openai", "credentials": f"sk-bench-dashboard-{index:04d}", "name": f"key {index}"}
        )
        keys.create_key(snapshot, request)
    account_id = api_keys.account_id_from_api_key(api_key)
    assert account_id is not None
    write_sample_logs(account_id, RECORDS)
    _, empty_key = admin.create_account("empty", Decimal("10"))
    return empty_key


def _wait_for_usage(url: str, api_key: str) -> None:
    """Until the stream consumer has summed every record (it would otherwise compete with the measured loads)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/v1/usage", headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
        answer.raise_for_status()
        counted = sum(b["byok"]["requests"] + b["shared"]["requests"] for b in answer.json()["data"])
        if counted >= RECORDS:
            return
        time.sleep(1)
    raise RuntimeError("the usage stream consumer did not catch up")


@contextlib.contextmanager
def _dev_stack() -> Iterator[tuple[str, str]]:
    """``make dev`` in its own process (as a developer runs it); yields its URL and the dev API key, with this
    process's AWS settings pointed at its moto server the way ``make admin`` does."""
    from local.admin import _target_dev_stack
    from local.devstack import DevState

    with tempfile.TemporaryDirectory() as scratch:
        state_file = Path(scratch) / "state.json"
        api_key = f"gwk_{secrets.token_hex(8)}_{secrets.token_urlsafe(24)}"
        env = {**os.environ, "PORT": str(_free_port()), "DEV_API_KEY": api_key, "DEVSTACK_STATE": str(state_file)}
        process = subprocess.Popen(
            [sys.executable, "-m", "local.devstack"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not state_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("make dev did not start")
                time.sleep(0.2)
            _target_dev_stack(state_file)
            yield DevState.read(state_file).api_url, api_key
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)


def _measure(base: str, api_key: str, runs: int, keys: int) -> dict[str, list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    from local.browser import launch

    pages = (("byok", "#key-rows tr", keys), ("logs", "#log-rows tr[data-request-id]", PAGE if keys else 0))
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in pages}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for _ in range(runs):
            for page_name, rows, wanted in pages:
                context = browser.new_context()
                context.add_init_script(
                    f"sessionStorage.setItem('byok-gateway.http.resolver-key', {json.dumps(api_key)})"
                )
                page = context.new_page()
                page.goto(f"{base}/dashboard#{page_name}")
                done = f"dashboard:{page_name}-complete"
                page.wait_for_function(f"() => performance.getEntriesByName('{done}').length > 0", timeout=30_000)
                shown = page.locator(rows).count()
                assert shown == wanted, f"{page_name}: {shown} rows shown, not {wanted}"
                timing = page.evaluate(
                    """(page) => { const nav = performance.getEntriesByType("navigation")[0];
                       const at = (name) => performance.getEntriesByName(`dashboard:${page}-${name}`)[0].startTime;
                       const calls = Object.fromEntries(performance.getEntriesByType("resource")
                         .filter((r) => r.name.includes("/v1/"))
                         .map((r) => [new URL(r.name).pathname, r.responseEnd - r.startTime]));
                       return {load: nav.loadEventEnd, ready: at("ready"), complete: at("complete"), ...calls}; }""",
                    page_name,
                )
                results[page_name].append(timing)
                context.close()
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="page loads per page and account (default 7)")
    args = parser.parse_args(argv)
    ensure_layer_importable()
    with quiet.output_to(LOG) as (_, progress):
        print(f"dashboard load: everything but this report goes to {LOG.relative_to(REPO_ROOT)}", file=progress)
        with _dev_stack() as (url, api_key):
            empty_key = _seed(api_key)
            _wait_for_usage(url, api_key)
            baseline = _measure(url, empty_key, args.runs, 0)
            full = _measure(url, api_key, args.runs, KEYS)

    rows = []
    for page_name, runs in full.items():
        ready = [r["ready"] for r in runs]
        complete = [r["complete"] for r in runs]
        empty = median([r["complete"] for r in baseline[page_name]])
        ok = median(complete) < TARGET_MS
        rows.append(
            [
                f"/dashboard#{page_name}",
                f"{median([r['load'] for r in runs]):.0f}",
                f"{median(ready):.0f}",
                f"{median(complete):.0f}",
                f"{max(complete):.0f}",
                f"{empty:.0f}",
                f"{median(complete) / empty:.2f}",
                "PASS" if ok else "MISS",
            ]
        )
    calls = sorted({name for runs in full.values() for run in runs for name in run if name.startswith("/v1/")})
    for name in calls:
        took = [run[name] for runs in full.values() for run in runs if name in run]
        unloaded = [run[name] for runs in baseline.values() for run in runs if name in run]
        print(f"  {name}: p50 {median(took):.0f} ms (empty account {median(unloaded):.0f} ms)")
    load1, _, _ = os.getloadavg()
    print(f"Dashboard page load: {KEYS} keys and {RECORDS:,} records, {args.runs} fresh loads per page (ms);")
    print(f"baseline = the same page for an empty account in the same run; load average {load1:.1f}")
    headers = ["page", "loadEventEnd", "ready", "complete", "complete max", "baseline", "ratio", "p50 < 1 s"]
    print(format_table(headers, rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"keys": KEYS, "records": RECORDS, "full": full, "baseline": baseline}, indent=2))
    return 0  # a miss is reported, not a failure: a loaded machine must not fail the command


if __name__ == "__main__":
    sys.exit(main())
