"""Secrets never leak: one run drives every route and failure with known secrets, then searches everything.

Given fresh, distinctive secrets for every provider (API keys, AWS secret access key and session token, a
service-account private key) and the gateway API keys themselves, driven through key create (valid, invalid,
failing test), get/list/patch/rotate, connection tests that pass and that fail with a provider error quoting
the secret, and chat requests that succeed, fall back and fail the same way. Then every HTTP response (body and
headers), every log line written to stdout/stderr or the logging module, and every item of both DynamoDB tables
(binary attributes decoded as latin-1) is searched for each secret and for distinctive substrings of it.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import boto3
import httpx
import pytest
from boto3.dynamodb.types import Binary

from gateway.observability import logger
from local.apigw import Router
from local.simulator import make_service_account
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
    for name in ("ACCOUNTS_TABLE", "LOGS_TABLE"):
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
    secret_values += [k.rsplit("_", 1)[1] for k in (gateway.api_key, other.api_key)]

    router = Router.from_template(stage="test")
    responses: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    http = httpx.Client(transport=in_process(router), base_url="https://gateway.test", headers=headers, timeout=30)

    def call(method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        response = http.request(method, path, json=body, **kwargs)
        responses.append(response)
        assert response.status_code < 500 or path == "/v1/chat/completions", response.text
        return response

    def chat(provider: str, **routing: Any) -> httpx.Response:
        body = {"model": MODELS[provider], "messages": [{"role": "user", "content": "hi"}]}
        return call("POST", "/v1/chat/completions", {**body, "provider": {"only": [provider], **routing}})

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
    assert '"ok":false' in said and "all_attempts_failed" in said
    assert "KEY#" in stored and "ciphertext" in stored and "attempts" in stored
    leaks = [
        (where, fragment)
        for secret in secret_values
        for fragment in fragments(secret)
        for where, text in (("response", said), ("log", logged), ("table", stored))
        if fragment in text
    ]
    assert leaks == []
