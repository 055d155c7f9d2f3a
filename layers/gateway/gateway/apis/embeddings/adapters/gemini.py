"""Google AI Studio ``POST {base}/models/{model}:batchEmbedContents``: at most 100 requests a call, each one
``EmbedContentRequest`` (``model``, ``content.parts[].text``, ``taskType``, ``outputDimensionality``); the answer's
``embeddings[].values`` come in request order. The answer carries no token count unless ``usageMetadata`` is
there: the gateway then bills its estimate (``base.estimated_tokens``)."""

from __future__ import annotations

import json
from typing import Any

from gateway.apis.embeddings.adapters.base import Inputs, Vector, floats, texts
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.providers import AttemptFailed, Target, UnreadableResponse, common, endpoints
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.transport import UpstreamRequest
from gateway.security.credentials import ApiKeyCredentials

_ERRORS = GeminiAdapter(vertex=False)


class GeminiWire:
    def build(self, inputs: Inputs, request: EmbeddingsRequest, target: Target, timeout: float) -> UpstreamRequest:
        if not isinstance(target.credentials, ApiKeyCredentials):
            raise AttemptFailed("google-ai-studio needs an API key credential")
        model = endpoints.model_segment(target.offer.model_id)
        requests = []
        for item in texts(inputs, target.provider):
            one: dict[str, Any] = {"model": f"models/{target.offer.model_id}", "content": {"parts": [{"text": item}]}}
            if request.task_type is not None:
                one["taskType"] = request.task_type
            if request.dimensions is not None:
                one["outputDimensionality"] = request.dimensions
            requests.append(one)
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "x-goog-api-key": target.credentials.api_key.get_secret_value(),
        }
        url = f"{endpoints.base_url(target.provider)}/models/{model}:batchEmbedContents"
        body = json.dumps({"requests": requests}, separators=(",", ":")).encode()
        return UpstreamRequest("POST", url, headers, body)

    def parse(self, body: bytes, count: int, target: Target) -> tuple[list[Vector], int | None]:
        data = common.load_json_object(body, target.provider)
        embeddings = data.get("embeddings")
        if not isinstance(embeddings, list):
            raise UnreadableResponse(f"{target.provider} answer has no embeddings")
        vectors = [floats(common.as_dict(e).get("values"), target.provider) for e in embeddings]
        reported = common.as_dict(data.get("usageMetadata")).get("promptTokenCount")
        return vectors, reported if isinstance(reported, int) and not isinstance(reported, bool) else None

    def error_message(self, status: int, body: bytes) -> str:
        return _ERRORS.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return _ERRORS.classify(status, body)
