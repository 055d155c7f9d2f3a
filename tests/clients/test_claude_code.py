"""Claude Code (npm ``@anthropic-ai/claude-code``), as installed, in print mode with its default tools and
settings, against the dev stack: with no model variables (its default models must be catalog aliases), through
each Claude host, and through a translated model. Nothing it does may leave the machine."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from local.simulator.wire import RecordedRequest
from tests.clients.conftest import CLAUDE_HOSTS, Outbound, Stack
from tests.clients.docs_examples import DOC_KEY, DOC_URL, DOCS, blocks, exports

pytestmark = pytest.mark.slow
TIMEOUT_S = 120
PROMPT = "Say hi to the gateway"


def documented_variables(stack: Stack, api_key: str) -> dict[str, str]:
    """The variables of the documentation's Claude Code example, verbatim (the URL and key substituted)."""
    examples = [b for doc in DOCS for b in blocks(doc) if b.language == "bash" and "\nclaude" in f"\n{b.code}"]
    assert examples, "the documentation has no Claude Code example"
    found = exports(examples[0].code)
    assert set(found) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"}, found
    return {name: value.replace(DOC_URL, stack.url).replace(DOC_KEY, api_key) for name, value in found.items()}


def claude(
    node_modules: Path, stack: Stack, outbound: Outbound, api_key: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``claude -p`` with the variables the README gives (verbatim), the three that keep it off the network, a
    fresh HOME, and every non-local connection sent to a proxy that refuses it (and records it)."""
    with tempfile.TemporaryDirectory() as home:
        variables = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            **documented_variables(stack, api_key),
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "HTTPS_PROXY": outbound.url,
            "HTTP_PROXY": outbound.url,
            "NO_PROXY": "127.0.0.1,localhost",
            **env,
        }
        return subprocess.run(
            [str(node_modules / ".bin" / "claude"), "-p", PROMPT, "--output-format", "json"],
            cwd=home,
            env=variables,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )


def messages_requests(stack: Stack) -> list[RecordedRequest]:
    return [r for r in stack.sim.requests if r.json is not None and "messages" in (r.json or {})]


def answered(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, f"claude exited {run.returncode}: {run.stdout[-2000:]} {run.stderr[-2000:]}"
    result = json.loads(run.stdout)
    assert result.get("is_error") is False, result
    return dict(result)


def test_claude_code_works_with_no_model_variables(node_modules: Path, dev: Stack, outbound: Outbound) -> None:
    # Given only the base URL and a gateway key (the README's two required variables)
    run = claude(node_modules, dev, outbound, dev.api_key)
    # Then its first request, with every default tool and setting, is answered by its default (Opus) model
    result = answered(run)
    assert "claude-opus-5-5" in result["result"]
    main = next(r for r in messages_requests(dev) if (r.json or {}).get("tools"))
    body = main.json or {}
    assert len(body["tools"]) >= 10 and "context_management" in body
    assert "system" in [m["role"] for m in body["messages"]]  # a system turn, kept in place for Opus 5.5
    assert {(r.json or {}).get("model") for r in messages_requests(dev)} <= {"claude-opus-5-5", "claude-haiku-5-5"}
    # and nothing tried to leave the machine
    assert outbound.attempts == []


@pytest.mark.parametrize("host", CLAUDE_HOSTS)
def test_claude_code_through_each_claude_host(node_modules: Path, dev: Stack, outbound: Outbound, host: str) -> None:
    # Given a customer whose BYOK key is for one Claude host (so that host serves first)
    api_key = dev.customer_served_by(host)
    # When Claude Code runs its default request
    result = answered(claude(node_modules, dev, outbound, api_key))
    # Then that host served the whole request, the body kept intact, system turns placed for the model
    assert f"Hello from {host}" in result["result"]
    served = [r for r in messages_requests(dev) if r.provider == host]
    assert served and {r.provider for r in messages_requests(dev)} == {host}
    body = next(r.json for r in served if (r.json or {}).get("tools")) or {}
    assert "context_management" in body and body.get("thinking", {}).get("type") == "adaptive"
    assert outbound.attempts == []


def test_claude_code_with_the_key_as_anthropic_api_key(node_modules: Path, dev: Stack, outbound: Outbound) -> None:
    # Given the README's alternative: the gateway key as ANTHROPIC_API_KEY (sent as x-api-key), no token
    run = claude(node_modules, dev, outbound, "", ANTHROPIC_AUTH_TOKEN="", ANTHROPIC_API_KEY=dev.api_key)
    assert "claude-opus-5-5" in answered(run)["result"]
    assert outbound.attempts == []


def test_claude_code_with_a_catalog_id_as_its_model(node_modules: Path, dev: Stack, outbound: Outbound) -> None:
    # Given the README's optional model variable set to a catalog id Claude Code does not know
    run = claude(node_modules, dev, outbound, dev.api_key, ANTHROPIC_MODEL="anthropic/claude-sonnet-4.5")
    # Then the answer comes from that model on its first Claude host
    result = answered(run)
    assert "Hello from anthropic (claude-sonnet-4-5-20250929)" in result["result"]
    assert outbound.attempts == []


def test_claude_code_through_a_translated_model(node_modules: Path, dev: Stack, outbound: Outbound) -> None:
    # Given Claude Code pointed at a model that is not Claude
    run = claude(node_modules, dev, outbound, dev.api_key, ANTHROPIC_MODEL="openai/gpt-5-mini")
    # Then the answer comes from OpenAI, translated, with Claude Code's tools as functions
    result = answered(run)
    assert "Hello from openai (gpt-5-mini)" in result["result"]
    chat = next(r.json for r in dev.sim.requests if r.provider == "openai") or {}
    names = {tool["function"]["name"] for tool in chat.get("tools") or []}
    assert {"Bash", "Read", "Edit"} <= names
    assert outbound.attempts == []
