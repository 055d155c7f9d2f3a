"""Secrets never leak: one run drives every route and failure with known secrets, then searches everything.

Given fresh, distinctive secrets for every provider (API keys, AWS secret access key and session token, a
service-account private key) and the gateway API keys themselves, driven through key create (valid, invalid,
failing test), get/list/patch/rotate, connection tests that pass and that fail with a provider error quoting
the secret, and chat requests that succeed, fall back and fail the same way. Then every HTTP response (body and
headers), every log line written to stdout/stderr or the logging module, and every item of both DynamoDB tables
(binary attributes decoded as latin-1) is searched for each secret and for distinctive substrings of it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import boto3
import httpx
import pytest
from boto3.dynamodb.types import Binary

from gateway.core.observability import logger
from local.apigw import Router
from local.simulator import make_service_account
from local.simulator.dispatch import ECHOED_HEADERS as ECHOED
from local.simulator.faults import spelled
from tests.conftest import CurrentStdout, Gateway
from tests.integration.test_hostile_input import in_process

WINDOW = 12
MODELS = {
    "openai": "openai/gpt-5-mini",
    "deepseek": "deepseek/deepseek-v3.2",
    "anthropic": "anthropic/claude-sonnet-4.5",
    "google-ai-studio": "google/gemini-3-flash",
    "amazon-bedrock": "anthropic/claude-sonnet-4.5",
    "google-vertex": "google/gemini-3-flash",
}
EMBEDDING_MODELS = {
    "openai": "openai/text-embedding-3-small",
    "google-ai-studio": "google/gemini-embedding-001",
    "amazon-bedrock": "amazon/titan-embed-text-v2",
    "google-vertex": "google/gemini-embedding-001",
}


def fragments(secret: str) -> set[str]:
    """The secret and every distinctive window of it: a partial leak (truncated, re-wrapped) is still a leak."""
    windows = {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}
    # Windows made only of PEM framing or whitespace say nothing about the key.
    return {secret} | {w for w in windows if "-----" not in w and not any(c.isspace() for c in w)}


def rendered_tables(gateway: Gateway) -> str:
    def render(value: Any) -> str:
        if isinstance(value, Binary):
            return bytes(value.value).decode("latin-1")
        if isinstance(value, dict):
            return " ".join(f"{k}={render(v)}" for k, v in value.items())
        if isinstance(value, list | set):
            return " ".join(render(v) for v in value)
        return str(value)

    parts = []
    for name in ("ACCOUNTS_TABLE", "LOGS_TABLE", "ROUTING_TABLE"):
        table = boto3.resource("dynamodb").Table(gateway.env[name])
        kwargs: dict[str, Any] = {}
        while True:
            page = table.scan(**kwargs)
            parts += [render(item) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return "\n".join(parts)


def quoting(secret: str) -> str:
    """A provider error body that quotes the credential back, as some providers do."""
    return json.dumps({"error": {"message": f"Incorrect API key provided: {secret}. Secret={secret}"}})


def test_no_secret_reaches_a_response_a_log_line_or_a_table(
    gateway: Gateway, capfd: Any, caplog: Any, monkeypatch: Any
) -> None:
    drive_and_search(gateway, capfd, caplog, monkeypatch, logging.INFO)


def test_no_secret_reaches_the_logs_even_at_debug_level(
    gateway: Gateway, capfd: Any, caplog: Any, monkeypatch: Any
) -> None:
    drive_and_search(gateway, capfd, caplog, monkeypatch, logging.DEBUG)


def drive_and_search(
    gateway: Gateway,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    level: int,
) -> None:
    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    caplog.set_level(level)
    sim = gateway.sim
    token = secrets.token_urlsafe
    api_keys = {
        "openai": f"sk-proj-{token(30)}",
        "deepseek": f"sk-{token(30)}",
        "anthropic": f"sk-ant-api03-{token(30)}",
        "google-ai-studio": f"AIza{token(30)}",
        "amazon-bedrock": f"ABSK{token(40)}",
    }
    rotated = {provider: f"{key[:8]}{token(24)}" for provider, key in api_keys.items()}
    for provider, key in api_keys.items():
        sim.accept_api_key(provider, key)
        sim.accept_api_key(provider, rotated[provider])
    aws = {
        "accessKeyId": "ASIA" + secrets.token_hex(8).upper(),
        "secretAccessKey": secrets.token_urlsafe(30).replace("-", "+").replace("_", "/")[:40],
        "sessionToken": "IQoJb3JpZ2luX2Vj" + secrets.token_hex(60),
        "region": "eu-west-1",
    }
    sim.accept_aws(aws["accessKeyId"], aws["secretAccessKey"])
    service_account = make_service_account("secrets-test-proj", sim.token_uri)
    sim.accept_service_account(service_account)
    other = gateway.create_customer("other")
    pem = service_account["private_key"]
    secret_values = [*api_keys.values(), *rotated.values(), aws["secretAccessKey"], aws["sessionToken"], pem]
    secret_values += [line for line in pem.splitlines() if "-----" not in line]
    # The gateway keys' secret part (the account hex before it is the account id, which is not secret).
    # gwk_<account hex>_<secret>: the secret itself may contain "_", so split off the first two parts only.
    secret_values += [k.split("_", 2)[2] for k in (gateway.api_key, other.api_key)]

    router = Router.from_template(stage="test")
    responses: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    http = httpx.Client(transport=in_process(router), base_url="https://gateway.test", headers=headers, timeout=30)

    def call(method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        response = http.request(method, path, json=body, **kwargs)
        responses.append(response)
        routed = ("/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/responses")
        assert response.status_code < 500 or path in routed, response.text
        return response

    def chat(provider: str, **routing: Any) -> httpx.Response:
        body = {"model": MODELS[provider], "messages": [{"role": "user", "content": "hi"}]}
        return call("POST", "/v1/chat/completions", {**body, "provider": {"only": [provider], **routing}})

    def message(provider: str) -> httpx.Response:
        body = {"model": MODELS[provider], "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
        # Anthropic's clients send the gateway key as x-api-key.
        auth = {"Authorization": "", "x-api-key": gateway.api_key}
        return call("POST", "/v1/messages", {**body, "provider": {"only": [provider]}}, headers=auth)

    def embed(provider: str) -> httpx.Response:
        # Two inputs: Titan and Vertex fan them out into two calls, each with its own signature or token.
        body = {"model": EMBEDDING_MODELS[provider], "input": ["hi", "there"], "provider": {"only": [provider]}}
        return call("POST", "/v1/embeddings", body)

    def respond(provider: str) -> httpx.Response:
        body = {"model": MODELS[provider], "input": "hi", "provider": {"only": [provider]}}
        return call("POST", "/v1/responses", body)

    credentials: dict[str, tuple[Any, str, list[str]]] = {
        provider: (key, key, [key]) for provider, key in api_keys.items()
    }
    credentials["amazon-bedrock-aws"] = (aws, aws["accessKeyId"], [aws["secretAccessKey"], aws["sessionToken"]])
    credentials["google-vertex"] = (service_account, service_account["client_email"], [pem])

    for name, (creds, credential_id, quoted) in credentials.items():
        provider = name.removesuffix("-aws")
        # create: invalid, failing its test (provider quotes the secret), then valid with a passing test
        invalid = {**creds, "type": "x"} if isinstance(creds, dict) else creds + " <x>"
        if name == "amazon-bedrock-aws":
            invalid = {**creds, "secretAccessKey": creds["secretAccessKey"] + "!"}
        assert call("POST", "/v1/byok/keys", {"provider": provider, "credentials": invalid}).status_code == 422
        sim.fail(provider, status=401, body=quoting(" ".join(quoted)), credential=credential_id, times=1)
        failed = call("POST", "/v1/byok/keys", {"provider": provider, "credentials": creds, "test": True})
        assert failed.status_code == 422, failed.text
        created = call("POST", "/v1/byok/keys", {"provider": provider, "credentials": creds, "test": True})
        assert created.status_code == 201, created.text
        key_id = created.json()["id"]
        # read, rename, rotate and rotate back
        call("GET", f"/v1/byok/keys/{key_id}")
        call("GET", "/v1/byok/keys")
        call("PATCH", f"/v1/byok/keys/{key_id}", {"name": f"{name} key"})
        if name in rotated:
            call("PATCH", f"/v1/byok/keys/{key_id}", {"credentials": rotated[name]})
            call("PATCH", f"/v1/byok/keys/{key_id}", {"credentials": creds})
        # connection tests: passing, then failing with the secret quoted back
        assert call("POST", f"/v1/byok/keys/{key_id}/test").json()["ok"] is True
        sim.fail(provider, status=401, body=quoting(" ".join(quoted)), credential=credential_id, times=1)
        assert call("POST", f"/v1/byok/keys/{key_id}/test").json()["ok"] is False
        # chat: BYOK success, BYOK failure falling back to shared, then every attempt failing
        assert chat(provider).status_code == 200
        sim.fail(provider, status=401, body=quoting(" ".join(quoted)), credential=credential_id, times=1)
        assert chat(provider).json()["usage"]["is_byok"] is False
        sim.fail(provider, status=503, body=quoting(" ".join(quoted)))
        assert chat(provider).status_code == 502
        sim.clear_faults()
        # messages: the same three cases through the Anthropic front door
        assert message(provider).headers["x-gateway-byok"] == "true"
        sim.fail(provider, status=401, body=quoting(" ".join(quoted)), credential=credential_id, times=1)
        assert message(provider).headers["x-gateway-byok"] == "false"
        sim.fail(provider, status=503, body=quoting(" ".join(quoted)))
        assert message(provider).status_code == 502
        sim.clear_faults()
        # embeddings: the same three cases, one attempt being several upstream calls
        if provider in EMBEDDING_MODELS:
            assert embed(provider).headers["x-gateway-byok"] == "true"
            sim.fail(provider, status=401, body=quoting(" ".join(quoted)), credential=credential_id, times=1)
            assert embed(provider).headers["x-gateway-byok"] == "false"
            sim.fail(provider, status=503, body=quoting(" ".join(quoted)))
            assert embed(provider).status_code == 502
            sim.clear_faults()
        # responses: the same three cases through the Responses front door, and the stored answer read back
        answered = respond(provider)
        assert answered.headers["x-gateway-byok"] == "true"
        call("GET", f"/v1/responses/{answered.json()['id']}")
        call("GET", f"/v1/responses/{answered.json()['id']}/input_items")
        sim.fail(provider, status=401, body=quoting(" ".join(quoted)), credential=credential_id, times=1)
        assert respond(provider).headers["x-gateway-byok"] == "false"
        sim.fail(provider, status=503, body=quoting(" ".join(quoted)))
        assert respond(provider).status_code == 502
        sim.clear_faults()
        # another customer deleting it (404), then its owner (so the next round's chat uses only its own key)
        call("DELETE", f"/v1/byok/keys/{key_id}", headers={"Authorization": f"Bearer {other.api_key}"})
        assert call("DELETE", f"/v1/byok/keys/{key_id}").status_code == 204
    for log in call("GET", "/v1/logs", params={"limit": 100}).json()["data"]:
        call("GET", f"/v1/logs/{log['request_id']}")
    call("GET", "/v1/byok/keys", headers={"Authorization": f"Bearer {gateway.api_key}x"})
    call("GET", "/v1/byok/keys", headers={"Authorization": f"Bearer {gateway.api_key[:-1]}"})
    call("POST", "/v1/byok/keys", {"provider": "google-vertex", "credentials": gateway.api_key})
    call("POST", "/v1/byok/keys", {"provider": "openai", "credentials": other.api_key + "\n<x>"})

    # Then: search everything that was said, written or stored
    captured = capfd.readouterr()
    logged = captured.out + captured.err + caplog.text
    said = "\n".join(json.dumps(dict(r.headers)) + r.text for r in responses)
    stored = rendered_tables(gateway)
    assert "byok key created" in logged and "upstream attempt" in logged  # the capture really captured
    assert '"ok":false' in said and "all_attempts_failed" in said and '"api":"messages"' in said
    assert '"api":"embeddings"' in said
    assert '"api":"responses"' in said and '"object":"response"' in said
    assert "KEY#" in stored and "ciphertext" in stored and "attempts" in stored
    leaks = [
        (where, fragment)
        for secret in secret_values
        for fragment in fragments(secret)
        for where, text in (("response", said), ("log", logged), ("table", stored))
        if fragment in text
    ]
    assert leaks == []


# --- exact secrets quoted back by an upstream, in any form ----------------------------------------------------
#
# Secrets shaped so that no pattern of the redactor can recognise them (lower-case letters only: no prefix, no
# digits): only the attempt's exact secrets remove them. For each credential kind and each form an upstream may
# quote a secret in (whole, its first 70%, upper- or lower-cased, base64, URL-encoded), the simulator quotes the
# secrets back in its error body (401 that falls back, 400 that ends the request) on every route that reaches an
# upstream: chat, streaming chat, Messages, streaming Messages, count_tokens, a stored key's test and a create
# with test. Then every response, log line and item is searched for any 12-character run of each secret, in any
# letter case and any spelling.

FORMS = ["as_is", "partial", "upper", "lower", "base64", "url"]
CLAUDE = "anthropic/claude-sonnet-4.5"
CLAUDE_HOSTS = ("anthropic", "amazon-bedrock", "google-vertex")


def plain(length: int) -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))


def spellings(secret: str) -> set[str]:
    """Every way an output could hold ``secret``: as is, JSON-escaped, URL-encoded, base64 at each alignment."""
    found = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    for offset in range(3):  # the secret at each byte alignment of a longer blob: the characters of its own bits
        encoded = base64.b64encode(b"\0" * offset + secret.encode()).decode()[(0, 2, 3)[offset] : -4]
        found |= {encoded, encoded.replace("+", "-").replace("/", "_")}
    return found


def runs(secret: str) -> set[str]:
    """Every 12-character run of every spelling of ``secret``, lower-cased (PEM framing and whitespace aside)."""
    found: set[str] = set()
    for spelling in spellings(secret):
        found |= {
            w.lower()
            for w in (spelling[i : i + WINDOW] for i in range(len(spelling) - WINDOW + 1))
            if "-----" not in w and not any(c.isspace() for c in w)
        }
    return found


def leaks(secret_values: list[str], outputs: dict[str, str]) -> list[tuple[str, str]]:
    """(where, run) for every 12-character run of a secret, in any case or spelling, found in an output."""
    wanted = set().union(*(runs(s) for s in secret_values))
    found = []
    for where, text in outputs.items():
        folded = text.lower()
        seen = {folded[i : i + WINDOW] for i in range(len(folded) - WINDOW + 1)}
        found += [(where, run) for run in wanted & seen]
    return found


@dataclass
class SecretKind:
    provider: str
    credentials: Any
    claimed: str  # what the simulator matches the fault on
    quoted: list[str]  # what the upstream quotes back
    echo: bool = False  # also quote the auth headers the request carried (the OAuth token in use)


def secret_kinds(sim: Any) -> dict[str, SecretKind]:
    short_key = plain(12)
    api_key = plain(40)
    bedrock_key = plain(24)
    aws = {
        "accessKeyId": "AKIA" + secrets.token_hex(8).upper(),
        "secretAccessKey": plain(40),
        "sessionToken": plain(60),
    }
    sa = make_service_account("exact-secret-proj", sim.token_uri)
    middle_line = sa["private_key"].splitlines()[5]
    sim.accept_api_key("deepseek", short_key)
    sim.accept_api_key("anthropic", api_key)
    sim.accept_api_key("amazon-bedrock", bedrock_key)
    sim.accept_aws(aws["accessKeyId"], aws["secretAccessKey"])
    sim.accept_service_account(sa)
    return {
        "short api key": SecretKind("deepseek", short_key, short_key, [short_key]),
        "api key": SecretKind("anthropic", api_key, api_key, [api_key]),
        "bedrock api key": SecretKind("amazon-bedrock", bedrock_key, bedrock_key, [bedrock_key]),
        "aws credentials": SecretKind("amazon-bedrock", aws, aws["accessKeyId"], list(aws.values()), echo=True),
        "private key": SecretKind("google-vertex", sa, sa["client_email"], [middle_line, sa["private_key"]]),
        "oauth access token": SecretKind("google-vertex", sa, sa["client_email"], [], echo=True),
    }


def sent_secrets(requests: list[Any]) -> list[str]:
    """The secret parts of the auth headers the upstream saw: bearer tokens and keys whole, a SigV4 signature."""
    found = []
    for request in requests:
        for name, value in request.headers.items():
            if name not in ECHOED or len(value) < 8:
                continue
            if value.startswith("AWS4-"):
                found += re.findall(r"Signature=([0-9a-f]+)", value)
            else:
                found.append(value.removeprefix("Bearer "))
    return found


KINDS = ["short api key", "api key", "bedrock api key", "aws credentials", "private key", "oauth access token"]


def only_provider(spec: SecretKind) -> dict[str, Any]:
    return {"provider": {"only": [spec.provider]}}


@pytest.mark.parametrize(
    ("kind", "form"),
    # 70% of a 12-character key is shorter than any run the rule covers
    [(kind, form) for kind in KINDS for form in FORMS if (kind, form) != ("short api key", "partial")],
)
def test_a_secret_quoted_back_by_the_upstream_is_scrubbed_everywhere(
    kind: str, form: str, gateway: Gateway, capfd: Any, caplog: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    caplog.set_level(logging.DEBUG)
    sim = gateway.sim
    spec = secret_kinds(sim)[kind]
    http = httpx.Client(
        transport=in_process(Router.from_template(stage="test")),
        base_url="https://gateway.test",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=30,
    )
    responses: list[httpx.Response] = []

    def call(method: str, path: str, body: Any = None) -> httpx.Response:
        responses.append(http.request(method, path, json=body))
        return responses[-1]

    def quote_back(status: int) -> None:
        quoted = [spelled(secret, form) for secret in spec.quoted]
        message = f"Invalid credentials: {' and '.join(quoted)}." if quoted else "Invalid credentials."
        sim.fail(
            spec.provider,
            status=status,
            message=message,
            echo_credentials=spec.echo,
            echo_form=form,
            credential=spec.claimed,
            times=1,
        )

    only = {"provider": {"only": [spec.provider]}}
    chat_body = {"model": MODELS[spec.provider], "messages": [{"role": "user", "content": "hi"}], **only}
    message_body = {"model": CLAUDE, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], **only}
    count_body = {k: v for k, v in message_body.items() if k != "max_tokens"}

    # Given a stored key (its first chat caches the OAuth token, if any)
    key = call("POST", "/v1/byok/keys", {"provider": spec.provider, "credentials": spec.credentials})
    assert key.status_code == 201, key.text
    assert call("POST", "/v1/chat/completions", chat_body).status_code == 200

    # When the upstream quotes the secrets back on every route that reaches it
    quote_back(401)
    assert call("POST", "/v1/chat/completions", chat_body).json()["usage"]["is_byok"] is False
    quote_back(401)
    assert call("POST", "/v1/chat/completions", {**chat_body, "stream": True}).status_code == 200
    quote_back(400)
    rejected = call("POST", "/v1/chat/completions", chat_body)
    assert rejected.status_code == 400 and "Invalid credentials" in rejected.text  # the upstream's words survive
    if spec.provider in CLAUDE_HOSTS:
        quote_back(401)
        assert call("POST", "/v1/messages", message_body).headers["x-gateway-byok"] == "false"
        quote_back(401)
        assert call("POST", "/v1/messages", {**message_body, "stream": True}).status_code == 200
        quote_back(401)
        assert call("POST", "/v1/messages/count_tokens", count_body).status_code == 200  # counted on shared
        quote_back(400)
        refused = call("POST", "/v1/messages/count_tokens", count_body)
        assert refused.status_code == 400 and "Invalid credentials" in refused.text
    if spec.provider in EMBEDDING_MODELS:  # one attempt, two upstream calls (each signed or authorised apart)
        embed_body = {"model": EMBEDDING_MODELS[spec.provider], "input": ["hi", "there"], **only_provider(spec)}
        quote_back(401)
        assert call("POST", "/v1/embeddings", embed_body).json()["usage"]["is_byok"] is False
        quote_back(400)
        rejected = call("POST", "/v1/embeddings", embed_body)
        assert rejected.status_code == 400 and "Invalid credentials" in rejected.text
    quote_back(401)
    assert call("POST", f"/v1/byok/keys/{key.json()['id']}/test").json()["ok"] is False
    quote_back(401)
    create_tested = {"provider": spec.provider, "credentials": spec.credentials, "test": True}
    assert call("POST", "/v1/byok/keys", create_tested).status_code == 422
    for log in call("GET", "/v1/logs?limit=100").json()["data"]:
        call("GET", f"/v1/logs/{log['request_id']}")
    call("GET", f"/v1/byok/keys/{key.json()['id']}")

    # Then no 12-character run of any secret, in any case or spelling, is in anything said, logged or stored
    secret_values = [*spec.quoted]
    if spec.echo:  # the auth header values the upstream saw, OAuth access tokens included
        secret_values += sent_secrets([r for r in sim.requests if r.provider == spec.provider])
    captured = capfd.readouterr()
    outputs = {
        "response": "\n".join(json.dumps(dict(r.headers)) + r.text for r in responses),
        "log": captured.out + captured.err + caplog.text,
        "table": rendered_tables(gateway),
    }
    assert "upstream attempt" in outputs["log"] and "[redacted]" in outputs["response"]  # the quote arrived
    assert secret_values and leaks(secret_values, outputs) == []


@pytest.mark.parametrize("credential", ["byok", "shared"])
def test_count_tokens_never_returns_an_aws_secret_quoted_url_encoded(
    credential: str, gateway: Gateway, capfd: Any, caplog: Any, monkeypatch: Any
) -> None:
    from gateway.apis import admin
    from gateway.security import credential_cache as keystore

    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    caplog.set_level(logging.DEBUG)
    # Given AWS credentials whose secret has the characters URL-encoding changes, a customer's or the operator's
    aws = {
        "accessKeyId": "AKIA" + secrets.token_hex(8).upper(),
        "secretAccessKey": secrets.token_urlsafe(30).replace("-", "+").replace("_", "/")[:36] + "/+/=",
    }
    gateway.sim.accept_aws(aws["accessKeyId"], aws["secretAccessKey"])
    http = httpx.Client(
        transport=in_process(Router.from_template(stage="test")),
        base_url="https://gateway.test",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=30,
    )
    if credential == "byok":
        stored = http.post("/v1/byok/keys", json={"provider": "amazon-bedrock", "credentials": aws})
        assert stored.status_code == 201, stored.text
    else:
        admin.set_platform_key("amazon-bedrock", aws, "us-east-1")
        keystore.clear()
    # and Bedrock answering 400 quoting the secret access key URL-encoded
    encoded = quote(aws["secretAccessKey"], safe="")
    gateway.sim.fail(
        "amazon-bedrock", status=400, message=f"Signature mismatch for {encoded}", credential=aws["accessKeyId"]
    )
    body = {"model": CLAUDE, "messages": [{"role": "user", "content": "hi"}], "provider": {"only": ["amazon-bedrock"]}}

    # When the customer counts tokens, and creates a message, on that key
    counted = http.post("/v1/messages/count_tokens", json=body)
    created = http.post("/v1/messages", json={**body, "max_tokens": 16})

    # Then both say the upstream rejected the request, and neither (nor any log or record) holds the secret
    assert [counted.status_code, created.status_code] == [400, 400]
    # (the pattern pass may take part of the quote first: what is left of it is shorter than any 12-character run)
    assert "Signature mismatch for " in counted.text and "[redacted]" in counted.text and "[redacted]" in created.text
    captured = capfd.readouterr()
    outputs = {
        "response": counted.text + created.text,
        "log": captured.out + captured.err + caplog.text,
        "table": rendered_tables(gateway),
    }
    assert leaks([aws["secretAccessKey"]], outputs) == []


def test_the_operators_key_quoted_in_a_shared_400_never_reaches_the_customer(
    gateway: Gateway, capfd: Any, caplog: Any, monkeypatch: Any
) -> None:
    from gateway.apis import admin
    from gateway.security import credential_cache

    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    caplog.set_level(logging.DEBUG)
    operator_key = plain(16)
    gateway.sim.accept_api_key("deepseek", operator_key)
    admin.set_platform_key("deepseek", operator_key)
    credential_cache.clear()
    gateway.sim.fail("deepseek", status=400, message=f"Bad request for key {operator_key}", credential=operator_key)
    http = httpx.Client(
        transport=in_process(Router.from_template(stage="test")),
        base_url="https://gateway.test",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=30,
    )
    body = {"model": "deepseek/deepseek-v3.2", "messages": [{"role": "user", "content": "hi"}]}

    answers = [
        http.post("/v1/chat/completions", json=body),
        http.post("/v1/chat/completions", json={**body, "stream": True}),
    ]
    answers += [http.get("/v1/logs?limit=10")]

    assert [a.status_code for a in answers] == [400, 400, 200]
    captured = capfd.readouterr()
    everything = (
        "\n".join(a.text for a in answers) + captured.out + captured.err + caplog.text + rendered_tables(gateway)
    )
    assert "Bad request for key [redacted]" in answers[0].text
    assert operator_key not in everything
