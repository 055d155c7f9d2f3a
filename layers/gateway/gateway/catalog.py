"""The model catalog: which providers serve each model, under which model id, at what price.

``family`` names the wire format a provider speaks for that model: ``openai`` (Chat Completions),
``anthropic`` (Messages), ``gemini`` (generateContent) or ``converse`` (Bedrock). Vertex serves all three of
the first: Gemini natively, Claude through rawPredict and partner models through its OpenAI-compatible endpoint.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Family = Literal["openai", "anthropic", "gemini", "converse"]

PROVIDERS = ("openai", "deepseek", "anthropic", "google-ai-studio", "amazon-bedrock", "google-vertex")


class Pricing(BaseModel):
    model_config = ConfigDict(frozen=True)
    prompt: Decimal  # USD per million prompt tokens
    completion: Decimal  # USD per million completion tokens


class Offer(BaseModel):
    """One provider serving one model."""

    model_config = ConfigDict(frozen=True)
    slug: str
    model_id: str
    family: Family
    pricing: Pricing = Pricing(prompt=Decimal(0), completion=Decimal(0))
    # The most tokens this offer can generate for one request (the model's, unless the offer says otherwise).
    max_output_tokens: int | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (self.pricing.prompt * prompt_tokens + self.pricing.completion * completion_tokens) / Decimal(1_000_000)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    owned_by: str
    max_output_tokens: int
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
        return self._index.get(model_id)

    @functools.cached_property
    def _index(self) -> dict[str, Model]:
        return {m.id: m for m in self.models}


@functools.cache
def get_catalog() -> Catalog:
    raw = json.loads((Path(__file__).parent / "catalog.json").read_text())
    for slug, info in raw["providers"].items():
        info["test_model"] = {"slug": slug, **info["test_model"]}
    for model in raw["models"]:
        for offer in model["providers"]:
            offer.setdefault("max_output_tokens", model["max_output_tokens"])
    return Catalog.model_validate(raw)
