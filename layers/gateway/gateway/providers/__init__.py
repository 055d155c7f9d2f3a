"""Provider adapters: one pure transform per wire format over the shared transport.

The routing loop uses exactly this surface: ``Target``, ``adapter_for``, ``AttemptFailed`` and
``UnreadableResponse`` (plus the ``Adapter`` / ``StreamDecoder`` protocols for typing).
"""

from __future__ import annotations

from gateway.providers.anthropic import AnthropicAdapter
from gateway.providers.base import Adapter, AttemptFailed, StreamDecoder, Target, UnreadableResponse
from gateway.providers.bedrock import BedrockAdapter
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.openai_compat import OpenAICompatAdapter

__all__ = ["Adapter", "AttemptFailed", "StreamDecoder", "Target", "UnreadableResponse", "adapter_for"]

_ADAPTERS: dict[tuple[str, str], Adapter] = {
    ("openai", "openai"): OpenAICompatAdapter("openai"),
    ("deepseek", "openai"): OpenAICompatAdapter("deepseek"),
    ("anthropic", "anthropic"): AnthropicAdapter(vertex=False),
    ("google-ai-studio", "gemini"): GeminiAdapter(vertex=False),
    ("amazon-bedrock", "converse"): BedrockAdapter(),
    ("google-vertex", "gemini"): GeminiAdapter(vertex=True),
    ("google-vertex", "anthropic"): AnthropicAdapter(vertex=True),
    ("google-vertex", "openai"): OpenAICompatAdapter("vertex"),
}


def adapter_for(target: Target) -> Adapter:
    """The adapter for the provider and the wire format its offer speaks; AttemptFailed if there is none."""
    adapter = _ADAPTERS.get((target.provider, target.offer.family))
    if adapter is None:
        raise AttemptFailed(f"{target.provider} cannot serve {target.offer.family}-format models")
    return adapter
