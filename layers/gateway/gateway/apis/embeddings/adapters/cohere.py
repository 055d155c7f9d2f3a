"""Cohere Embed v3 on Bedrock ``InvokeModel`` (``POST {base}/model/{modelId}/invoke``): ``texts`` (up to 96 a
call) and ``input_type``, which v3 models require: Gemini's ``task_type`` names map onto it (RETRIEVAL_DOCUMENT
to search_document, RETRIEVAL_QUERY to search_query, CLASSIFICATION, CLUSTERING), else ``search_document``, the
type for what is stored in a vector index. The answer's ``embeddings`` are floats in ``texts`` order; its body
carries no token count, so the gateway bills its estimate (``base.estimated_tokens``)."""

from __future__ import annotations

import json

from gateway.apis.embeddings.adapters.base import Inputs, Vector, floats, texts
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.core.errors import BadRequest
from gateway.providers import Target, UnreadableResponse, common, endpoints
from gateway.providers.bedrock import BedrockAdapter
from gateway.providers.claude import _bedrock_auth
from gateway.providers.transport import UpstreamRequest

_ERRORS = BedrockAdapter()
INPUT_TYPES = {
    "RETRIEVAL_DOCUMENT": "search_document",
    "RETRIEVAL_QUERY": "search_query",
    "CLASSIFICATION": "classification",
    "CLUSTERING": "clustering",
}
DEFAULT_INPUT_TYPE = "search_document"


class CohereWire:
    def build(self, inputs: Inputs, request: EmbeddingsRequest, target: Target, timeout: float) -> UpstreamRequest:
        input_type = INPUT_TYPES.get(request.task_type or "", DEFAULT_INPUT_TYPE)
        if request.task_type is not None and request.task_type not in INPUT_TYPES:
            raise BadRequest(
                f"task_type {request.task_type} has no Cohere input_type; use one of {', '.join(INPUT_TYPES)}",
                param="task_type",
            )
        body = {"texts": texts(inputs, target.provider), "input_type": input_type}
        base = endpoints.bedrock_base(target.region)
        url = f"{base}/model/{endpoints.model_segment(target.offer.model_id)}/invoke"
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "accept": "application/json"}
        return UpstreamRequest("POST", url, _bedrock_auth(url, content, headers, target), content)

    def parse(self, body: bytes, count: int, target: Target) -> tuple[list[Vector], int | None]:
        embeddings = common.load_json_object(body, target.provider).get("embeddings")
        if not isinstance(embeddings, list):
            raise UnreadableResponse(f"{target.provider} answer has no float embeddings")
        return [floats(e, target.provider) for e in embeddings], None

    def error_message(self, status: int, body: bytes) -> str:
        return _ERRORS.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return _ERRORS.classify(status, body)
