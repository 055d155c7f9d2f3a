"""adapter_for picks the wire format by provider and offer family; heavy SDKs load only when needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.providers import AttemptFailed, adapter_for
from gateway.providers.anthropic import AnthropicAdapter
from gateway.providers.bedrock import BedrockAdapter
from gateway.providers.emulation import TableAdapter
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.openai_compat import OpenAICompatAdapter
from tests.unit.providers.helpers import api_key_target

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize(
    ("provider", "family", "expected"),
    [
        ("openai", "openai", TableAdapter(OpenAICompatAdapter("openai"))),
        ("deepseek", "openai", TableAdapter(OpenAICompatAdapter("deepseek"))),
        ("anthropic", "anthropic", TableAdapter(AnthropicAdapter(vertex=False))),
        ("google-ai-studio", "gemini", TableAdapter(GeminiAdapter(vertex=False))),
        ("amazon-bedrock", "converse", TableAdapter(BedrockAdapter())),
        ("google-vertex", "gemini", TableAdapter(GeminiAdapter(vertex=True))),
        ("google-vertex", "anthropic", TableAdapter(AnthropicAdapter(vertex=True))),
        ("google-vertex", "openai", TableAdapter(OpenAICompatAdapter("vertex"))),
    ],
)
def test_adapter_for_each_provider_family(provider: str, family: str, expected: object) -> None:
    assert adapter_for(api_key_target(provider, "m", family)) == expected


def test_unknown_combination_fails_the_attempt() -> None:
    with pytest.raises(AttemptFailed):
        adapter_for(api_key_target("anthropic", "m", "gemini"))


def test_importing_adapters_loads_neither_botocore_nor_google_auth() -> None:
    code = (
        "import sys, gateway.providers, gateway.apis.chat.schema\n"
        "heavy = [m for m in sys.modules if m.startswith(('botocore', 'google.auth', 'google.oauth2'))]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "gateway")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
