"""Provider adapters: one pure transform per wire format over the shared transport.

The routing loop uses exactly this surface: ``Target``, ``adapter_for``, ``AttemptFailed`` and
``UnreadableResponse`` (plus the ``Adapter`` / ``StreamDecoder`` protocols for typing).
"""

from __future__ import annotations

import functools
import importlib

from gateway.providers.base import Adapter, AttemptFailed, StreamDecoder, Target, UnreadableResponse

__all__ = ["Adapter", "AttemptFailed", "StreamDecoder", "Target", "UnreadableResponse", "adapter_for"]

# Each wire format's transform, behind the parameter table (checks and response_format emulation): its module and
# class, and the arguments it is built with. A module is imported when a request first needs it, so a cold
# start pays only for the wire formats its requests speak.
_ADAPTERS: dict[tuple[str, str], tuple[str, str, dict[str, object]]] = {
    ("openai", "openai"): ("openai_compat", "OpenAICompatAdapter", {"dialect": "openai"}),
    ("deepseek", "openai"): ("openai_compat", "OpenAICompatAdapter", {"dialect": "deepseek"}),
    ("anthropic", "anthropic"): ("anthropic", "AnthropicAdapter", {"vertex": False}),
    ("google-ai-studio", "gemini"): ("gemini", "GeminiAdapter", {"vertex": False}),
    ("amazon-bedrock", "converse"): ("bedrock", "BedrockAdapter", {}),
    ("google-vertex", "gemini"): ("gemini", "GeminiAdapter", {"vertex": True}),
    ("google-vertex", "anthropic"): ("anthropic", "AnthropicAdapter", {"vertex": True}),
    ("google-vertex", "openai"): ("openai_compat", "OpenAICompatAdapter", {"dialect": "vertex"}),
}


@functools.cache
def _built(provider: str, family: str) -> Adapter:
    module, name, arguments = _ADAPTERS[(provider, family)]
    adapter_class = getattr(importlib.import_module(f"gateway.providers.{module}"), name)
    from gateway.providers.emulation import TableAdapter

    return TableAdapter(adapter_class(**arguments))


def adapter_for(target: Target) -> Adapter:
    """The adapter for the provider and the wire format its offer speaks; AttemptFailed if there is none."""
    if (target.provider, target.offer.family) not in _ADAPTERS:
        raise AttemptFailed(f"{target.provider} cannot serve {target.offer.family}-format models")
    return _built(target.provider, target.offer.family)
