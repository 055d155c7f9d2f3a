"""POST /v1/responses and stored responses through the HTTP API with the official openai SDK, against the simulator.

OpenAI models go to OpenAI's own /responses with the client's body (asserted on what the simulator recorded);
every other provider is translated through its chat adapter. Routing, BYOK-first, credits and logs are those of
chat; stored responses are encrypted, owner-only and continue across providers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway.data import accounts as store
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, credential_id, get_log

# (model, provider) for every provider the catalog has: OpenAI natively, the rest translated.
TARGETS = [
    ("openai/gpt-5-mini", "openai"),
    ("anthropic/claude-sonnet-4.5", "anthropic"),
    ("anthropic/claude-sonnet-4.5", "amazon-bedrock"),
    ("anthropic/claude-sonnet-4.5", "google-vertex"),
    ("google/gemini-3-flash", "google-ai-studio"),
    ("google/gemini-3-flash", "google-vertex"),
    ("deepseek/deepseek-v3.2", "deepseek"),
]
IDS = [f"{provider}:{model}" for model, provider in TARGETS]
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
def client(api: Any, gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=20)


def only(provider: str) -> dict[str, Any]:
    return {"provider": {"only": [provider]}}


def upstream(gateway: Gateway, provider: str) -> list[Any]:
    return [r for r in gateway.sim.requests if r.provider == provider]


def balance(account_id: str) -> Decimal:
    snapshot = store.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_create_answers_a_response_object_on_every_provider(
    client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    before = balance(gateway.customer.account_id)
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hello", instructions="Be brief.", extra_body=only(provider)
    )
    response = raw.parse()
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed"
    assert response.model == model
    assert f"Hello from {provider}" in response.output_text
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    extra = response.model_dump()
    assert extra["provider"] == provider
    assert extra["usage"]["is_byok"] is False and extra["usage"]["cost"] > 0
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-attempts"] == "1"
    assert balance(gateway.customer.account_id) == before - Decimal(str(extra["usage"]["cost"]))
    log = get_log(client.base_url.__str__().removesuffix("/v1/"), gateway.api_key, raw.headers["x-request-id"])
    assert log["api"] == "responses" and log["provider"] == provider and log["status"] == "success"


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_stream_gives_the_semantic_events_in_sequence(
    client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hello", stream=True, extra_body=only(provider)
    )
    events = list(raw.parse())
    headers = raw.headers
    assert events[-1].type == "response.completed"
    final = events[-1].response

    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for expected in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert expected in kinds, expected
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert f"Hello from {provider}" in text and final.output_text == text
    assert events[0].response.id == final.id and final.id.startswith("resp_")
    assert final.model == model and final.model_dump()["provider"] == provider
    assert final.usage is not None and final.usage.output_tokens > 0
    assert final.model_dump()["usage"]["is_byok"] is False
    assert headers["x-gateway-provider"] == provider
    log = get_log(str(client.base_url).removesuffix("/v1/"), gateway.api_key, headers["x-request-id"])
    assert (log["api"], log["stream"], log["status"]) == ("responses", True, "success")
    assert log["cost"] > 0


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_a_function_tool_round_trip(client: openai.OpenAI, gateway: Gateway, model: str, provider: str) -> None:
    # Given a function tool, the model calls it
    first = client.responses.create(
        model=model, input="What is the weather in Paris?", tools=[WEATHER_TOOL], extra_body=only(provider)
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.call_id
    assert "location" in json.loads(call.arguments)

    # When the caller sends the tool's output back with the conversation so far (stateless: store false)
    second = client.responses.create(
        model=model,
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 degrees"},
        ],
        tools=[WEATHER_TOOL],
        store=False,
        extra_body=only(provider),
    )

    # Then the model answers in text, and the upstream saw the call and its output
    assert second.output_text and not [item for item in second.output if item.type == "function_call"]
    sent = upstream(gateway, provider)[-1].json
    assert "sunny, 21 degrees" in json.dumps(sent)


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_streamed_function_call_arguments(client: openai.OpenAI, gateway: Gateway, model: str, provider: str) -> None:
    with client.responses.stream(
        model=model, input="Weather in Paris?", tools=[WEATHER_TOOL], extra_body=only(provider)
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    [call] = [item for item in final.output if item.type == "function_call"]
    assert deltas == done.arguments == call.arguments and json.loads(call.arguments)["location"]
    assert done.name == call.name == "get_weather"


class Weather(BaseModel):
    city: str
    temperature: int


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_parse_gives_the_pydantic_model(client: openai.OpenAI, gateway: Gateway, model: str, provider: str) -> None:
    parsed = client.responses.parse(
        model=model, input="Weather in Paris as JSON", text_format=Weather, extra_body=only(provider)
    )
    assert isinstance(parsed.output_parsed, Weather)
    assert isinstance(parsed.output_parsed.temperature, int)


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_retrieve_input_items_and_delete(client: openai.OpenAI, gateway: Gateway, model: str, provider: str) -> None:
    created = client.responses.create(
        model=model,
        input=[{"role": "user", "content": "First question"}, {"role": "user", "content": "Second question"}],
        extra_body=only(provider),
    )
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    assert fetched.model_dump()["provider"] == provider

    items = client.responses.input_items.list(created.id)
    texts = [item.content[0].text for item in items.data]  # type: ignore[union-attr]
    assert texts == ["Second question", "First question"]  # newest first, as OpenAI lists them
    ascending = client.responses.input_items.list(created.id, order="asc", limit=1)
    assert [item.content[0].text for item in ascending.data] == ["First question"]  # type: ignore[union-attr]
    assert ascending.has_more is True

    deleted = client.responses.delete(created.id)
    assert deleted is None  # the SDK reads OpenAI's {"id", "object", "deleted"} answer and returns nothing
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


# Each turn on another provider: the conversation moves from GPT to Claude to Gemini and back.
CONVERSATION = [
    ("openai/gpt-5-mini", "openai"),
    ("anthropic/claude-sonnet-4.5", "anthropic"),
    ("google/gemini-3-flash", "google-ai-studio"),
    ("anthropic/claude-sonnet-4.5", "amazon-bedrock"),
    ("deepseek/deepseek-v3.2", "deepseek"),
    ("google/gemini-3-flash", "google-vertex"),
    ("openai/gpt-5-mini", "openai"),
]


def test_previous_response_id_continues_across_providers(client: openai.OpenAI, gateway: Gateway) -> None:
    previous: str | None = None
    said: list[str] = []
    for turn, (model, provider) in enumerate(CONVERSATION):
        question = f"question number {turn}"
        extra: dict[str, Any] = {**only(provider)}
        response = client.responses.create(
            model=model,
            input=question,
            instructions="Answer briefly.",
            previous_response_id=previous,
            extra_body=extra,
        )
        assert response.previous_response_id == previous
        sent = json.dumps(upstream(gateway, provider)[-1].json)
        # Every earlier question and answer reached this turn's provider, whichever provider served them
        for earlier in said:
            assert earlier in sent, (provider, earlier)
        assert "previous_response_id" not in upstream(gateway, provider)[-1].json
        said += [question, response.output_text]
        previous = response.id


def test_previous_response_id_of_another_account_is_not_found(
    client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    mine = client.responses.create(model="openai/gpt-5-mini", input="A secret plan")
    other = gateway.create_customer()
    theirs = openai.OpenAI(base_url=f"{api.url}/v1", api_key=other.api_key, max_retries=0, timeout=20)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.create(model="openai/gpt-5-mini", input="continue", previous_response_id=mine.id)
    assert client.responses.retrieve(mine.id).id == mine.id  # still there for its owner


def test_store_false_keeps_nothing(client: openai.OpenAI, gateway: Gateway) -> None:
    response = client.responses.create(model="google/gemini-3-flash", input="Say hello", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="google/gemini-3-flash", input="again", previous_response_id=response.id)


def test_stored_responses_are_encrypted_at_rest(client: openai.OpenAI, gateway: Gateway) -> None:
    import boto3

    response = client.responses.create(model="anthropic/claude-sonnet-4.5", input="My password is hunter2-xyzzy")
    bucket = gateway.env["RESPONSES_BUCKET"]
    objects = boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    [stored] = [o for o in objects if o["Key"].endswith(response.id)]
    assert gateway.customer.account_id in stored["Key"]
    body = boto3.client("s3").get_object(Bucket=bucket, Key=stored["Key"])["Body"].read()
    assert b"hunter2-xyzzy" not in body and b"Hello from" not in body
    assert response.output_text in client.responses.retrieve(response.id).output_text


def test_a_large_conversation_is_stored_whole(client: openai.OpenAI, gateway: Gateway) -> None:
    # Well past DynamoDB's 400 KB item limit, within the request body limit
    big = " ".join(f"word{i}" for i in range(120_000))
    assert len(big) > 900_000
    first = client.responses.create(model="google/gemini-3-flash", input=big)
    second = client.responses.create(model="openai/gpt-5-mini", input="and now?", previous_response_id=first.id)
    assert second.status == "completed"
    assert big in json.dumps(upstream(gateway, "openai")[-1].json)
    [item] = client.responses.input_items.list(first.id).data
    assert item.content[0].text == big  # type: ignore[union-attr]


def test_storage_off_keeps_nothing_and_refuses_previous_response_id(
    client: openai.OpenAI, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, RESPONSES_STORE="off")
    response = client.responses.create(model="openai/gpt-5-mini", input="Say hello", store=True)
    assert response.status == "completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="openai/gpt-5-mini", input="more", previous_response_id=response.id)
    assert "storage is off" in refused.value.message
    assert refused.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_stateless_encrypted_reasoning_as_codex_uses_it(client: openai.OpenAI, gateway: Gateway) -> None:
    # Codex sends store: false with include reasoning.encrypted_content and replays the reasoning items itself
    first = client.responses.create(
        model="openai/gpt-5-mini",
        input="Think about Paris",
        reasoning={"effort": "medium", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        store=False,
    )
    [reasoning] = [item for item in first.output if item.type == "reasoning"]
    assert reasoning.encrypted_content and reasoning.summary
    second = client.responses.create(
        model="openai/gpt-5-mini",
        input=[
            {"role": "user", "content": "Think about Paris"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"role": "user", "content": "And London?"},
        ],
        reasoning={"effort": "medium"},
        include=["reasoning.encrypted_content"],
        store=False,
    )
    assert second.status == "completed"
    sent = upstream(gateway, "openai")[-1].json
    replayed = [item for item in sent["input"] if item.get("type") == "reasoning"]
    assert replayed[0]["encrypted_content"] == reasoning.encrypted_content
    assert sent["store"] is False and sent["include"] == ["reasoning.encrypted_content"]


def test_openai_gets_the_client_body_as_is(client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    # Given the customer's own OpenAI key (built-in tools are billed by OpenAI per use: BYOK only, see below)
    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    client.responses.create(
        model="openai/gpt-5-mini",
        input="Search the web",
        tools=[{"type": "web_search"}, WEATHER_TOOL],
        metadata={"team": "a"},
        truncation="auto",
        service_tier="flex",
        extra_body={"models": ["google/gemini-3-flash"]},
    )
    sent = upstream(gateway, "openai")[-1].json
    assert sent["model"] == "gpt-5-mini"
    assert sent["tools"][0] == {"type": "web_search"}
    assert (sent["metadata"], sent["truncation"], sent["service_tier"]) == ({"team": "a"}, "auto", "flex")
    assert "models" not in sent and "provider" not in sent


def test_built_in_tools_are_not_served_on_shared_capacity(client: openai.OpenAI, gateway: Gateway) -> None:
    # A built-in tool runs on OpenAI's side and is billed per use: no credit hold can price it
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="openai/gpt-5-mini", input="Search", tools=[{"type": "web_search"}])
    assert "web_search" in refused.value.message and "BYOK" in refused.value.message
    assert not upstream(gateway, "openai")


def test_built_in_tools_leave_out_providers_without_them(client: openai.OpenAI, gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="google/gemini-3-flash", input="Search", tools=[{"type": "web_search"}])
    assert "web_search" in refused.value.message
    assert not upstream(gateway, "google-ai-studio") and not upstream(gateway, "google-vertex")


def test_hints_a_translated_provider_drops_are_named(client: openai.OpenAI, gateway: Gateway) -> None:
    raw = client.responses.with_raw_response.create(
        model="google/gemini-3-flash",
        input="Say hello",
        metadata={"team": "a"},
        include=["reasoning.encrypted_content"],
        truncation="auto",
        extra_body=only("google-ai-studio"),
    )
    ignored = set(raw.headers["x-gateway-ignored-params"].split(","))
    assert {"metadata", "include", "truncation"} <= ignored


READ_TIMEOUT_S = 5.0  # a buffering gateway fails here: the simulator holds each chunk for twice as long
HOLD_S = 2 * READ_TIMEOUT_S
STREAMED = [("openai/gpt-5-mini", "openai"), ("anthropic/claude-sonnet-4.5", "anthropic"), *TARGETS[4:5]]


def raw_stream(api: Any, gateway: Gateway, body: dict[str, Any]) -> Any:
    return httpx.stream(
        "POST",
        f"{api.url}/v1/responses",
        headers={"authorization": f"Bearer {gateway.api_key}"},
        json={"input": "Say hello", "stream": True, **body},
        timeout=httpx.Timeout(READ_TIMEOUT_S),
    )


def sse_events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]


@pytest.mark.parametrize(("model", "provider"), STREAMED)
def test_each_delta_reaches_the_sdk_while_the_upstream_still_produces_the_next(
    api: Any, gateway: Gateway, model: str, provider: str
) -> None:
    # Given an upstream that sends content chunk N+1 only once the client has read chunk N
    pacing = gateway.sim.pace(provider, chunks=6, sync=True, hold_timeout=HOLD_S)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=READ_TIMEOUT_S)

    # When the official SDK streams, releasing the next upstream chunk after each text delta
    pieces = []
    with client.responses.stream(model=model, input="Say hello", extra_body=only(provider)) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                pieces.append(event.delta)
                pacing.release()
        final = stream.get_final_response()

    # Then every delta arrived one at a time, and the answer was billed after the last byte
    assert len(pieces) == 6
    assert final.usage is not None and final.usage.output_tokens == 6
    assert final.model_dump()["usage"]["cost"] > 0


def test_a_stream_that_breaks_before_its_first_delta_falls_back(api: Any, gateway: Gateway) -> None:
    credentials = byok_credentials(gateway.sim, "amazon-bedrock")
    add_key(api.url, gateway.api_key, "amazon-bedrock", credentials)
    gateway.sim.pace("amazon-bedrock", credential=credential_id(credentials), drop_after=0)

    with raw_stream(api, gateway, {"model": "anthropic/claude-sonnet-4.5"}) as response:
        events = sse_events(list(response.iter_lines()))
        headers = response.headers

    assert events[-1]["type"] == "response.completed"
    assert (headers["x-gateway-provider"], headers["x-gateway-byok"], headers["x-gateway-attempts"]) == (
        "anthropic",
        "false",
        "2",
    )


@pytest.mark.parametrize("provider", ["openai", "amazon-bedrock"])
def test_a_break_after_the_commit_ends_with_one_failed_event(api: Any, gateway: Gateway, provider: str) -> None:
    # Given a BYOK key whose upstream hangs up after two content chunks
    model = "openai/gpt-5-mini" if provider == "openai" else "anthropic/claude-sonnet-4.5"
    credentials = byok_credentials(gateway.sim, provider)
    add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.pace(provider, credential=credential_id(credentials), chunks=8, drop_after=2)

    with raw_stream(api, gateway, {"model": model, **only(provider)}) as response:
        events = sse_events(list(response.iter_lines()))
        headers = response.headers

    # Then two text deltas, then one response.failed carrying the error, and no response.completed
    kinds = [event["type"] for event in events]
    assert kinds.count("response.output_text.delta") == 2 and "response.completed" not in kinds
    failed = events[-1]
    assert failed["type"] == "response.failed" and failed["sequence_number"] == len(events) - 1
    assert failed["response"]["status"] == "failed" and failed["response"]["error"]["code"] == "stream_interrupted"
    assert failed["response"]["id"] == events[0]["response"]["id"]
    assert headers["x-gateway-byok"] == "true"
    record = get_log(api.url, gateway.api_key, headers["x-request-id"])
    [attempt] = record["attempts"]
    assert (attempt["outcome"], record["status"], record["api"]) == ("stream_interrupted", "error", "responses")
    # A failed response is not kept
    stored = httpx.get(
        f"{api.url}/v1/responses/{failed['response']['id']}", headers={"authorization": f"Bearer {gateway.api_key}"}
    )
    assert stored.status_code == 404


def test_a_silent_committed_upstream_gets_keep_alives(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, STREAM_KEEPALIVE_MS="50")
    pacing = gateway.sim.pace("anthropic", chunks=3, sync=True, hold_timeout=HOLD_S)

    with raw_stream(api, gateway, {"model": "anthropic/claude-sonnet-4.5", **only("anthropic")}) as response:
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("event: response.output_text.delta"))
        next(lines)  # its data line
        # While the upstream holds its next chunk, an SSE comment keeps the connection open
        assert next(line for line in lines if line) == ": keep-alive"
        pacing.release(2)
        rest = list(lines)
    assert "event: response.completed" in rest


def test_byok_costs_nothing(client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    add_key(api.url, gateway.api_key, "google-ai-studio", byok_credentials(gateway.sim, "google-ai-studio"))
    before = balance(gateway.customer.account_id)
    raw = client.responses.with_raw_response.create(model="google/gemini-3-flash", input="Say hello")
    usage = raw.parse().model_dump()["usage"]
    assert (usage["is_byok"], usage["cost"]) == (True, 0)
    assert raw.headers["x-gateway-byok"] == "true" and raw.headers["x-gateway-provider"] == "google-ai-studio"
    assert balance(gateway.customer.account_id) == before


def test_fallback_models_name_the_model_that_served(client: openai.OpenAI, gateway: Gateway) -> None:
    gateway.sim.fail("openai", status=503)
    response = client.responses.create(
        model="openai/gpt-5-mini", input="Say hello", extra_body={"models": ["anthropic/claude-sonnet-4.5"]}
    )
    assert response.model == "anthropic/claude-sonnet-4.5"
    assert response.model_dump()["provider"] == "anthropic"


def test_fields_the_gateway_does_not_know_go_to_openai_and_are_named_elsewhere(
    client: openai.OpenAI, gateway: Gateway
) -> None:
    # Codex sends client_metadata, ahead of the Responses API's documentation
    client.responses.create(model="openai/gpt-5-mini", input="hi", extra_body={"client_metadata": {"a": "b"}})
    assert upstream(gateway, "openai")[-1].json["client_metadata"] == {"a": "b"}
    raw = client.responses.with_raw_response.create(
        model="google/gemini-3-flash", input="hi", extra_body={"client_metadata": {"a": "b"}}
    )
    assert raw.headers["x-gateway-ignored-params"] == "client_metadata"


def test_bad_requests_name_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as wrong_type:
        client.responses.create(model="openai/gpt-5-mini", input="hi", extra_body={"stream": "yes"})
    assert wrong_type.value.body["param"] == "stream"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="openai/no-such-model", input="hi")


def test_a_stored_response_copied_under_another_account_does_not_decrypt(
    client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    import boto3

    # Given a stored response, and its object copied where another account's response of that id would live
    mine = client.responses.create(model="openai/gpt-5-mini", input="A secret plan")
    other = gateway.create_customer()
    s3 = boto3.client("s3")
    bucket = gateway.env["RESPONSES_BUCKET"]
    source = f"responses/{gateway.customer.account_id}/{mine.id}"
    s3.copy_object(Bucket=bucket, Key=f"responses/{other.account_id}/{mine.id}", CopySource=f"{bucket}/{source}")

    # Then the other account still cannot read it: the encryption context names the owner
    theirs = openai.OpenAI(base_url=f"{api.url}/v1", api_key=other.api_key, max_retries=0, timeout=20)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(mine.id)


class CountingS3:
    """The S3 client, counting the calls made through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if callable(attribute):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attribute(*args, **kwargs)

            return counted
        return attribute


def test_a_continued_turn_costs_one_read_and_a_stored_one_one_write(client: openai.OpenAI, gateway: Gateway) -> None:
    from gateway.core import aws

    first = client.responses.create(model="openai/gpt-5-mini", input="first")
    counting = CountingS3(aws.s3())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws, "s3", lambda: counting)

        client.responses.create(model="anthropic/claude-sonnet-4.5", input="second", previous_response_id=first.id)
        assert counting.calls == ["get_object", "put_object"]

        counting.calls.clear()
        with client.responses.stream(
            model="google/gemini-3-flash", input="third", previous_response_id=first.id
        ) as stream:
            stream.get_final_response()
        assert counting.calls == ["get_object", "put_object"]

        counting.calls.clear()
        client.responses.create(model="openai/gpt-5-mini", input="stateless", store=False)
        assert counting.calls == []


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.mark.parametrize(("model", "provider"), TARGETS[1:], ids=IDS[1:])
def test_translated_providers_see_images_and_give_their_thinking_as_reasoning(
    client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    if provider == "deepseek":
        pytest.skip("DeepSeek takes no image input")
    response = client.responses.create(
        model=model,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe this"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            }
        ],
        reasoning={"effort": "high", "summary": "auto"},
        max_output_tokens=20_000,
        extra_body=only(provider),
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"], kinds
    assert response.output[0].summary[0].text.startswith("Thinking it over")  # type: ignore[union-attr]
    assert PNG in json.dumps(upstream(gateway, provider)[-1].json)
    usage = response.usage
    if model.startswith("google/"):  # Gemini counts its thoughts apart; Anthropic counts them in output_tokens
        assert usage is not None and usage.output_tokens_details.reasoning_tokens > 0


def test_an_answer_whose_store_write_fails_is_still_delivered_and_says_so(
    client: openai.OpenAI, gateway: Gateway
) -> None:
    # Given the bucket gone (S3 refuses every write)
    import boto3

    bucket = gateway.env["RESPONSES_BUCKET"]
    s3 = boto3.client("s3")
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)

    # Then the generated answer still arrives, streamed or not, marked as not stored
    response = client.responses.create(model="openai/gpt-5-mini", input="Say hello")
    assert "Hello from openai" in response.output_text and response.store is False
    with client.responses.stream(model="google/gemini-3-flash", input="Say hello") as stream:
        final = stream.get_final_response()
    assert final.status == "completed" and final.store is False
