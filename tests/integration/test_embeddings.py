"""POST /v1/embeddings through the HTTP API with the official openai SDK and LangChain, against the simulator.

Every provider's own embedding call (asserted on what the simulator recorded), batches split at each provider's
per-call limit and joined in input order, BYOK first, fallback, credits, logs and the 400s of the contract.
"""

from __future__ import annotations

import base64
import struct
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from local.simulator.embeddings import vector
from tests.conftest import Gateway
from tests.integration.helpers import add_key, byok_credentials, credential_id, get_log
from tests.integration.test_messages import balance, only, upstream

ROUTES = [
    ("openai/text-embedding-3-small", "openai", 1536),
    ("google/gemini-embedding-001", "google-ai-studio", 3072),
    ("google/gemini-embedding-001", "google-vertex", 3072),
    ("amazon/titan-embed-text-v2", "amazon-bedrock", 1024),
    ("cohere/embed-english-v3", "amazon-bedrock", 1024),
]
TEXTS = ["The cat sat on the mat.", "Embeddings map text to vectors.", "Zürich is in Switzerland."]


def post(api: Any, gateway: Gateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/embeddings", json=body, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=20
    )


# --- every provider, through the openai SDK -------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider", "dimensions"), ROUTES)
def test_openai_sdk_embeds_on_every_provider(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, model: str, provider: str, dimensions: int
) -> None:
    before = balance(gateway.customer.account_id)
    raw = openai_client.embeddings.with_raw_response.create(
        model=model, input=TEXTS, encoding_format="float", extra_body=only(provider)
    )
    answer = raw.parse()

    assert [item.index for item in answer.data] == [0, 1, 2]
    for item, text in zip(answer.data, TEXTS, strict=True):
        assert item.embedding == vector(text, dimensions)
    assert answer.model == model
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-byok"] == "false"
    assert raw.headers["x-gateway-attempts"] == "1"
    body = raw.http_response.json()
    assert body["provider"] == provider
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"]
    assert usage["is_byok"] is False and usage["cost"] > 0
    assert balance(gateway.customer.account_id) == pytest.approx(before - Decimal(str(usage["cost"])))

    log = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert log["api"] == "embeddings" and log["provider"] == provider and log["status"] == "success"
    assert log["usage"]["prompt_tokens"] == usage["prompt_tokens"] and log["stream"] is False
    assert "cat sat" not in str(log)  # no input text is stored


def test_each_provider_receives_its_own_wire_format(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    for model, provider, _ in ROUTES[:4]:  # Cohere v3 makes 1024 dimensions only: below
        openai_client.embeddings.create(
            model=model, input=TEXTS[:2], dimensions=256, encoding_format="float", extra_body=only(provider)
        )

    [sent] = upstream(gateway, "openai")
    assert sent.path == "/openai/v1/embeddings"
    assert sent.json == {
        "model": "text-embedding-3-small",
        "input": TEXTS[:2],
        "encoding_format": "base64",  # a quarter of the size of JSON floats; the gateway decodes it
        "dimensions": 256,
    }
    [sent] = upstream(gateway, "google-ai-studio")
    assert sent.path == "/google-ai-studio/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.json == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 256}
            for t in TEXTS[:2]
        ]
    }
    assert "key" not in sent.query and sent.headers["x-goog-api-key"]
    vertex = upstream(gateway, "google-vertex")
    assert len(vertex) == 2  # gemini-embedding-001 on Vertex takes one instance a call
    assert all(r.path.endswith("/publishers/google/models/gemini-embedding-001:predict") for r in vertex)
    assert sorted(r.json["instances"][0]["content"] for r in vertex) == sorted(TEXTS[:2])
    assert all(r.json["parameters"] == {"outputDimensionality": 256} for r in vertex)
    bedrock = upstream(gateway, "amazon-bedrock")
    assert len(bedrock) == 2  # Titan takes one inputText a call
    assert all(r.path == "/bedrock/model/amazon.titan-embed-text-v2%3A0/invoke" for r in bedrock)
    assert sorted(r.json["inputText"] for r in bedrock) == sorted(TEXTS[:2])
    assert all(r.json["dimensions"] == 256 for r in bedrock)

    gateway.sim.clear_requests()
    openai_client.embeddings.create(model="cohere/embed-english-v3", input=TEXTS[:2])
    [sent] = upstream(gateway, "amazon-bedrock")  # Cohere takes a list: one call
    assert sent.path == "/bedrock/model/cohere.embed-english-v3/invoke"
    assert sent.json == {"texts": TEXTS[:2], "input_type": "search_document"}


def test_gemini_task_type_goes_to_google_and_is_named_ignored_elsewhere(
    openai_client: openai.OpenAI, gateway: Gateway
) -> None:
    raw = openai_client.embeddings.with_raw_response.create(
        model="google/gemini-embedding-001",
        input="a query",
        extra_body={"task_type": "RETRIEVAL_QUERY", **only("google-ai-studio")},
    )
    assert "x-gateway-ignored-params" not in raw.headers
    assert upstream(gateway, "google-ai-studio")[0].json["requests"][0]["taskType"] == "RETRIEVAL_QUERY"
    openai_client.embeddings.create(
        model="google/gemini-embedding-001",
        input="a query",
        extra_body={"task_type": "RETRIEVAL_QUERY", **only("google-vertex")},
    )
    assert upstream(gateway, "google-vertex")[-1].json["instances"][0]["task_type"] == "RETRIEVAL_QUERY"

    raw = openai_client.embeddings.with_raw_response.create(
        model="amazon/titan-embed-text-v2", input="a query", user="user-7", extra_body={"task_type": "RETRIEVAL_QUERY"}
    )
    assert raw.headers["x-gateway-ignored-params"] == "user,task_type"
    assert upstream(gateway, "amazon-bedrock")[0].json == {"inputText": "a query"}

    raw = openai_client.embeddings.with_raw_response.create(
        model="cohere/embed-english-v3", input="a query", extra_body={"task_type": "RETRIEVAL_QUERY"}
    )
    assert "x-gateway-ignored-params" not in raw.headers  # Cohere's input_type says it
    assert upstream(gateway, "amazon-bedrock")[-1].json == {"texts": ["a query"], "input_type": "search_query"}


# --- base64, order across a split, token arrays ---------------------------------------------------------


def test_base64_is_little_endian_float32_as_openai_and_the_sdk_decodes_it(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    # The openai SDK asks for base64 by default and decodes it itself.
    decoded = openai_client.embeddings.create(model="openai/text-embedding-3-small", input=TEXTS)
    assert [item.embedding for item in decoded.data] == [vector(t, 1536) for t in TEXTS]

    raw = post(api, gateway, {"model": "amazon/titan-embed-text-v2", "input": "hello", "encoding_format": "base64"})
    encoded = raw.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    packed = base64.b64decode(encoded)
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == vector("hello", 1024)


@pytest.mark.parametrize(
    ("model", "provider", "count", "calls_expected", "size"),
    [
        ("openai/text-embedding-3-small", "openai", 2050, 2, 128),  # 2048 a call
        ("google/gemini-embedding-001", "google-ai-studio", 250, 3, 128),  # 100 a call
        ("google/gemini-embedding-001", "google-vertex", 7, 7, 128),  # one a call
        ("amazon/titan-embed-text-v2", "amazon-bedrock", 40, 40, 256),  # one a call, in parallel
        ("cohere/embed-multilingual-v3", "amazon-bedrock", 200, 3, 1024),  # 96 a call
    ],
)
def test_a_batch_is_split_at_the_provider_limit_and_comes_back_in_input_order(
    openai_client: openai.OpenAI,
    gateway: Gateway,
    model: str,
    provider: str,
    count: int,
    calls_expected: int,
    size: int,
) -> None:
    texts = [f"input number {i}" for i in range(count)]
    answer = openai_client.embeddings.create(model=model, input=texts, dimensions=size, extra_body=only(provider))
    assert [item.index for item in answer.data] == list(range(count))
    assert [item.embedding for item in answer.data] == [vector(t, size) for t in texts]
    assert len(upstream(gateway, provider)) == calls_expected
    assert all(r.status == 200 for r in upstream(gateway, provider))


def test_token_arrays_go_to_a_provider_that_takes_them(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    tokens = [[15339, 1917], [9906]]
    answer = openai_client.embeddings.create(model="openai/text-embedding-3-small", input=tokens)
    assert [item.embedding for item in answer.data] == [vector(t, 1536) for t in tokens]
    assert upstream(gateway, "openai")[0].json["input"] == tokens
    assert answer.usage.prompt_tokens == 3


# --- LangChain ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider", "dimensions"), ROUTES)
def test_langchain_openai_embeddings(api: Any, gateway: Gateway, model: str, provider: str, dimensions: int) -> None:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=model,
        base_url=f"{api.url}/v1",
        api_key=gateway.api_key,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,  # send text: tiktoken's token ids are OpenAI's alone
        max_retries=0,
        model_kwargs={"extra_body": only(provider)},
    )
    assert embeddings.embed_documents(TEXTS) == [vector(t, dimensions) for t in TEXTS]
    assert embeddings.embed_query("Where is Zürich?") == vector("Where is Zürich?", dimensions)
    assert {r.provider for r in gateway.sim.requests if r.provider != "google-oauth"} == {provider}


# --- BYOK first, fallback -------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider", "dimensions"), ROUTES)
def test_byok_serves_first_at_no_cost(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, model: str, provider: str, dimensions: int
) -> None:
    credentials = byok_credentials(gateway.sim, provider)
    region = {"region": "eu-west-1"} if provider == "amazon-bedrock" else {}
    add_key(api.url, gateway.api_key, provider, credentials, **region)
    before = balance(gateway.customer.account_id)

    raw = openai_client.embeddings.with_raw_response.create(model=model, input=TEXTS, extra_body=only(provider))
    body = raw.http_response.json()
    assert raw.headers["x-gateway-byok"] == "true"
    assert body["usage"]["is_byok"] is True and body["usage"]["cost"] == 0
    assert balance(gateway.customer.account_id) == before
    assert {r.credential for r in upstream(gateway, provider)} == {credential_id(credentials)}


def test_byok_failure_falls_back_to_shared_and_the_log_shows_both(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    credentials = byok_credentials(gateway.sim, "amazon-bedrock")
    key = add_key(api.url, gateway.api_key, "amazon-bedrock", credentials, region="eu-west-1")
    gateway.sim.fail("amazon-bedrock", status=429, credential=credential_id(credentials), times=1)

    raw = openai_client.embeddings.with_raw_response.create(model="amazon/titan-embed-text-v2", input=TEXTS)
    assert [item.embedding for item in raw.parse().data] == [vector(t, 1024) for t in TEXTS]
    assert raw.headers["x-gateway-byok"] == "false" and raw.headers["x-gateway-attempts"] == "2"
    log = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    attempts = [(a["provider"], a["credential"], a["status_code"], a["key_id"]) for a in log["attempts"]]
    assert attempts == [("amazon-bedrock", "byok", 429, key["id"]), ("amazon-bedrock", "shared", 200, None)]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_failing_provider_falls_back_to_the_next(openai_client: openai.OpenAI, gateway: Gateway, status: int) -> None:
    gateway.sim.fail("google-ai-studio", status=status)
    raw = openai_client.embeddings.with_raw_response.create(
        model="google/gemini-embedding-001",
        input=TEXTS,
        extra_body={"provider": {"order": ["google-ai-studio", "google-vertex"]}},
    )
    assert raw.headers["x-gateway-provider"] == "google-vertex"
    assert raw.headers["x-gateway-attempts"] == "2"
    assert [item.embedding for item in raw.parse().data] == [vector(t, 3072) for t in TEXTS]


def test_one_failed_call_of_a_split_batch_fails_the_attempt(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    gateway.sim.fail("google-vertex", status=503, times=1)
    raw = openai_client.embeddings.with_raw_response.create(
        model="google/gemini-embedding-001",
        input=TEXTS,
        extra_body={"provider": {"order": ["google-vertex", "google-ai-studio"]}},
    )
    assert raw.headers["x-gateway-provider"] == "google-ai-studio"
    assert [item.embedding for item in raw.parse().data] == [vector(t, 3072) for t in TEXTS]


def test_all_attempts_failing_is_the_last_status(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    gateway.sim.fail("openai", status=429)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.embeddings.create(model="openai/text-embedding-3-small", input="x")
    assert "all 1 attempts failed" in caught.value.message


# --- the 400s -------------------------------------------------------------------------------------------


def test_a_chat_model_sent_here_is_a_400_naming_model(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model="openai/gpt-5-mini", input="x")
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert "/v1/chat/completions" in caught.value.message
    assert gateway.sim.requests == []


def test_an_embedding_model_sent_to_chat_or_messages_is_a_400_naming_model(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="openai/text-embedding-3-small", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert "/v1/embeddings" in caught.value.message
    response = httpx.post(
        f"{api.url}/v1/messages",
        json={"model": "google/gemini-embedding-001", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": gateway.api_key},
        timeout=20,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "/v1/embeddings" in response.json()["error"]["message"]
    assert gateway.sim.requests == []


def test_token_arrays_where_no_provider_takes_them_are_a_400_naming_input(
    openai_client: openai.OpenAI, gateway: Gateway
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model="google/gemini-embedding-001", input=[[1, 2, 3]])
    assert caught.value.body["param"] == "input"  # type: ignore[index]
    assert gateway.sim.requests == []


@pytest.mark.parametrize(
    ("model", "dimensions", "says"),
    [
        ("amazon/titan-embed-text-v2", 300, "256, 512, 1024"),
        ("google/gemini-embedding-001", 64, "128 to 3072"),
        ("openai/text-embedding-3-small", 2000, "1 to 1536"),
        ("cohere/embed-english-v3", 512, "produces 1024"),
    ],
)
def test_dimensions_a_model_cannot_produce_are_a_400_naming_dimensions(
    openai_client: openai.OpenAI, gateway: Gateway, model: str, dimensions: int, says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model=model, input="x", dimensions=dimensions)
    assert caught.value.body["param"] == "dimensions"  # type: ignore[index]
    assert says in caught.value.message
    assert gateway.sim.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "openai/text-embedding-3-small"}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": []}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": [1, "a"]}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "openai/text-embedding-3-small", "input": "x", "dimension": 8}, "dimension"),
    ],
)
def test_malformed_requests_are_400s_naming_the_field(
    api: Any, gateway: Gateway, body: dict[str, Any], param: str
) -> None:
    response = post(api, gateway, body)
    assert response.status_code == 400
    assert response.json()["error"]["param"].split(".")[0] == param


def test_no_credits_and_no_byok_is_402(openai_client: openai.OpenAI, gateway: Gateway) -> None:
    from gateway.apis import admin

    customer = admin.create_account("broke", Decimal("0"))
    broke = openai_client.with_options(api_key=customer[1])
    with pytest.raises(openai.APIStatusError) as caught:
        broke.embeddings.create(model="openai/text-embedding-3-small", input="x")
    assert caught.value.status_code == 402
    assert gateway.sim.requests == []


def test_models_list_says_which_endpoints_serve_each_model(openai_client: openai.OpenAI) -> None:
    models = {m.id: m for m in openai_client.models.list().data}
    assert models["openai/text-embedding-3-small"].model_extra["endpoints"] == ["embeddings"]  # type: ignore[index]
    assert models["openai/gpt-5-mini"].model_extra["endpoints"] == ["chat", "messages", "responses"]  # type: ignore[index]
    embedding = openai_client.models.retrieve("google/gemini-embedding-001").model_extra or {}
    assert embedding["embedding"] == {"dimensions": 3072, "min_dimensions": 128, "max_input_tokens": 2048}
    assert embedding["providers"][0]["pricing"] == {"prompt": 0.15, "completion": 0.0}


def test_shared_capacity_holds_the_inputs_worst_case_and_refuses_what_credits_cannot_cover(
    openai_client: openai.OpenAI, gateway: Gateway
) -> None:
    from gateway.apis import admin

    # 30,000 bytes of input: up to ~30,000 tokens at $0.13 per million is about $0.004, more than this holds
    account, api_key = admin.create_account("thin", Decimal("0.001"))
    thin = openai_client.with_options(api_key=api_key)
    with pytest.raises(openai.APIStatusError) as caught:
        thin.embeddings.create(model="openai/text-embedding-3-large", input=["word " * 6000])
    assert caught.value.status_code == 402
    assert "insufficient credits" in caught.value.message
    assert "fewer or shorter inputs" in caught.value.message and "max_tokens" not in caught.value.message
    assert gateway.sim.requests == []
    # a short input fits the same balance, and only its reported tokens are charged
    answer = thin.embeddings.create(model="openai/text-embedding-3-large", input="short")
    assert answer.usage.prompt_tokens == 1
    assert balance(account.account_id) == Decimal("0.001") - Decimal("0.13") / 1_000_000
