"""The embeddings adapters: each wire format's request from the provider's documentation, answers read back in
input order, batches split at the offer's per-call limit, and the shapes a provider could answer that are not
embeddings refused as unreadable."""

from __future__ import annotations

import base64
import json
import struct
from array import array
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.apis.embeddings.adapters import adapter_for
from gateway.apis.embeddings.adapters.base import estimated_tokens, to_base64
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.core.catalog import Offer
from gateway.core.errors import BadRequest
from gateway.providers import Target, UnreadableResponse
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials
from tests.unit.providers.helpers import body_of


def request(**fields: Any) -> EmbeddingsRequest:
    return EmbeddingsRequest.model_validate({"model": "m", "input": ["a", "b", "c"], **fields})


def target(provider: str, model_id: str, family: Any, max_batch: int, credentials: Any = None) -> Target:
    offer = Offer(
        slug=provider, model_id=model_id, family=family, max_batch=max_batch, token_input=provider == "openai"
    )
    credentials = credentials or ApiKeyCredentials(api_key=SecretStr("test-key-1234567890"))
    return Target(provider=provider, offer=offer, credentials=credentials, region="us-east-1")


OPENAI = target("openai", "text-embedding-3-small", "openai", 2)
STUDIO = target("google-ai-studio", "gemini-embedding-001", "gemini", 100)
TITAN = target(
    "amazon-bedrock",
    "amazon.titan-embed-text-v2:0",
    "titan-embed",
    1,
    AwsCredentials(access_key_id="AKIASTOREDSTOREDKEY1", secret_access_key=SecretStr("s" * 40)),
)


def test_openai_request_and_a_split_batch_read_back_by_index() -> None:
    adapter = adapter_for(OPENAI)
    upstreams = adapter.build_requests(request(dimensions=256, user="u-1"), OPENAI, timeout=5)

    assert [u.url for u in upstreams] == ["https://api.openai.com/v1/embeddings"] * 2
    assert [body_of(u) for u in upstreams] == [
        {
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "encoding_format": "base64",
            "dimensions": 256,
            "user": "u-1",
        },
        {
            "model": "text-embedding-3-small",
            "input": ["c"],
            "encoding_format": "base64",
            "dimensions": 256,
            "user": "u-1",
        },
    ]
    assert upstreams[0].headers["authorization"] == "Bearer test-key-1234567890"
    # OpenAI may list data in any order: ``index`` says which input each vector is
    first = {
        "data": [{"index": 1, "embedding": [0.2]}, {"index": 0, "embedding": [0.1]}],
        "usage": {"prompt_tokens": 4},
    }
    second = {"data": [{"index": 0, "embedding": [0.3]}], "usage": {"prompt_tokens": 2}}
    answer = adapter.parse_responses(request(), OPENAI, [json.dumps(first).encode(), json.dumps(second).encode()])
    assert [v.tolist() for v in answer["vectors"]] == [[0.1], [0.2], [0.3]]
    assert answer["usage"] == {"prompt_tokens": 6, "completion_tokens": 0}


def test_openai_base64_vectors_are_little_endian_float32() -> None:
    values = [0.5, -1.25, 3.0]
    encoded = base64.b64encode(struct.pack("<3f", *values)).decode()
    body = {"data": [{"index": 0, "embedding": encoded}], "usage": {"prompt_tokens": 1}}
    [vector] = adapter_for(OPENAI).parse_responses(request(input="a"), OPENAI, [json.dumps(body).encode()])["vectors"]
    assert vector.tolist() == values
    assert to_base64(vector) == encoded == to_base64(array("d", values))
    for broken in ("not base64!", base64.b64encode(b"abc").decode(), ""):
        with pytest.raises(UnreadableResponse):
            adapter_for(OPENAI).parse_responses(
                request(input="a"), OPENAI, [json.dumps({"data": [{"index": 0, "embedding": broken}]}).encode()]
            )


def test_gemini_batch_embed_contents_request_and_estimated_usage() -> None:
    adapter = adapter_for(STUDIO)
    [upstream] = adapter.build_requests(request(dimensions=768, task_type="RETRIEVAL_DOCUMENT"), STUDIO, timeout=5)

    assert upstream.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
    )
    assert upstream.headers["x-goog-api-key"] == "test-key-1234567890" and "key=" not in upstream.url
    assert body_of(upstream)["requests"][0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "a"}]},
        "taskType": "RETRIEVAL_DOCUMENT",
        "outputDimensionality": 768,
    }
    body = {"embeddings": [{"values": [1]}, {"values": [2]}, {"values": [3]}]}
    answer = adapter.parse_responses(request(), STUDIO, [json.dumps(body).encode()])
    assert [v.tolist() for v in answer["vectors"]] == [[1.0], [2.0], [3.0]]
    # batchEmbedContents reports no tokens: the estimate is at least one per input
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 0}


def test_titan_fans_out_one_signed_call_per_input() -> None:
    adapter = adapter_for(TITAN)
    upstreams = adapter.build_requests(request(dimensions=512), TITAN, timeout=5)

    assert [body_of(u) for u in upstreams] == [{"inputText": t, "dimensions": 512} for t in "abc"]
    assert {u.url for u in upstreams} == {
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke"
    }
    signatures = {u.headers["authorization"] for u in upstreams}
    assert len(signatures) == 3 and all(
        s.startswith("AWS4-HMAC-SHA256 Credential=AKIASTOREDSTOREDKEY1/") for s in signatures
    )
    bodies = [json.dumps({"embedding": [i], "inputTextTokenCount": 2}).encode() for i in range(3)]
    assert adapter.parse_responses(request(), TITAN, bodies)["usage"]["prompt_tokens"] == 6


def test_token_arrays_are_refused_by_text_only_wire_formats() -> None:
    tokens = request(input=[[1, 2], [3]])
    assert tokens.tokens and tokens.inputs() == [[1, 2], [3]]
    for text_only in (STUDIO, TITAN):
        with pytest.raises(BadRequest) as caught:
            adapter_for(text_only).build_requests(tokens, text_only, timeout=5)
        assert caught.value.param == "input"
    assert body_of(adapter_for(OPENAI).build_requests(tokens, OPENAI, timeout=5)[0])["input"] == [[1, 2], [3]]


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"index": 0, "embedding": [0.1]}]},  # fewer vectors than inputs
        {"data": [{"index": 0, "embedding": ["x"]}, {"index": 1, "embedding": [0.1]}]},  # not numbers
        {"data": [{"index": 0, "embedding": [0.1]}, {"index": 0, "embedding": [0.1]}]},  # an index twice
        {"error": "nope"},
    ],
)
def test_an_answer_that_is_not_one_vector_per_input_is_unreadable(body: dict[str, Any]) -> None:
    with pytest.raises(UnreadableResponse):
        adapter_for(OPENAI).parse_responses(request(input=["a", "b"]), OPENAI, [json.dumps(body).encode()])


def test_estimated_tokens_count_bytes_for_text_and_ids_for_token_arrays() -> None:
    assert estimated_tokens(["", "abcd", "abcde", "Zürich"]) == 1 + 1 + 2 + 2
    assert estimated_tokens([[1, 2, 3]]) == 3
