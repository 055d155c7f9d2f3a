"""Every curl and Python example of the user documentation (README.md and docs/*.md) runs against the dev stack
with the key the stack printed substituted for ``gwk_...``: an example that no longer works fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Stack
from tests.clients.docs_examples import DOC_KEY, DOC_URL, DOCS, ROOT, runnable
from tests.integration.helpers import BYOK_API_KEYS, add_key, byok_credentials

pytestmark = pytest.mark.slow
# Every curl of an example must succeed (an HTTP error fails the example, its body shown).
CURL_CHECKED = 'curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }\n'
TIMEOUT_S = 180


def substituted(code: str, stack: Stack, key_id: str, api_key_id: str = "") -> str:
    return (
        code.replace(DOC_KEY, stack.api_key)
        .replace(DOC_URL, stack.url)
        .replace("sk-ant-...", BYOK_API_KEYS["anthropic"])
        .replace("KEY_ID", key_id)
        .replace("ak_...", api_key_id)
    )


def documented_key(stack: Stack) -> str:
    """A BYOK key of the dev customer, for the examples that address one as ``KEY_ID``."""
    created = add_key(stack.url, stack.api_key, "anthropic", byok_credentials(stack.sim, "anthropic"))
    return str(created["id"])


def documented_api_key(stack: Stack) -> str:
    """A gateway API key of the dev customer, for the examples that address one as ``ak_...``."""
    created = httpx.post(
        f"{stack.url}/v1/api-keys", json={"name": "docs example"}, headers={"Authorization": f"Bearer {stack.api_key}"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


WITH_CURL = [doc for doc in DOCS if runnable(doc)[0]]
WITH_PYTHON = [doc for doc in DOCS if runnable(doc)[1]]


@pytest.mark.parametrize("doc", WITH_CURL, ids=lambda p: str(p.relative_to(ROOT)))
def test_curl_examples_run(dev: Stack, doc: Path) -> None:
    shell, _ = runnable(doc)
    key_id, api_key_id = documented_key(dev), documented_api_key(dev)
    script = CURL_CHECKED + "\n".join(
        f"echo '--- {block.where}'\n{substituted(block.code, dev, key_id, api_key_id)}" for block in shell
    )
    try:
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "GATEWAY": dev.url, "GATEWAY_KEY": dev.api_key, "SIM": dev.sim.url},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    finally:
        dev.sim.clear_pacing()
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


@pytest.mark.parametrize("doc", WITH_PYTHON, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(dev: Stack, doc: Path) -> None:
    _, python = runnable(doc)
    program = "\n".join(f"print('--- {b.where}')\n{substituted(b.code, dev, '')}" for b in python)
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
