"""Embedding adapters, one per wire format, behind one batching front (``base.BatchedAdapter``).

The routing core sees an embeddings adapter as a *batch* adapter: ``build_requests`` gives the upstream calls of
one attempt (the batch split at the provider's per-call limit, ``Offer.max_batch``) and ``parse_responses`` reads
their answers back into one list of vectors in input order (``gateway.routing.attempt.run_attempt`` sends them).
"""

from __future__ import annotations

from gateway.apis.embeddings.adapters.base import BatchedAdapter
from gateway.apis.embeddings.adapters.cohere import CohereWire
from gateway.apis.embeddings.adapters.gemini import GeminiWire
from gateway.apis.embeddings.adapters.openai import OpenAIWire
from gateway.apis.embeddings.adapters.titan import TitanWire
from gateway.apis.embeddings.adapters.vertex import VertexPredictWire
from gateway.providers import AttemptFailed, Target

__all__ = ["BatchedAdapter", "adapter_for"]

_ADAPTERS: dict[tuple[str, str], BatchedAdapter] = {
    ("openai", "openai"): BatchedAdapter(OpenAIWire()),
    ("google-ai-studio", "gemini"): BatchedAdapter(GeminiWire()),
    ("google-vertex", "gemini"): BatchedAdapter(VertexPredictWire()),
    ("amazon-bedrock", "titan-embed"): BatchedAdapter(TitanWire()),
    ("amazon-bedrock", "cohere-embed"): BatchedAdapter(CohereWire()),
}


def adapter_for(target: Target) -> BatchedAdapter:
    adapter = _ADAPTERS.get((target.provider, target.offer.family))
    if adapter is None:
        raise AttemptFailed(f"{target.provider} cannot serve {target.offer.family}-format embedding models")
    return adapter
