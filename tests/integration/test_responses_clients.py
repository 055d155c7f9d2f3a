"""Real clients of the Responses API, as installed, against the gateway's HTTP API and the simulator.

- Codex CLI (npm ``@openai/codex``): ``codex exec`` with a custom model provider, ``wire_api = "responses"``, its
  config in a private ``CODEX_HOME``.
- The OpenAI Agents SDK (PyPI ``openai-agents``): its default model (the Responses API) with a function tool.
- The Vercel AI SDK (npm ``ai`` and ``@ai-sdk/openai``): ``createOpenAI()(model)``, whose default is the
  Responses API, with ``generateText`` and ``streamText``.

Both are installed at pinned versions into ``.cache/responses-clients/`` (ignored by git) the first time these
tests run, under a file lock so parallel workers install once, from the registries through their ordinary
clients, and run as separate processes, so neither their dependencies nor their versions of the ``openai``
package touch the test environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.clients.installed import install_once, npm
from tests.conftest import Gateway
from tests.integration.helpers import add_key, byok_credentials

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENTS = REPO_ROOT / ".cache" / "responses-clients"
CODEX_VERSION = "0.171.0"
AGENTS_VERSION = "0.24.0"
AI_SDK_VERSIONS = ("ai@7.0.185", "@ai-sdk/openai@4.0.126")
OPENAI_VERSION = "3.57.0"  # the Agents SDK's own openai, pinned like requirements-dev.txt's
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120


def _npm_install(prefix: Path, *packages: str) -> None:
    install_once(
        prefix,
        " ".join(packages),
        lambda: subprocess.run(
            [npm(), "install", "--prefix", str(prefix), "--no-audit", "--no-fund", *packages],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
        ),
    )


@pytest.fixture(scope="session")
def codex() -> Path:
    """The Codex CLI binary, installed once into the cache (npm, pinned)."""
    prefix = CLIENTS / "node"
    _npm_install(prefix, f"@openai/codex@{CODEX_VERSION}")
    return prefix / "node_modules" / ".bin" / "codex"


@pytest.fixture(scope="session")
def vercel() -> Path:
    """A folder with the Vercel AI SDK and its OpenAI provider installed (npm, pinned), for a node script."""
    prefix = CLIENTS / "vercel"
    _npm_install(prefix, *AI_SDK_VERSIONS)
    return prefix


@pytest.fixture(scope="session")
def agents_path() -> Path:
    """A folder holding the Agents SDK and its dependencies (pip --target, pinned), for a subprocess's path."""
    target = CLIENTS / "python"
    packages = (f"openai-agents=={AGENTS_VERSION}", f"openai=={OPENAI_VERSION}")
    install_once(
        target,
        " ".join(packages),
        lambda: subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--target", str(target), *packages],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
        ),
    )
    return target


def _codex_home(tmp_path: Path, api_url: str, model: str, web_search: bool) -> Path:
    home = tmp_path / "codex-home"
    home.mkdir()
    # Web search is OpenAI's built-in tool: a provider without it is no candidate, so Codex leaves it off there.
    search = "" if web_search else 'web_search = "disabled"'
    config = f"""
        model = "{model}"
        model_provider = "byok-gateway"
        {search}

        [model_providers.byok-gateway]
        name = "byok-gateway"
        base_url = "{api_url}/v1"
        env_key = "BYOK_GATEWAY_API_KEY"
        wire_api = "responses"
    """
    (home / "config.toml").write_text(textwrap.dedent(config), encoding="utf-8")
    return home


def _client_env(**extra: str) -> dict[str, str]:
    """The environment of a client process: no proxy, no OpenAI credentials of the machine's own."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "NO_PROXY": "127.0.0.1,localhost", **extra}


@pytest.mark.parametrize(
    ("model", "provider", "byok"),
    [
        ("openai/gpt-5-mini", "openai", False),
        ("openai/gpt-5-mini", "openai", True),
        ("anthropic/claude-sonnet-4.5", "anthropic", False),
    ],
)
def test_codex_exec_answers_through_the_gateway(
    codex: Path, api: Any, gateway: Gateway, tmp_path: Path, model: str, provider: str, byok: bool
) -> None:
    # Given Codex configured with the gateway as a custom model provider speaking the Responses API: with the
    # customer's own OpenAI key, its default web search too (billed by OpenAI per use, so not on shared capacity)
    if byok:
        add_key(api.url, gateway.api_key, provider, byok_credentials(gateway.sim, provider))
    home = _codex_home(tmp_path, api.url, model, web_search=byok)
    workdir = tmp_path / "work"
    workdir.mkdir()

    # When it runs one task non-interactively
    done = subprocess.run(  # noqa: PLW1510 - the exit status is asserted with the output that explains it
        [str(codex), "exec", "--skip-git-repo-check", "--json", "Say hello"],
        cwd=workdir,
        env=_client_env(CODEX_HOME=str(home), BYOK_GATEWAY_API_KEY=gateway.api_key),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )

    # Then its answer is the model's, served by the provider, and the gateway logged a Responses request
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"Hello from {provider}" in done.stdout, done.stdout[-2000:]
    calls = [r for r in gateway.sim.requests if r.provider == provider]
    assert calls, "the upstream was never called"
    tools = [tool["name"] for tool in calls[-1].json["tools"]] if provider == "anthropic" else []
    assert provider == "openai" or "spawn_agent" in tools  # Codex's namespaced tools, offered as functions
    assert gateway.api_key not in done.stdout + done.stderr


AGENT_SCRIPT = """
import asyncio, json, sys
from agents import (
    Agent, OpenAIResponsesModel, Runner, function_tool, set_default_openai_client, set_tracing_disabled
)
from openai import AsyncOpenAI

base_url, api_key, name = sys.argv[1:4]
client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
set_default_openai_client(client)
set_tracing_disabled(True)
# The SDK's default model class (the Responses API); named explicitly because the SDK reads a "google/" prefix
# in a model name as a provider of its own.
model = OpenAIResponsesModel(model=name, openai_client=client)
calls = []


@function_tool
def get_weather(location: str) -> str:
    \"\"\"Current weather for a city.\"\"\"
    calls.append(location)
    return f"sunny in {location}, 21 degrees"


agent = Agent(name="Weather", instructions="Answer with the tool's result.", model=model, tools=[get_weather])
result = asyncio.run(Runner.run(agent, "What is the weather in Paris?"))
print(json.dumps({"final": result.final_output, "calls": calls}))
"""


@pytest.mark.parametrize(
    ("model", "provider"),
    [("openai/gpt-5-mini", "openai"), ("google/gemini-3-flash", "google-vertex")],
)
def test_agents_sdk_default_model_calls_a_function_tool(
    agents_path: Path, api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    # Given an agent on the SDK's default model (the Responses API) with one function tool
    done = subprocess.run(  # noqa: PLW1510 - the exit status is asserted with the output that explains it
        [sys.executable, "-c", AGENT_SCRIPT, f"{api.url}/v1", gateway.api_key, model],
        env=_client_env(PYTHONPATH=str(agents_path)),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )

    # Then the model called the tool, got its result back, and answered in text, all through /v1/responses
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["calls"] == ["Paris"] or outcome["calls"], outcome
    assert f"Hello from {provider}" in outcome["final"]
    paths = [r.path for r in gateway.sim.requests if r.provider == provider]
    assert len(paths) == 2  # the tool call, then the answer after its result


VERCEL_SCRIPT = """
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey });
const generated = await generateText({ model: openai(model), prompt: "Say hello" });
const streamed = streamText({ model: openai(model), prompt: "Say hello again" });
const pieces = [];
for await (const piece of streamed.textStream) pieces.push(piece);
console.log(JSON.stringify({ generated: generated.text, usage: generated.usage, pieces }));
"""


@pytest.mark.parametrize(
    ("model", "provider"),
    [("openai/gpt-5-mini", "openai"), ("deepseek/deepseek-v3.2", "deepseek")],
)
def test_vercel_ai_sdk_default_openai_provider_generates_and_streams(
    vercel: Path, api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    script = vercel / "responses_client.mjs"  # beside its node_modules, so its imports resolve
    script.write_text(VERCEL_SCRIPT, encoding="utf-8")

    done = subprocess.run(  # noqa: PLW1510 - the exit status is asserted with the output that explains it
        ["node", str(script), f"{api.url}/v1", gateway.api_key, model],
        env=_client_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"Hello from {provider}" in outcome["generated"]
    assert outcome["usage"]["inputTokens"] > 0 and outcome["usage"]["outputTokens"] > 0
    assert len(outcome["pieces"]) > 1 and "Say hello again" in "".join(outcome["pieces"])
    assert len([r for r in gateway.sim.requests if r.provider == provider]) == 2  # one generated, one streamed
