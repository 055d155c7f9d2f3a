"""Vertex AI ``POST .../publishers/google/models/{model}:predict`` (the text embeddings API): ``instances`` of
``{"content", "task_type"}`` and ``parameters.outputDimensionality``; each prediction's ``embeddings`` has its
``values`` and ``statistics.token_count``. gemini-embedding-001 takes one instance a call (the catalog's
``max_batch``), so a batch fans out into parallel calls."""

from __future__ import annotations

import json
from typing import Any

from gateway.apis.embeddings.adapters.base import Inputs, Vector, floats, texts
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.providers import AttemptFailed, Target, UnreadableResponse, common, endpoints
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.transport import UpstreamRequest
from gateway.security.credentials import ServiceAccountCredentials

_ERRORS = GeminiAdapter(vertex=True)


class VertexPredictWire:
    def build(self, inputs: Inputs, request: EmbeddingsRequest, target: Target, timeout: float) -> UpstreamRequest:
        credentials = target.credentials
        if not isinstance(credentials, ServiceAccountCredentials):
            raise AttemptFailed("google-vertex needs a service-account credential")
        model = endpoints.model_segment(target.offer.model_id)
        instances: list[dict[str, Any]] = []
        for item in texts(inputs, target.provider):
            instance: dict[str, Any] = {"content": item}
            if request.task_type is not None:
                instance["task_type"] = request.task_type
            instances.append(instance)
        body: dict[str, Any] = {"instances": instances}
        if request.dimensions is not None:
            body["parameters"] = {"outputDimensionality": request.dimensions}
        base = endpoints.vertex_project_path(credentials.project_id, target.region)
        url = f"{base}/publishers/google/models/{model}:predict"
        from gateway.providers import google_oauth

        token = google_oauth.access_token(credentials, timeout, owner=target.owner)
        headers = {"content-type": "application/json", "accept": "application/json", "authorization": f"Bearer {token}"}
        return UpstreamRequest("POST", url, headers, json.dumps(body, separators=(",", ":")).encode())

    def parse(self, body: bytes, count: int, target: Target) -> tuple[list[Vector], int | None]:
        data = common.load_json_object(body, target.provider)
        predictions = data.get("predictions")
        if not isinstance(predictions, list):
            raise UnreadableResponse(f"{target.provider} answer has no predictions")
        vectors: list[Vector] = []
        tokens = 0
        for prediction in predictions:
            embeddings = common.as_dict(common.as_dict(prediction).get("embeddings"))
            vectors.append(floats(embeddings.get("values"), target.provider))
            tokens += common.int_field(common.as_dict(embeddings.get("statistics")), "token_count")
        return vectors, tokens

    def error_message(self, status: int, body: bytes) -> str:
        return _ERRORS.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return _ERRORS.classify(status, body)
