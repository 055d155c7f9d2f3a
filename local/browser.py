"""Debian's chromium driven by Playwright, for the dashboard's tests, screenshots and page-load benchmark.

Playwright's own browser downloads cannot work here; ``make test`` installs Debian's ``chromium`` and this
module launches it through ``executable_path``, with everything that would call out to Google turned off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-first-run",
)


def launch(playwright: Any) -> Any:
    """A headless chromium Browser from a started ``sync_playwright()``."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True)
