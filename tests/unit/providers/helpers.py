"""Builders for the provider adapter tests: targets, requests, stream feeding and folding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.apis.chat.schema import ChatRequest
from gateway.core.catalog import Offer
from gateway.core.settings import get_settings
from gateway.providers import Target
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials, ServiceAccountCredentials

UPSTREAM_ENV = (
    "UPSTREAM_OPENAI_URL",
    "UPSTREAM_DEEPSEEK_URL",
    "UPSTREAM_ANTHROPIC_URL",
    "UPSTREAM_GOOGLE_AI_STUDIO_URL",
    "UPSTREAM_AMAZON_BEDROCK_URL",
    "UPSTREAM_GOOGLE_VERTEX_URL",
    "GOOGLE_TOKEN_URI_ALLOWLIST",
    "DEV_GOOGLE_TOKEN_URIS",
)
TOKEN_URI = "https://oauth2.googleapis.com/token"


def set_env(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def chat(**fields: Any) -> ChatRequest:
    body: dict[str, Any] = {"model": "test/model", "messages": [{"role": "user", "content": "Hi"}]}
    body.update(fields)
    return ChatRequest.model_validate(body)


def api_key_target(provider: str, model_id: str, family: Any, key: str = "test-key-1234567890") -> Target:
    offer = Offer(slug=provider, model_id=model_id, family=family)
    credentials = ApiKeyCredentials(api_key=SecretStr(key))
    return Target(provider=provider, offer=offer, credentials=credentials, region=None)


def aws_target(model_id: str, region: str | None = "us-west-2", session_token: str | None = None) -> Target:
    offer = Offer(slug="amazon-bedrock", model_id=model_id, family="converse")
    credentials = AwsCredentials(
        access_key_id="AKIASTOREDSTOREDKEY1",
        secret_access_key=SecretStr("s" * 40),
        session_token=SecretStr(session_token) if session_token else None,
    )
    return Target(provider="amazon-bedrock", offer=offer, credentials=credentials, region=region)


def bedrock_key_target(model_id: str, region: str | None = "us-east-1") -> Target:
    offer = Offer(slug="amazon-bedrock", model_id=model_id, family="converse")
    credentials = ApiKeyCredentials(api_key=SecretStr("bedrock-api-key-abcdef"))
    return Target(provider="amazon-bedrock", offer=offer, credentials=credentials, region=region)


def service_account(pem: str, token_uri: str = TOKEN_URI) -> ServiceAccountCredentials:
    return ServiceAccountCredentials(
        project_id="my-project-123",
        client_email="gateway@my-project-123.iam.gserviceaccount.com",
        private_key=SecretStr(pem),
        private_key_id="abc123",
        token_uri=token_uri,
    )


def vertex_target(
    pem: str, model_id: str, family: Any, region: str | None = "global", provisioned: bool = False
) -> Target:
    offer = Offer(slug="google-vertex", model_id=model_id, family=family)
    return Target(
        provider="google-vertex",
        offer=offer,
        credentials=service_account(pem),
        region=region,
        provisioned_throughput=provisioned,
    )


def body_of(upstream: Any) -> dict[str, Any]:
    return json.loads(upstream.content)


def feed_in_pieces(decoder: Any, data: bytes, size: int) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    for start in range(0, len(data), size):
        chunks.extend(decoder.feed(data[start : start + size]))
    chunks.extend(decoder.close())
    return chunks


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold chunk deltas the way an OpenAI SDK does: text, tool calls by index, the finish reason."""
    text = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in chunks:
        choice = chunk["choices"][0]
        delta = choice["delta"]
        text += delta.get("content") or ""
        for call in delta.get("tool_calls") or []:
            slot = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
            slot["id"] = call.get("id") or slot["id"]
            function = call.get("function") or {}
            slot["name"] += function.get("name") or ""
            slot["arguments"] += function.get("arguments") or ""
        finish = choice["finish_reason"] or finish
    return {"text": text, "tool_calls": [calls[i] for i in sorted(calls)], "finish_reason": finish}
