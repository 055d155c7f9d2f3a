"""OpenAI ``POST {base}/embeddings``: up to 2048 inputs a call (strings or token arrays), ``dimensions``
forwarded for the text-embedding-3 models, vectors asked in ``base64`` (a quarter of the JSON floats' size, and
decoded in C; what the openai SDK asks for too) and matched back by their ``index``."""

from __future__ import annotations

import json
from typing import Any

from gateway.apis.embeddings.adapters.base import Inputs, Vector, floats, from_base64
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.providers import AttemptFailed, Target, UnreadableResponse, common, endpoints
from gateway.providers.openai_compat import OpenAICompatAdapter
from gateway.providers.transport import UpstreamRequest
from gateway.security.credentials import ApiKeyCredentials

_ERRORS = OpenAICompatAdapter("openai")


class OpenAIWire:
    def build(self, inputs: Inputs, request: EmbeddingsRequest, target: Target, timeout: float) -> UpstreamRequest:
        if not isinstance(target.credentials, ApiKeyCredentials):
            raise AttemptFailed(f"{target.provider} needs an API key credential")
        endpoints.model_segment(target.offer.model_id)  # validated even in a body
        body: dict[str, Any] = {"model": target.offer.model_id, "input": inputs, "encoding_format": "base64"}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "authorization": f"Bearer {target.credentials.api_key.get_secret_value()}",
        }
        url = f"{endpoints.base_url(target.provider)}/embeddings"
        return UpstreamRequest("POST", url, headers, json.dumps(body, separators=(",", ":")).encode())

    def parse(self, body: bytes, count: int, target: Target) -> tuple[list[Vector], int | None]:
        data = common.load_json_object(body, target.provider)
        items = data.get("data")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise UnreadableResponse(f"{target.provider} answer has no embeddings")
        by_index = {item.get("index"): item.get("embedding") for item in items}
        if sorted(i for i in by_index if isinstance(i, int)) != list(range(count)):
            raise UnreadableResponse(f"{target.provider} answer does not index every input once")
        vectors = [_vector(by_index[i], target.provider) for i in range(count)]
        usage = common.as_dict(data.get("usage"))
        reported = usage.get("prompt_tokens")
        return vectors, reported if isinstance(reported, int) and not isinstance(reported, bool) else None

    def error_message(self, status: int, body: bytes) -> str:
        return _ERRORS.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return _ERRORS.classify(status, body)


def _vector(value: Any, provider: str) -> Vector:
    """base64 as asked; a list of numbers if an OpenAI-compatible host ignored ``encoding_format``."""
    return floats(value, provider) if isinstance(value, list) else from_base64(value, provider)
