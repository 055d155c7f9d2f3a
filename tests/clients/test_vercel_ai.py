"""The Vercel AI SDK as installed (``ai`` with ``@ai-sdk/openai`` ``.chat``, ``@ai-sdk/anthropic`` and
``@ai-sdk/openai-compatible``, from tests/clients/package-lock.json) against the dev stack, on Node: text, a
stream, ``generateObject`` and a tool loop through each provider package, on a model each package reaches."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients import installed
from tests.clients.conftest import Stack

pytestmark = pytest.mark.slow
SCRIPT = "vercel_ai.mjs"
CASES = [
    ("openai", "openai/gpt-5-mini"),
    ("openai", "anthropic/claude-sonnet-5.5"),
    ("anthropic", "anthropic/claude-sonnet-5.5"),
    ("anthropic", "openai/gpt-5-mini"),
    ("openai-compatible", "google/gemini-3-flash"),
    ("openai-compatible", "deepseek/deepseek-v3.2"),
]


def run_script(node_modules: Path, dev: Stack, package: str, model: str) -> dict[str, dict[str, Any]]:
    # Node resolves the packages from the script's own folder upward: it runs beside node_modules.
    script = node_modules.parent / SCRIPT
    shutil.copyfile(installed.SPEC / SCRIPT, script)
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the Vercel AI SDK"
    run = subprocess.run(
        [node, str(script), dev.url, dev.api_key, package, model],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {result["case"]: result for result in results}


@pytest.mark.parametrize(("package", "model"), CASES)
def test_vercel_ai_sdk(node_modules: Path, dev: Stack, package: str, model: str) -> None:
    results = run_script(node_modules, dev, package, model)
    failed = {name: result["error"] for name, result in results.items() if not result["ok"]}
    assert failed == {}
    assert "Say hello" in results["text"]["text"] and results["text"]["inputTokens"] > 0
    assert "Say hello" in results["stream"]["text"]
    assert results["object"]["object"]["participants"]
    assert results["tool"]["toolCalls"] == ["weather"] and results["tool"]["steps"] == 2
    if package == "openai-compatible":
        assert results["json_mode"]["object"]["participants"]
