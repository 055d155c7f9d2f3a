"""Provider adapters: one pure transform per wire format over the shared transport.

The routing loop uses exactly this surface: ``Target``, ``adapter_for``, ``AttemptFailed`` and
``UnreadableResponse`` (plus the ``Adapter`` / ``StreamDecoder`` protocols for typing).
"""

from __future__ import annotations

from gateway.providers.anthropic import AnthropicAdapter
from gateway.providers.base import Adapter, AttemptFailed, StreamDecoder, Target, UnreadableResponse
from gateway.providers.bedrock import BedrockAdapter
from gateway.providers.emulation import TableAdapter
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.openai_compat import OpenAICompatAdapter

__all__ = ["Adapter", "AttemptFailed", "StreamDecoder", "Target", "UnreadableResponse", "adapter_for"]

# Each wire format's transform, behind the parameter table (checks and response_format emulation).
_ADAPTERS: dict[tuple[str, str], Adapter] = {
    ("openai", "openai"): TableAdapter(OpenAICompatAdapter("openai")),
    ("deepseek", "openai"): TableAdapter(OpenAICompatAdapter("deepseek")),
    ("anthropic", "anthropic"): TableAdapter(AnthropicAdapter(vertex=False)),
    ("google-ai-studio", "gemini"): TableAdapter(GeminiAdapter(vertex=False)),
    ("amazon-bedrock", "converse"): TableAdapter(BedrockAdapter()),
    ("google-vertex", "gemini"): TableAdapter(GeminiAdapter(vertex=True)),
    ("google-vertex", "anthropic"): TableAdapter(AnthropicAdapter(vertex=True)),
    ("google-vertex", "openai"): TableAdapter(OpenAICompatAdapter("vertex")),
}


def adapter_for(target: Target) -> Adapter:
    """The adapter for the provider and the wire format its offer speaks; AttemptFailed if there is none."""
    adapter = _ADAPTERS.get((target.provider, target.offer.family))
    if adapter is None:
        raise AttemptFailed(f"{target.provider} cannot serve {target.offer.family}-format models")
    return adapter
