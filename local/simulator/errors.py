"""Each provider's error body and request-id header, chosen by provider slug."""

from __future__ import annotations

import uuid

from local.simulator import anthropic_format, bedrock_format, gemini_format, google_oauth, openai_format
from local.simulator.wire import Reply, new_id


def provider_error(provider: str, status: int, message: str) -> Reply:
    if provider in {"openai", "deepseek"}:
        return openai_format.error_reply(status, message)
    if provider == "anthropic":
        return anthropic_format.error_reply(status, message)
    if provider in {"google-ai-studio", "google-vertex"}:
        return gemini_format.error_reply(status, message)
    if provider == "amazon-bedrock":
        return bedrock_format.error_reply(status, message)
    return google_oauth.oauth_error(status, "server_error" if status >= 500 else "invalid_request", message)


def request_id_header(provider: str) -> tuple[str, str]:
    if provider == "anthropic":
        return "request-id", new_id("req_011C", 20)
    if provider == "amazon-bedrock":
        return "x-amzn-RequestId", str(uuid.uuid4())
    return "x-request-id", new_id("req_", 32)
