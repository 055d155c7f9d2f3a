"""Each provider's embedding calls, with deterministic vectors and the providers' own per-call limits.

``vector(item, dimensions)`` is the embedding of one input (text or token ids): seeded by a hash of the input and
the size, unit length, every component exactly a float32 (what OpenAI's base64 carries), so a test can compute
the vector it expects. Oversized batches are refused as the provider refuses them, so a gateway that does not
split a batch at the limit fails here as it would upstream.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import struct
from typing import Any

from local.simulator import bedrock_format, gemini_format, openai_format
from local.simulator.content import count_words
from local.simulator.wire import Reply, json_reply, new_id

OPENAI_MAX_INPUTS = 2048  # "any array must be 2048 dimensions or less"
OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
GEMINI_MAX_BATCH = 100  # "BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch"
GEMINI_DIMENSIONS = (128, 3072)
VERTEX_MAX_INSTANCES = {"gemini-embedding-001": 1}  # "gemini-embedding-001 supports one instance per request"
TITAN_DIMENSIONS = (256, 512, 1024)
COHERE_MAX_TEXTS = 96  # "Texts per call: 0 to 96"
COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")
COHERE_DIMENSIONS = 1024


def vector(item: str | list[int], dimensions: int) -> list[float]:
    seed = hashlib.sha256(json.dumps([item, dimensions]).encode()).digest()
    rng = random.Random(seed)
    values = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [_float32(v / norm) for v in values]


def tokens_of(item: str | list[int]) -> int:
    return len(item) if isinstance(item, list) else max(1, count_words(item))


def _encoded(values: list[float], encoding: str) -> list[float] | str:
    """OpenAI's ``base64``: little-endian float32, base64 (what the openai SDK asks for by default)."""
    if encoding == "float":
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def handle_openai(body: Any) -> Reply:
    if not isinstance(body, dict):
        return openai_format.error_reply(400, "We could not parse the JSON body of your request.")
    model, raw = body.get("model"), body.get("input")
    if model not in OPENAI_DIMENSIONS:
        return openai_format.error_reply(404, f"The model `{model}` does not exist or you do not have access to it.")
    single = isinstance(raw, str) or (isinstance(raw, list) and bool(raw) and isinstance(raw[0], int))
    inputs: Any = [raw] if single else raw
    if not isinstance(inputs, list) or not inputs or len(inputs) > OPENAI_MAX_INPUTS:
        return openai_format.error_reply(400, "'$.input' is invalid. Please check the API reference.", param="input")
    if any(item == "" or not isinstance(item, str | list) for item in inputs):
        return openai_format.error_reply(400, "'$.input' is invalid. Please check the API reference.", param="input")
    largest = OPENAI_DIMENSIONS[model]
    dimensions = body.get("dimensions", largest)
    if not isinstance(dimensions, int) or not 1 <= dimensions <= largest:
        return openai_format.error_reply(400, f"This model does not support specifying dimensions={dimensions}.")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return openai_format.error_reply(400, f"Invalid value: '{encoding}'.", param="encoding_format")
    tokens = sum(tokens_of(item) for item in inputs)
    return json_reply(
        200,
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encoded(vector(item, dimensions), encoding)}
                for i, item in enumerate(inputs)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


def handle_gemini_batch(body: Any, model: str) -> Reply:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return gemini_format.error_reply(400, "* BatchEmbedContentsRequest.requests: requests is required")
    if len(requests) > GEMINI_MAX_BATCH:
        message = f"* BatchEmbedContentsRequest.requests: at most {GEMINI_MAX_BATCH} requests can be in one batch\n"
        return gemini_format.error_reply(400, message)
    embeddings = []
    for request in requests:
        one = _gemini_embedding(request, model)
        if isinstance(one, Reply):
            return one
        embeddings.append({"values": one})
    return json_reply(200, {"embeddings": embeddings})


def handle_gemini_single(body: Any, model: str) -> Reply:
    one = _gemini_embedding(body, model)
    return one if isinstance(one, Reply) else json_reply(200, {"embedding": {"values": one}})


def _gemini_embedding(request: Any, model: str) -> list[float] | Reply:
    if not isinstance(request, dict) or request.get("model", f"models/{model}") != f"models/{model}":
        return gemini_format.error_reply(400, "* BatchEmbedContentsRequest.model: each request's model must match")
    parts = (request.get("content") or {}).get("parts") if isinstance(request.get("content"), dict) else None
    if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
        return gemini_format.error_reply(400, "* EmbedContentRequest.content: contents.parts must not be empty.")
    text = "".join(str(p.get("text", "")) for p in parts)
    dimensions = request.get("outputDimensionality", GEMINI_DIMENSIONS[1])
    if not isinstance(dimensions, int) or not GEMINI_DIMENSIONS[0] <= dimensions <= GEMINI_DIMENSIONS[1]:
        return gemini_format.error_reply(400, f"* outputDimensionality: {dimensions} is out of range")
    return vector(text, dimensions)


def handle_vertex_predict(body: Any, model: str) -> Reply:
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        return gemini_format.error_reply(400, "Invalid JSON payload: instances is required.")
    limit = VERTEX_MAX_INSTANCES.get(model, 250)
    if len(instances) > limit:
        return gemini_format.error_reply(
            400, f"Unable to submit request because {model} supports at most {limit} instance(s) per request."
        )
    parameters = body.get("parameters") or {}
    dimensions = parameters.get("outputDimensionality", GEMINI_DIMENSIONS[1]) if isinstance(parameters, dict) else 0
    if not isinstance(dimensions, int) or not GEMINI_DIMENSIONS[0] <= dimensions <= GEMINI_DIMENSIONS[1]:
        return gemini_format.error_reply(400, f"outputDimensionality {dimensions} is out of range")
    predictions = []
    for instance in instances:
        content = instance.get("content") if isinstance(instance, dict) else None
        if not isinstance(content, str):
            return gemini_format.error_reply(400, "Invalid instance: content must be a string.")
        statistics = {"token_count": tokens_of(content), "truncated": False}
        predictions.append({"embeddings": {"statistics": statistics, "values": vector(content, dimensions)}})
    return json_reply(200, {"predictions": predictions, "metadata": {"billableCharacterCount": 0}})


def handle_titan(body: Any) -> Reply:
    if not isinstance(body, dict) or not isinstance(body.get("inputText"), str) or not body["inputText"]:
        return bedrock_format.error_reply(400, "Malformed input request: #: required key [inputText] not found")
    unknown = set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}
    if unknown:
        return bedrock_format.error_reply(400, f"Malformed input request: extraneous key [{sorted(unknown)[0]}]")
    dimensions = body.get("dimensions", 1024)
    if dimensions not in TITAN_DIMENSIONS:
        return bedrock_format.error_reply(
            400, f"Malformed input request: #/dimensions: {dimensions} is not a valid enum value"
        )
    values = vector(body["inputText"], dimensions)
    return json_reply(
        200,
        {
            "embedding": values,
            "inputTextTokenCount": tokens_of(body["inputText"]),
            "embeddingsByType": {"float": values},
        },
    )


def handle_cohere(body: Any) -> Reply:
    if not isinstance(body, dict) or not isinstance(body.get("texts"), list):
        return bedrock_format.error_reply(400, "Malformed input request: #: required key [texts] not found")
    texts = body["texts"]
    if len(texts) > COHERE_MAX_TEXTS:
        message = (
            f"Malformed input request: #/texts: expected maximum item count: {COHERE_MAX_TEXTS}, found: {len(texts)}"
        )
        return bedrock_format.error_reply(400, message)
    if body.get("input_type") not in COHERE_INPUT_TYPES:  # required by the v3 models
        return bedrock_format.error_reply(400, "Malformed input request: #: required key [input_type] not found")
    if not all(isinstance(t, str) for t in texts):
        return bedrock_format.error_reply(400, "Malformed input request: #/texts: expected type: String")
    return json_reply(
        200,
        {
            "embeddings": [vector(t, COHERE_DIMENSIONS) for t in texts],
            "id": new_id(),
            "response_type": "embeddings_floats",
            "texts": texts,
        },
    )
