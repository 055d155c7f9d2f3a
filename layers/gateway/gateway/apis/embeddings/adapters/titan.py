"""Amazon Titan Text Embeddings V2 on Bedrock ``InvokeModel`` (``POST {base}/model/{modelId}/invoke``): one
``inputText`` a call (``dimensions`` 256, 512 or 1024), so a batch fans out into parallel calls; the answer has
``embedding`` and ``inputTextTokenCount``. Auth as for Converse: a Bedrock API key, or SigV4 from the stored
AWS credentials."""

from __future__ import annotations

import json
from typing import Any

from gateway.apis.embeddings.adapters.base import Inputs, Vector, floats, texts
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.providers import Target, common, endpoints
from gateway.providers.bedrock import BedrockAdapter
from gateway.providers.claude import _bedrock_auth
from gateway.providers.transport import UpstreamRequest

_ERRORS = BedrockAdapter()


class TitanWire:
    def build(self, inputs: Inputs, request: EmbeddingsRequest, target: Target, timeout: float) -> UpstreamRequest:
        [item] = texts(inputs, target.provider)  # one input a call (the catalog's max_batch for Titan)
        body: dict[str, Any] = {"inputText": item}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        base = endpoints.bedrock_base(target.region)
        url = f"{base}/model/{endpoints.model_segment(target.offer.model_id)}/invoke"
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = _bedrock_auth(
            url, content, {"content-type": "application/json", "accept": "application/json"}, target
        )
        return UpstreamRequest("POST", url, headers, content)

    def parse(self, body: bytes, count: int, target: Target) -> tuple[list[Vector], int | None]:
        data = common.load_json_object(body, target.provider)
        tokens = data.get("inputTextTokenCount")
        return [floats(data.get("embedding"), target.provider)], tokens if isinstance(tokens, int) else None

    def error_message(self, status: int, body: bytes) -> str:
        return _ERRORS.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return _ERRORS.classify(status, body)
