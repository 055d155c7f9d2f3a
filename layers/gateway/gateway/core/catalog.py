"""The model catalog: which providers serve each model, under which model id, at what price.

``family`` names the wire format a provider speaks for that model: ``openai`` (Chat Completions),
``anthropic`` (Messages), ``gemini`` (generateContent) or ``converse`` (Bedrock). Vertex serves all three of
the first: Gemini natively, Claude through rawPredict and partner models through its OpenAI-compatible endpoint.
Embedding models (``endpoints`` is ``["embeddings"]``) speak their host's embedding call: ``openai``
(``/embeddings``), ``gemini`` (AI Studio's ``batchEmbedContents``, Vertex's ``predict``), ``titan-embed`` or
``cohere-embed`` (Bedrock ``InvokeModel`` with Titan's or Cohere's body); ``max_batch`` is how many inputs one
upstream call takes.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Family = Literal["openai", "anthropic", "gemini", "converse", "titan-embed", "cohere-embed"]
Endpoint = Literal["chat", "messages", "responses", "embeddings"]
CHAT_ENDPOINTS: tuple[Endpoint, ...] = ("chat", "messages", "responses")

PROVIDERS = ("openai", "deepseek", "anthropic", "google-ai-studio", "amazon-bedrock", "google-vertex")


class Pricing(BaseModel):
    model_config = ConfigDict(frozen=True)
    prompt: Decimal  # USD per million prompt tokens
    completion: Decimal  # USD per million completion tokens
    cached_prompt: Decimal | None = None  # per million prompt tokens read from the provider's cache
    cache_write: Decimal | None = None  # per million prompt tokens written to it (Anthropic's cache writes)


class Offer(BaseModel):
    """One provider serving one model."""

    model_config = ConfigDict(frozen=True)
    slug: str
    model_id: str
    family: Family
    pricing: Pricing = Pricing(prompt=Decimal(0), completion=Decimal(0))
    # The most tokens this offer can generate for one request (the model's, unless the offer says otherwise).
    max_output_tokens: int | None = None
    # Takes ``role: "system"`` turns inside ``messages`` (Claude Opus 4.8 and later); the model's value.
    system_turns: bool = False
    max_batch: int | None = None  # embeddings: the inputs one upstream call takes (the provider's documented limit)
    token_input: bool = False  # embeddings: the provider takes token arrays as input

    def cost(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
    ) -> Decimal:
        """List-price cost. ``prompt_tokens`` counts every prompt token; the cached and cache-written ones among
        them are priced at their own rate where the catalog has one, else at the prompt price."""
        pricing = self.pricing
        cached = min(max(cached_tokens, 0), prompt_tokens) if pricing.cached_prompt is not None else 0
        written = min(max(cache_write_tokens, 0), prompt_tokens - cached) if pricing.cache_write is not None else 0
        total = (
            pricing.prompt * (prompt_tokens - cached - written)
            + (pricing.cached_prompt or 0) * cached
            + (pricing.cache_write or 0) * written
            + pricing.completion * completion_tokens
        )
        return total / Decimal(1_000_000)


class EmbeddingSpec(BaseModel):
    """What an embedding model produces and takes, from its provider's documentation."""

    model_config = ConfigDict(frozen=True)
    dimensions: int  # the default (and largest) output size
    min_dimensions: int | None = None  # any size from here to ``dimensions`` (Matryoshka-trained models)
    dimension_choices: tuple[int, ...] = ()  # else only these sizes
    max_input_tokens: int  # per input

    def supports(self, dimensions: int) -> bool:
        if dimensions in self.dimension_choices or dimensions == self.dimensions:
            return True
        return self.min_dimensions is not None and self.min_dimensions <= dimensions <= self.dimensions


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    owned_by: str
    max_output_tokens: int
    aliases: tuple[str, ...] = ()  # other names accepted wherever a model id is (Anthropic's own ids for Claude)
    system_turns: bool = False  # Claude models that take ``role: "system"`` turns mid-conversation
    endpoints: tuple[Endpoint, ...] = CHAT_ENDPOINTS  # the APIs that serve this model
    embedding: EmbeddingSpec | None = None  # for embedding models
    providers: tuple[Offer, ...]


class ProviderInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    test_model: Offer


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)
    providers: dict[str, ProviderInfo]
    models: tuple[Model, ...]

    def model(self, model_id: str) -> Model | None:
        """The model by catalog id or alias."""
        return self._index.get(model_id)

    @functools.cached_property
    def _index(self) -> dict[str, Model]:
        index: dict[str, Model] = {}
        for model in self.models:
            for name in (model.id, *model.aliases):
                if name in index:
                    raise ValueError(f"catalog name {name!r} is used twice")
                index[name] = model
        return index


@functools.cache
def get_catalog() -> Catalog:
    raw = json.loads((Path(__file__).parent / "catalog.json").read_text())
    for slug, info in raw["providers"].items():
        info["test_model"] = {"slug": slug, **info["test_model"]}
    for model in raw["models"]:
        for offer in model["providers"]:
            offer.setdefault("max_output_tokens", model["max_output_tokens"])
            offer.setdefault("system_turns", model.get("system_turns", False))
    return Catalog.model_validate(raw)
