"""Hostile input: every malicious or malformed request gets a clear 4xx in the OpenAI shape and changes nothing.

Given the real handlers behind the local API server, moto-backed tables and KMS, and the strict provider
simulator. Each test sends a family of hostile values against one gateway (fixtures are per test and cost a
second each), collects every deviation and reports them together, so one run names every broken case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from local.apigw import HttpRequest, Router
from local.simulator import make_service_account
from tests.conftest import Gateway
from tests.integration.helpers import ROUTES

API_KEY = "sk-proj-HostileInputSecret0123456789abcd"
ACCESS_KEY_ID = "AKIAHOSTILE000000001"
SECRET_ACCESS_KEY = "hostileSecretAccessKey0000000000000001/+"
BEDROCK_API_KEY = "ABSKhostileBedrockApiKey0000000001"
MAX_BODY_BYTES = 4 * 1024 * 1024
MESSAGES = [{"role": "user", "content": "Say hello"}]
HOSTILE_REGIONS: list[Any] = [
    "us-east-1.evil.com",
    "evil.com/",
    "evil.com",
    "../../x",
    "us-east-1/../x",
    "us-east-1@evil.com",
    "us-east-1#",
    "us-east-1?x=1",
    "us-east-1:443",
    "us-east-1%2F",
    "us-east-1\n",
    "us-east-1\r\nHost: evil.com",
    "us-east-1\x00",
    " us-east-1",
    "US-EAST-1",
    "\uff55s-east-1",  # fullwidth u
    "us\u2010east\u20101",  # unicode hyphens
    "us-east-\u0661",  # Arabic-Indic digit one
    "us-central\U0001d7cf",  # mathematical bold digit one
    "europe-west\u0664",
    "",
    "x" * 10_000,
    5,
    True,
    ["us-east-1"],
    {"region": "us-east-1"},
]
HOSTILE_TOKEN_URIS: list[Any] = [
    "https://evil.example.com/token",
    "https://oauth2.googleapis.com.evil.com/token",
    "http://oauth2.googleapis.com/token",
    "https://oauth2.googleapis.com/token?x=@evil.com",
    "https://oauth2.googleapis.com/token#@evil.com",
    "https://oauth2.googleapis.com@evil.com/token",
    "https://oauth2.googleapis.com/token/../../evil",
    "https://oauth2.googleapis.com/token ",
    "https://OAUTH2.googleapis.com/token",
    "https://oauth2.googleapis.com/token\r\nHost: evil.com",
    "file:///etc/passwd",
    "",
    None,
    5,
    ["https://oauth2.googleapis.com/token"],
]
HOSTILE_MODELS = [
    "../openai/gpt-5-mini",
    "anthropic/../openai/gpt-5-mini",
    "openai/gpt-5-mini/../../x",
    "openai/gpt-5-mini?key=x",
    "openai/gpt-5-mini#x",
    "openai%2Fgpt-5-mini",
    "openai/gpt-5-mini%00",
    "evil.com",
    "https://evil.com/v1",
    "//evil.com/x",
    "openai/gpt-5-mini@evil.com",
    "openai/gpt-5-mini\r\nHost: evil.com",
    "openai/gpt-5-mini ",
    "\uff4fpenai/gpt-5-mini",
    "x" * 10_000,
    "",
]


def in_process(router: Router) -> httpx.MockTransport:
    """An httpx transport into ``router``: the same handlers and API Gateway events as over HTTP, minus the socket
    (hundreds of hostile requests per test would otherwise spend most of their time in TCP round trips)."""

    def send(request: httpx.Request) -> httpx.Response:
        answer = router.handle(
            HttpRequest(
                request.method, request.url.raw_path.decode(), list(request.headers.multi_items()), request.read()
            )
        )
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

    return httpx.MockTransport(send)


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    transport = in_process(Router.from_template(stage="test"))
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(transport=transport, base_url="https://gateway.test", headers=headers, timeout=30) as http:
        yield http


@pytest.fixture
def service_account(gateway: Gateway) -> dict[str, Any]:
    return make_service_account("hostile-input-proj", gateway.env["GOOGLE_TOKEN_URI_ALLOWLIST"])


def table_state(gateway: Gateway) -> dict[str, list[str]]:
    """Every item of both tables, rendered: equal before and after means nothing was stored or changed."""
    state: dict[str, list[str]] = {}
    for name in ("ACCOUNTS_TABLE", "LOGS_TABLE"):
        table = boto3.resource("dynamodb").Table(gateway.env[name])
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = table.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # A gateway key's last_used_at is stamped (off the request path) by any authenticated model request,
        # refused or not: it is usage bookkeeping, not something the refused request stored.
        state[name] = sorted(repr(sorted((k, v) for k, v in item.items() if k != "last_used_at")) for item in items)
    return state


def error_problems(response: httpx.Response, statuses: set[int], secrets: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with ``response`` as a 4xx in the OpenAI error shape (empty when it is right)."""
    problems = []
    if response.status_code not in statuses:
        problems.append(f"status {response.status_code} not in {sorted(statuses)}: {response.text[:300]}")
    if not response.headers.get("x-request-id"):
        problems.append("no x-request-id")
    try:
        body = response.json()
        error = body["error"]
        assert set(body) == {"error"}
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str)
        assert error["code"] is None or isinstance(error["code"], str)
        assert error["param"] is None or isinstance(error["param"], str)
    except (ValueError, KeyError, TypeError, AssertionError):
        problems.append(f"not the OpenAI error shape: {response.text[:300]}")
    for secret in secrets:
        if secret and secret in response.text:
            problems.append("the response echoes the submitted secret")
    return problems


def check(failures: list[str], label: str, problems: list[str]) -> None:
    failures.extend(f"{label}: {problem}" for problem in problems)


def ascii_json(body: Any) -> dict[str, Any]:
    """Request kwargs sending ``body`` as ASCII JSON (httpx's own encoder cannot carry a lone surrogate)."""
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


def param_of(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["param"]
    except (ValueError, KeyError, TypeError):
        return None


# --- credentials that try to redirect traffic ---------------------------------------------------------------


def test_hostile_regions_are_refused_everywhere_a_region_is_accepted(
    client: httpx.Client, gateway: Gateway, service_account: dict[str, Any]
) -> None:
    # Given one stored key per regional provider
    bedrock = client.post("/v1/byok/keys", json={"provider": "amazon-bedrock", "credentials": BEDROCK_API_KEY}).json()
    vertex = client.post("/v1/byok/keys", json={"provider": "google-vertex", "credentials": service_account}).json()
    aws = {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY}
    before = table_state(gateway)
    secrets = (SECRET_ACCESS_KEY, BEDROCK_API_KEY, service_account["private_key"])
    failures: list[str] = []

    for region in HOSTILE_REGIONS:
        attempts = {
            "bedrock create region": client.post(
                "/v1/byok/keys", json={"provider": "amazon-bedrock", "credentials": BEDROCK_API_KEY, "region": region}
            ),
            "bedrock create credentials.region": client.post(
                "/v1/byok/keys", json={"provider": "amazon-bedrock", "credentials": {**aws, "region": region}}
            ),
            "bedrock create credentials.region as string": client.post(
                "/v1/byok/keys",
                json={"provider": "amazon-bedrock", "credentials": json.dumps({**aws, "region": region})},
            ),
            "vertex create region": client.post(
                "/v1/byok/keys", json={"provider": "google-vertex", "credentials": service_account, "region": region}
            ),
            "vertex create credentials.region": client.post(
                "/v1/byok/keys",
                json={"provider": "google-vertex", "credentials": {**service_account, "region": region}},
            ),
            "bedrock patch region": client.patch(f"/v1/byok/keys/{bedrock['id']}", json={"region": region}),
            "bedrock rotate with region": client.patch(
                f"/v1/byok/keys/{bedrock['id']}", json={"credentials": {**aws, "region": region}}
            ),
            "vertex patch region": client.patch(f"/v1/byok/keys/{vertex['id']}", json={"region": region}),
        }
        for label, response in attempts.items():
            check(failures, f"{label} {region!r:.40}", error_problems(response, {422}, secrets))
            if param_of(response) not in ("region", "credentials.region"):
                failures.append(f"{label} {region!r:.40}: param {param_of(response)!r} does not name the region")

    # Then nothing was stored or changed, and nothing went upstream
    assert failures == []
    assert table_state(gateway) == before
    assert gateway.sim.requests == []


def test_token_uris_off_the_allowlist_are_refused(
    client: httpx.Client, gateway: Gateway, service_account: dict[str, Any]
) -> None:
    vertex = client.post("/v1/byok/keys", json={"provider": "google-vertex", "credentials": service_account}).json()
    before = table_state(gateway)
    failures: list[str] = []

    for token_uri in HOSTILE_TOKEN_URIS:
        hostile = {**service_account, "token_uri": token_uri}
        for label, response in {
            "create": client.post("/v1/byok/keys", json={"provider": "google-vertex", "credentials": hostile}),
            "create as string": client.post(
                "/v1/byok/keys", json={"provider": "google-vertex", "credentials": json.dumps(hostile)}
            ),
            "rotate": client.patch(f"/v1/byok/keys/{vertex['id']}", json={"credentials": hostile}),
            "create with test": client.post(
                "/v1/byok/keys", json={"provider": "google-vertex", "credentials": hostile, "test": True}
            ),
        }.items():
            check(
                failures, f"{label} {token_uri!r}", error_problems(response, {422}, (service_account["private_key"],))
            )
            if param_of(response) != "credentials.token_uri":
                failures.append(f"{label} {token_uri!r}: param {param_of(response)!r}")

    assert failures == []
    assert table_state(gateway) == before
    assert gateway.sim.requests == []  # not even the token endpoint was called


def test_credentials_of_the_wrong_type_or_shape_are_refused(
    client: httpx.Client, gateway: Gateway, service_account: dict[str, Any]
) -> None:
    aws = {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY}
    wrong_everywhere: list[Any] = [None, 5, 1.5, True, [], [API_KEY], "{not json", "", "   ", "short"]
    cases: list[tuple[str, Any]] = [(p, v) for p in ("openai", "anthropic", "amazon-bedrock") for v in wrong_everywhere]
    cases += [
        ("openai", {"api_key": API_KEY}),
        ("deepseek", json.dumps({"api_key": API_KEY})),
        ("google-ai-studio", API_KEY + "\r\nX-Injected: 1"),
        ("openai", API_KEY + "\x00"),
        ("openai", API_KEY[:10] + "\r\n" + API_KEY[10:]),
        ("anthropic", API_KEY + "\u202e"),
        ("anthropic", "sk-ant-" + "ключ" * 5),
        ("openai", "sk-" + "a" * 600),
        ("amazon-bedrock", {**aws, "accessKeyId": 5}),
        ("amazon-bedrock", {**aws, "secretAccessKey": ["x"]}),
        ("amazon-bedrock", {**aws, "sessionToken": {"a": 1}}),
        ("amazon-bedrock", {**aws, "sessionToken": "tok\r\nX-Injected: 1" + "A" * 20}),
        ("amazon-bedrock", {**aws, "endpoint": "https://evil.com"}),
        ("amazon-bedrock", {"accessKeyId": ACCESS_KEY_ID}),
        ("google-vertex", API_KEY),
        ("google-vertex", [service_account]),
        ("google-vertex", {**service_account, "type": "authorized_user"}),
        ("google-vertex", {**service_account, "project_id": "../evil"}),
        ("google-vertex", {**service_account, "project_id": "proj/../../evil"}),
        ("google-vertex", {**service_account, "client_email": "x@evil.com"}),
        ("google-vertex", {**service_account, "private_key": 5}),
        ("google-vertex", {**service_account, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key"}),
        ("google-vertex", {**service_account, "universe_domain": "evil.com"}),
        ("google-vertex", {**service_account, "auth_uri": "https://evil.com/auth"}),
        ("google-vertex", {**service_account, "client_id": "١٢٣"}),
        ("google-vertex", {**service_account, "api_endpoint": "https://evil.com"}),
    ]
    before = table_state(gateway)
    failures: list[str] = []

    for provider, credentials in cases:
        response = client.post("/v1/byok/keys", json={"provider": provider, "credentials": credentials})
        label = f"{provider} {json.dumps(credentials)[:60]}"
        check(failures, label, error_problems(response, {422}, (API_KEY, SECRET_ACCESS_KEY)))
        if not (param_of(response) or "").startswith("credentials"):
            failures.append(f"{label}: param {param_of(response)!r} does not name credentials")
        if service_account["private_key"].splitlines()[1] in response.text:
            failures.append(f"{label}: the response echoes the private key")

    assert failures == []
    assert table_state(gateway) == before


def test_key_fields_of_the_wrong_type_or_with_control_characters_are_refused(
    client: httpx.Client, gateway: Gateway
) -> None:
    key = client.post("/v1/byok/keys", json={"provider": "openai", "credentials": API_KEY, "name": "k"}).json()
    hostile_names: list[Any] = [
        "a\nb",
        "a\r\nX-Injected: 1",
        "a\x00b",
        "\x1b[31mred",
        "a\u202eb",  # right-to-left override
        "a\u200bb",  # zero-width space
        "\ud800",  # lone surrogate
        "",
        "n" * 10_000,
        5,
        ["x"],
        {"x": 1},
    ]
    other_fields: list[tuple[str, Any]] = [
        ("enabled", "true"),
        ("enabled", 1),
        ("enabled", None),
        ("always_use", "false"),
        ("provisioned_throughput", 0),
        ("test", "yes"),
        ("provider", 5),
        ("provider", "openai\r\n"),
        ("provider", "OPENAI"),
        ("provider", "../openai"),
        ("api_base", "https://evil.com"),
        ("base_url", "https://evil.com"),
    ]
    before = table_state(gateway)
    failures: list[str] = []

    for name in hostile_names:
        for label, response in {
            "create": client.post(
                "/v1/byok/keys", **ascii_json({"provider": "openai", "credentials": API_KEY, "name": name})
            ),
            "patch": client.patch(f"/v1/byok/keys/{key['id']}", **ascii_json({"name": name})),
        }.items():
            check(failures, f"{label} name {name!r:.30}", error_problems(response, {422}, (API_KEY,)))
            if param_of(response) != "name":
                failures.append(f"{label} name {name!r:.30}: param {param_of(response)!r}")
    for field, value in other_fields:
        body = {"provider": "openai", "credentials": API_KEY, field: value}
        responses = {"create": client.post("/v1/byok/keys", json=body)}
        if field not in ("provider", "test"):
            responses["patch"] = client.patch(f"/v1/byok/keys/{key['id']}", json={field: value})
        for label, response in responses.items():
            check(failures, f"{label} {field}={value!r}", error_problems(response, {422}, (API_KEY,)))
            if param_of(response) != field:
                failures.append(f"{label} {field}={value!r}: param {param_of(response)!r}")

    assert failures == []
    assert table_state(gateway) == before


def test_unicode_names_are_kept_exactly(client: httpx.Client) -> None:
    name = "מפתח ראשי 🚀 キー ñ"

    created = client.post("/v1/byok/keys", json={"provider": "openai", "credentials": API_KEY, "name": name})

    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    assert client.get(f"/v1/byok/keys/{created.json()['id']}").json()["name"] == name


# --- bodies ------------------------------------------------------------------------------------------------


def test_oversized_deep_non_json_and_non_object_bodies_are_refused(client: httpx.Client, gateway: Gateway) -> None:
    key = client.post("/v1/byok/keys", json={"provider": "openai", "credentials": API_KEY}).json()
    before = table_state(gateway)
    routes = [("POST", "/v1/byok/keys"), ("PATCH", f"/v1/byok/keys/{key['id']}"), ("POST", "/v1/chat/completions")]
    oversized = json.dumps(
        {"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "x" * MAX_BODY_BYTES}]}
    )
    bodies: list[tuple[str, bytes, str, int]] = [
        ("oversized", oversized.encode(), "application/json", 413),
        ("depth 1000", ('{"name":' + "[" * 1000 + "]" * 1000 + "}").encode(), "application/json", 400),
        ("depth 100000", ('{"name":' + "[" * 100_000 + "]" * 100_000 + "}").encode(), "application/json", 400),
        ("depth 70 objects", ('{"a":' * 70 + "1" + "}" * 70).encode(), "application/json", 400),
        ("not json", b"{", "application/json", 400),
        ("array", b"[]", "application/json", 400),
        ("string", b'"x"', "application/json", 400),
        ("number", b"1", "application/json", 400),
        ("null", b"null", "application/json", 400),
        ("empty", b"", "application/json", 400),
        ("not utf-8", b'{"name": "\xff\xfe"}', "application/json", 400),
        ("text/plain", b'{"enabled": false}', "text/plain", 415),
        ("form", b"enabled=false", "application/x-www-form-urlencoded", 415),
        ("multipart", b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b", 415),
        ("no content type", b'{"enabled": false}', "", 415),
    ]
    failures: list[str] = []

    for method, path in routes:
        for label, body, content_type, status in bodies:
            headers = {"content-type": content_type} if content_type else {}
            request = client.build_request(method, path, content=body, headers=headers)
            if not content_type:
                request.headers.pop("content-type", None)
            response = client.send(request)
            check(failures, f"{method} {path} {label}", error_problems(response, {status}))
            if path == "/v1/chat/completions":  # a model request refused after authentication is still recorded
                check(failures, f"{method} {path} {label}", _record_problems(client, response, refused=True))

    assert failures == []
    after = table_state(gateway)
    assert after["ACCOUNTS_TABLE"] == before["ACCOUNTS_TABLE"]
    assert len(after["LOGS_TABLE"]) == len(before["LOGS_TABLE"]) + len(bodies)
    assert gateway.sim.requests == []


# --- chat --------------------------------------------------------------------------------------------------


def test_hostile_model_ids_never_reach_a_provider(client: httpx.Client, gateway: Gateway) -> None:
    failures: list[str] = []
    accounts_before = table_state(gateway)["ACCOUNTS_TABLE"]

    for model in HOSTILE_MODELS:
        for provider in (None, {"only": ["google-vertex"]}, {"order": ["amazon-bedrock"]}):
            body: dict[str, Any] = {"model": model, "messages": MESSAGES}
            if provider:
                body["provider"] = provider
            response = client.post("/v1/chat/completions", json=body)
            check(failures, f"model {model!r:.40} {provider}", error_problems(response, {400, 404}))

    assert failures == []
    assert gateway.sim.requests == []
    assert table_state(gateway)["ACCOUNTS_TABLE"] == accounts_before


def test_chat_fields_of_the_wrong_type_are_400_naming_the_field(client: httpx.Client, gateway: Gateway) -> None:
    cases: list[tuple[str, Any]] = [
        ("model", 5),
        ("model", None),
        ("model", ["openai/gpt-5-mini"]),
        ("messages", "hello"),
        ("messages", []),
        ("messages", [{"role": "user", "content": 5}]),
        ("messages", [{"role": "user"}]),
        ("messages", [{"role": "root", "content": "x"}]),
        ("messages", [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]),
        ("messages", [{"role": "user", "content": "x", "name": 5}]),
        ("temperature", "0.5"),
        ("temperature", 5),
        ("top_p", [1]),
        ("max_tokens", "10"),
        ("max_tokens", 1.5),
        ("max_tokens", -1),
        ("max_completion_tokens", True),
        ("max_tokens", 10**30),
        ("max_tokens", 1_000_001),
        ("max_completion_tokens", 10**30),
        ("seed", 10**30),
        ("seed", 2**63),
        ("seed", -(2**63) - 1),
        ("stop", 5),
        ("stop", [1, 2]),
        ("tools", "x"),
        ("tools", [{"type": "function", "function": {"name": "get\r\nX-Injected: 1"}}]),
        ("tools", [{"type": "function", "function": {"name": "a" * 65}}]),
        ("tool_choice", 5),
        ("response_format", {"type": "xml"}),
        ("seed", "1"),
        ("user", 5),
        ("user", "u" * 600),
        ("stream", "yes"),
        ("stream", 1),
        ("stream_options", {"include_usage": "yes"}),
        ("n", 129),  # above OpenAI's limit (n = 2 is forwarded to OpenAI)
        ("provider", "openai"),
        ("provider", {"order": "openai"}),
        ("provider", {"allow_fallbacks": "no"}),
        ("provider", {"sort": "fastest"}),
        ("provider", {"max_price": {"prompt": "5"}}),
        ("provider", {"max_price": {"prompt": -1}}),
        ("models", "google/gemini-3-flash"),
        ("fallback_models", [1]),
        ("provider", {"base_url": "https://evil.com"}),
        ("api_base", "https://evil.com"),
        ("extra_headers", {"X-Injected": "1"}),
    ]
    failures: list[str] = []

    for field, value in cases:
        body = {"model": "openai/gpt-5-mini", "messages": MESSAGES, field: value}
        response = client.post("/v1/chat/completions", json=body)
        label = f"{field}={json.dumps(value)[:40]}"
        check(failures, label, error_problems(response, {400}))
        param = param_of(response) or ""
        if param.split(".")[0] != field:
            failures.append(f"{label}: param {param!r} does not name {field}")
        elif field not in response.json()["error"]["message"]:
            failures.append(f"{label}: message does not name {field}")

    assert failures == []
    assert gateway.sim.requests == []


@pytest.mark.parametrize("field", ["order", "only", "ignore"])
def test_unknown_provider_slugs_are_400(client: httpx.Client, gateway: Gateway, field: str) -> None:
    failures: list[str] = []
    for slugs in (["openrouter"], ["OPENAI"], ["openai", "evil.com"], ["../openai"], ["openai\r\n"], ["x" * 300]):
        body = {"model": "openai/gpt-5-mini", "messages": MESSAGES, "provider": {field: slugs}}
        response = client.post("/v1/chat/completions", json=body)
        check(failures, f"{field}={slugs!r:.40}", error_problems(response, {400}))
        if param_of(response) != f"provider.{field}" and not (param_of(response) or "").startswith(f"provider.{field}"):
            failures.append(f"{field}={slugs!r:.40}: param {param_of(response)!r}")
    assert failures == []
    assert gateway.sim.requests == []


def test_control_and_unicode_characters_in_every_string_field_stay_in_the_body(
    client: httpx.Client, gateway: Gateway
) -> None:
    # Given text that would split a header if anything copied it into one
    hostile = "\u202e\x00\x1b[2J🚀 שלום\r\nX-Injected: yes\r\n\r\n"
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": hostile},
            {"role": "user", "content": [{"type": "text", "text": hostile}], "name": hostile},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": hostile, "type": "function", "function": {"name": "look", "arguments": hostile}}],
            },
            {"role": "tool", "tool_call_id": hostile, "content": hostile},
            {"role": "user", "content": hostile + "\ud800"},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "description": hostile}}],
        "user": hostile,
        "stop": [hostile[:20]],
    }
    failures: list[str] = []

    for model, provider in ROUTES:
        gateway.sim.clear_requests()
        response = client.post(
            "/v1/chat/completions",
            # json.dumps escapes the lone surrogate as \ud800, which a JSON parser must still cope with
            content=json.dumps({**body, "model": model, "provider": {"only": [provider]}}),
            headers={
                "content-type": "application/json",
                "x-injected": "from-client",
                "x-forwarded-host": "evil.com",
                "x-api-key": "client-supplied",
            },
        )
        if response.status_code >= 500 or response.status_code not in (200, 400):
            failures.append(f"{model} via {provider}: {response.status_code} {response.text[:200]}")
        for sent in gateway.sim.requests:
            for name, value in sent.headers.items():
                if "injected" in name.lower() or value.strip() == "yes" or "evil.com" in value:
                    failures.append(f"{provider}: upstream header {name}: {value!r}")
                if "client-supplied" in value or "from-client" in value:
                    failures.append(f"{provider}: a client header reached the provider: {name}")

    assert failures == []


def test_a_client_request_id_is_never_reflected(api: Any, gateway: Gateway) -> None:
    planted = "req_attacker0000000000000000000000"
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=20)

    responses = [
        client.post(
            "/v1/chat/completions",
            json={"model": "openai/gpt-5-mini", "messages": MESSAGES},
            headers={"x-request-id": planted},
        ),
        client.get("/v1/byok/keys", headers={"x-request-id": planted}),
        client.get(f"/v1/logs/{planted}", headers={"x-request-id": planted}),
    ]

    for response in responses:
        assert response.headers["x-request-id"].startswith("req_")
        assert planted not in response.headers["x-request-id"]
    assert responses[0].status_code == 200, responses[0].text
    assert planted not in responses[0].text
    assert responses[2].status_code == 404
    assert all(planted not in json.dumps(r.headers) for r in gateway.sim.requests)


# --- authorization header ----------------------------------------------------------------------------------


def test_hostile_authorization_headers_are_401(gateway: Gateway) -> None:
    router = Router.from_template(stage="test")
    key = gateway.api_key
    values = [
        f"Bearer {key}\r\nX-Injected: 1",
        f"Bearer {key}\nAuthorization: Bearer x",
        f"Bearer {key}\x00",
        f"Bearer {key[:-1]}\r",
        f"Bearer {key[:-1]}\uff41",
        f"Bearer {key} {key}",
        f"Bearer {key},{key}",
        "Bearer " + "a" * 100_000,
        "Bearer " + key + "a" * 10_000,
        "Bearer gwk_" + "0" * 16 + "_x",
        "Bearer gwk_../../x_x",
        "Bearer gwk_\r\n",
        f"Basic {key}",
        f"Token {key}",
        key,
        "Bearer",
        "",
    ]
    routes = [
        ("GET", "/v1/models"),
        ("GET", "/v1/byok/keys"),
        ("GET", "/v1/logs"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/byok/keys/key_000000000000000000000000/test"),
    ]
    before = table_state(gateway)
    failures: list[str] = []

    for value in values:
        for method, path in routes:
            body = json.dumps({"model": "openai/gpt-5-mini", "messages": MESSAGES}).encode()
            headers = [("Authorization", value), ("Content-Type", "application/json")]
            response = router.handle(HttpRequest(method, path, headers, body if method == "POST" else b""))
            error = json.loads(response.body).get("error", {})
            if response.status != 401 or error.get("type") != "authentication_error":
                failures.append(f"{method} {path} {value[:40]!r}: {response.status} {response.body[:200]!r}")
            if key in response.body.decode():
                failures.append(f"{method} {path}: the response echoes the gateway key")
            if any("injected" in name.lower() for name, _ in response.headers):
                failures.append(f"{method} {path}: an injected header came back")

    assert failures == []
    assert table_state(gateway) == before
    assert gateway.sim.requests == []


def test_an_oversized_authorization_header_over_http_is_401(api: Any, gateway: Gateway) -> None:
    response = httpx.get(f"{api.url}/v1/byok/keys", headers={"Authorization": "Bearer " + "a" * 60_000}, timeout=10)

    assert error_problems(response, {401}) == []


def test_nan_and_infinity_are_not_json(api: Any, gateway: Any) -> None:
    headers = {"Authorization": f"Bearer {gateway.api_key}", "content-type": "application/json"}
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = '{"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": %s}'
        response = httpx.post(f"{api.url}/v1/chat/completions", content=body % constant, headers=headers)
        assert response.status_code == 400, constant
        assert response.json()["error"]["code"] == "invalid_json"
    assert gateway.sim.requests == []


def test_system_only_conversation_is_rejected_before_any_upstream_call(api: Any, gateway: Any) -> None:
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    body = {"model": "anthropic/claude-sonnet-4.5", "messages": [{"role": "system", "content": "be brief"}]}
    response = httpx.post(f"{api.url}/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"
    assert gateway.sim.requests == []


def test_tool_choice_without_tools_is_a_400_for_every_provider(api: Any, gateway: Any) -> None:
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    for model in ("openai/gpt-5-mini", "anthropic/claude-sonnet-4.5", "google/gemini-3-flash"):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"}
        response = httpx.post(f"{api.url}/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 400, model
        assert response.json()["error"]["param"] == "tool_choice"
    assert gateway.sim.requests == []


# --- every JSON a parser accepts: a 4xx or a success, and a record ------------------------------------------

SURROGATE = "\ud800"
DEEP_SCHEMA: dict[str, Any] = {"type": "object"}
for _ in range(40):
    DEEP_SCHEMA = {"type": "object", "properties": {"x": DEEP_SCHEMA}}


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-5-mini", "messages": MESSAGES, **fields}


def _claude(**fields: Any) -> dict[str, Any]:
    return {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 64, "messages": MESSAGES, **fields}


def _tool(parameters: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "look", "parameters": parameters}}


def _claude_tool(schema: Any) -> dict[str, Any]:
    return {"name": "look", "input_schema": schema}


# Each body as the JSON text sent: json.dumps writes a lone surrogate as the \ud800 escape a parser accepts.
PARSEABLE_CHAT: list[tuple[str, str]] = [
    ("surrogate in tool parameters", json.dumps(_chat(tools=[_tool({"type": "object", "description": SURROGATE})]))),
    ("surrogate as a schema key", json.dumps(_chat(tools=[_tool({"type": "object", "properties": {SURROGATE: {}}})]))),
    (
        "surrogate in a json_schema",
        json.dumps(
            _chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"title": SURROGATE}}})
        ),
    ),
    ("surrogate in content", json.dumps(_chat(messages=[{"role": "user", "content": "hi " + SURROGATE}]))),
    ("surrogate in metadata", json.dumps(_chat(metadata={"k": SURROGATE}))),
    ("surrogate in model", json.dumps(_chat(model=SURROGATE))),
    ("surrogate in user", json.dumps(_chat(user=SURROGATE))),
    ("low surrogate then high", json.dumps(_chat(tools=[_tool({"description": "\udc00\ud800"})]))),
    ("deep tool parameters", json.dumps(_chat(tools=[_tool(DEEP_SCHEMA)]))),
    ("huge integer max_tokens", json.dumps(_chat(max_tokens=10**400))),
    (
        "huge float temperature",
        '{"model":"openai/gpt-5-mini","messages":[{"role":"user","content":"hi"}],"temperature":1e400}',
    ),
    (
        "huge float in parameters",
        json.dumps(_chat(tools=[_tool({"maximum": 1})])).replace('"maximum": 1', '"maximum": 1e999'),
    ),
    ("tiny float", '{"model":"openai/gpt-5-mini","messages":[{"role":"user","content":"hi"}],"temperature":1e-400}'),
    ("negative zero", '{"model":"openai/gpt-5-mini","messages":[{"role":"user","content":"hi"}],"seed":-0}'),
    ("NaN as a string", json.dumps(_chat(temperature="NaN"))),
    ("Infinity as a string", json.dumps(_chat(max_tokens="Infinity"))),
    ("duplicate model key", '{"model":"x","model":"openai/gpt-5-mini","messages":[{"role":"user","content":"hi"}]}'),
    (
        "duplicate messages key",
        '{"model":"openai/gpt-5-mini","messages":[],"messages":[{"role":"user","content":"hi"}]}',
    ),
    (
        "duplicate keys in parameters",
        json.dumps(_chat(tools=[_tool({"type": "object"})])).replace(
            '"type": "object"', '"type": "object", "type": "string"'
        ),
    ),
    ("escaped NUL", json.dumps(_chat(messages=[{"role": "user", "content": "\x00"}]))),
    ("BOM in a key", json.dumps({**_chat(), "\ufeffmodel": "x"})),
]
PARSEABLE_MESSAGES: list[tuple[str, str]] = [
    ("surrogate in input_schema", json.dumps(_claude(tools=[_claude_tool({"type": "object", "title": SURROGATE})]))),
    ("surrogate in system", json.dumps(_claude(system=SURROGATE))),
    ("surrogate in system blocks", json.dumps(_claude(system=[{"type": "text", "text": SURROGATE}]))),
    ("surrogate in content", json.dumps(_claude(messages=[{"role": "user", "content": SURROGATE}]))),
    ("surrogate in metadata", json.dumps(_claude(metadata={"user_id": SURROGATE}))),
    ("surrogate in model", json.dumps(_claude(model=SURROGATE))),
    ("deep input_schema", json.dumps(_claude(tools=[_claude_tool(DEEP_SCHEMA)]))),
    ("huge integer max_tokens", json.dumps(_claude(max_tokens=10**400))),
    ("huge float max_tokens", json.dumps(_claude()).replace('"max_tokens": 64', '"max_tokens": 1e400')),
    (
        "huge float in input_schema",
        json.dumps(_claude(tools=[_claude_tool({"maximum": 1})])).replace('"maximum": 1', '"maximum": -1e999'),
    ),
    ("NaN as a string", json.dumps(_claude(temperature="NaN"))),
    ("duplicate model key", json.dumps(_claude()).replace('"model":', '"model": "x", "model":', 1)),
    (
        "duplicate keys in input_schema",
        json.dumps(_claude(tools=[_claude_tool({"type": "object"})])).replace(
            '"type": "object"', '"type": "object", "type": 5'
        ),
    ),
]


def _record_problems(client: httpx.Client, response: httpx.Response, *, refused: bool = False) -> list[str]:
    """What is wrong with the log record ``response`` should have left (empty when it is right)."""
    request_id = response.headers.get("x-request-id", "")
    found = client.get(f"/v1/logs/{request_id}")
    if found.status_code != 200:
        return [f"no log record ({found.status_code})"]
    record = found.json()
    problems = []
    if record["http_status"] != response.status_code:
        problems.append(f"record http_status {record['http_status']} for a {response.status_code}")
    if response.status_code >= 400 and record["status"] != "error":
        problems.append(f"record status {record['status']} for a {response.status_code}")
    if refused and (record["attempts"] or record["provider"] is not None):
        problems.append("a request refused before routing lists attempts or a provider")
    return problems


def _responses(**fields: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-5-mini", "input": "hi", **fields}


def _embeddings(**fields: Any) -> dict[str, Any]:
    return {"model": "openai/text-embedding-3-small", "input": "hi", **fields}


PARSEABLE_RESPONSES: list[tuple[str, str]] = [
    ("surrogate in input", json.dumps(_responses(input="hi " + SURROGATE))),
    ("surrogate in instructions", json.dumps(_responses(instructions=SURROGATE))),
    (
        "surrogate in a function tool",
        json.dumps(_responses(tools=[{"type": "function", "name": "f", "parameters": {"title": SURROGATE}}])),
    ),
    ("surrogate in model", json.dumps(_responses(model=SURROGATE))),
    ("huge integer max_output_tokens", json.dumps(_responses(max_output_tokens=10**400))),
    ("deep input item", json.dumps(_responses(input=[{"type": "message", "role": "user", "content": DEEP_SCHEMA}]))),
    ("wrong type input", json.dumps(_responses(input=5))),
]
PARSEABLE_EMBEDDINGS: list[tuple[str, str]] = [
    ("surrogate in input", json.dumps(_embeddings(input=[SURROGATE, "b"]))),
    ("surrogate in model", json.dumps(_embeddings(model=SURROGATE))),
    ("huge dimensions", json.dumps(_embeddings(dimensions=10**400))),
    ("deep input", json.dumps(_embeddings(input=[[DEEP_SCHEMA]]))),
    ("empty input list", json.dumps(_embeddings(input=[]))),
]


@pytest.mark.parametrize(
    ("route", "cases"),
    [
        ("/v1/chat/completions", PARSEABLE_CHAT),
        ("/v1/messages", PARSEABLE_MESSAGES),
        ("/v1/messages/count_tokens", [(label, body) for label, body in PARSEABLE_MESSAGES]),
        ("/v1/responses", PARSEABLE_RESPONSES),
        ("/v1/embeddings", PARSEABLE_EMBEDDINGS),
    ],
)
def test_every_body_a_json_parser_accepts_is_a_4xx_or_a_success_and_leaves_a_record(
    client: httpx.Client, gateway: Gateway, route: str, cases: list[tuple[str, str]]
) -> None:
    failures: list[str] = []

    for label, body in cases:
        json.loads(body)  # Given a body Python's own parser accepts
        response = client.post(route, content=body, headers={"content-type": "application/json"})
        if response.status_code >= 500 or response.status_code < 200:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
            continue
        if not response.headers.get("x-request-id"):
            failures.append(f"{label}: no x-request-id")
        check(failures, label, _record_problems(client, response))

    assert failures == []


def test_a_lone_surrogate_reaches_the_provider_as_its_json_escape(client: httpx.Client, gateway: Gateway) -> None:
    # Given a tool schema holding a lone surrogate, sent to OpenAI and to Anthropic on the operator's keys
    chat = _chat(tools=[_tool({"type": "object", "description": "a" + SURROGATE})], provider={"only": ["openai"]})
    claude = _claude(tools=[_claude_tool({"type": "object", "title": "b" + SURROGATE})])

    answers = [
        client.post("/v1/chat/completions", content=json.dumps(chat), headers={"content-type": "application/json"}),
        client.post("/v1/messages", content=json.dumps(claude), headers={"content-type": "application/json"}),
    ]

    # Then both are served, and each upstream body carries the character as the JSON escape a parser accepts
    assert [a.status_code for a in answers] == [200, 200], [a.text[:200] for a in answers]
    bodies = [r.raw_body for r in gateway.sim.requests]
    assert any(b'"a\\ud800"' in body for body in bodies), bodies
    assert any(b'"b\\ud800"' in body for body in bodies), bodies
    records = [client.get(f"/v1/logs/{a.headers['x-request-id']}").json() for a in answers]
    assert [r["status"] for r in records] == ["success", "success"]


def test_a_gateway_fault_after_authentication_is_still_recorded(
    client: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fault inside routing that no handler foresaw
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("gateway.apis.chat.service.complete", broken)

    response = client.post("/v1/chat/completions", json=_chat())

    # Then the caller gets the opaque 500, and the request is in their logs as that 500 with no attempts
    assert response.status_code == 500
    assert _record_problems(client, response, refused=True) == []
    record = client.get(f"/v1/logs/{response.headers['x-request-id']}").json()
    assert (record["model"], record["status"], record["api"]) == ("openai/gpt-5-mini", "error", "chat")


def test_lone_surrogates_in_free_form_fields_are_never_a_5xx_on_any_provider(
    client: httpx.Client, gateway: Gateway
) -> None:
    # Given a surrogate as a schema key, a schema value and a json_schema title, on every route of every API
    schema = {"type": "object", "properties": {SURROGATE: {"type": "string", "description": SURROGATE}}}
    failures: list[str] = []
    statuses: dict[str, int] = {}

    for model, provider in ROUTES:
        chat = _chat(
            model=model,
            provider={"only": [provider]},
            tools=[_tool(schema)],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"title": SURROGATE}}},
        )
        claude = _claude(model=model, provider={"only": [provider]}, tools=[_claude_tool(schema)])
        for route, body in (("/v1/chat/completions", chat), ("/v1/messages", claude)):
            response = client.post(route, content=json.dumps(body), headers={"content-type": "application/json"})
            statuses[f"{route} {model} via {provider}"] = response.status_code
            if response.status_code >= 500:
                failures.append(f"{route} {model} via {provider}: {response.status_code} {response.text[:200]}")
            check(failures, f"{route} {model} via {provider}", _record_problems(client, response))

    assert failures == []
    assert {label: status for label, status in statuses.items() if status != 200} == {}  # every provider serves it
