"""Upstream 400s that are about the credential, not the request: classified so the fallback loop moves on.

Bodies are the providers' real error shapes (Google's ``google.rpc.Status`` with ``ErrorInfo`` details,
Anthropic's ``{"type": "error", "error": {...}}``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from gateway.apis.chat.codec import CHAT
from gateway.apis.chat.schema import ChatRequest
from gateway.providers import adapter_for, transport
from gateway.routing import attempt as routing
from tests.unit.providers.helpers import api_key_target, aws_target

STUDIO = api_key_target("google-ai-studio", "gemini-3-flash-preview", "gemini")
ANTHROPIC = api_key_target("anthropic", "claude-sonnet-4-5", "anthropic")
OPENAI = api_key_target("openai", "gpt-5-mini", "openai")


def google_error(status: str, message: str, reason: str | None = None) -> bytes:
    details: list[dict[str, Any]] = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    return json.dumps({"error": {"code": 400, "message": message, "status": status, "details": details}}).encode()


API_KEY_INVALID = google_error("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
FREE_TIER_UNAVAILABLE = google_error(
    "FAILED_PRECONDITION",
    "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.",
)
BAD_REQUEST = google_error("INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "foo": Cannot find field.')
CREDIT_TOO_LOW = json.dumps(
    {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits.",
        },
    }
).encode()
ANTHROPIC_BAD_REQUEST = json.dumps(
    {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}}
).encode()


@pytest.mark.parametrize(
    ("target", "status", "body", "treated_as"),
    [
        (STUDIO, 400, API_KEY_INVALID, 401),
        (STUDIO, 400, FREE_TIER_UNAVAILABLE, 403),
        (STUDIO, 400, BAD_REQUEST, 400),
        (STUDIO, 429, API_KEY_INVALID, 429),
        (ANTHROPIC, 400, CREDIT_TOO_LOW, 402),
        (ANTHROPIC, 400, ANTHROPIC_BAD_REQUEST, 400),
        (OPENAI, 400, BAD_REQUEST, 400),
        (aws_target("anthropic.claude-sonnet-4-5-v1:0"), 400, b'{"message": "ValidationException"}', 400),
    ],
    ids=[
        "gemini_api_key_invalid",
        "gemini_failed_precondition",
        "gemini_bad_request",
        "gemini_other_status_untouched",
        "anthropic_credit_balance_too_low",
        "anthropic_bad_request",
        "openai_untouched",
        "bedrock_untouched",
    ],
)
def test_classify(target: Any, status: int, body: bytes, treated_as: int) -> None:
    assert adapter_for(target).classify(status, body) == treated_as


def attempt(monkeypatch: pytest.MonkeyPatch, target: Any, status: int, body: bytes) -> routing.AttemptResult:
    answer = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    monkeypatch.setattr(transport, "client", lambda: transport.new_client(answer))
    request = ChatRequest.model_validate(
        {"model": "google/gemini-3-flash", "messages": [{"role": "user", "content": "hi"}]}
    )
    return routing.run_attempt(
        1, request, target, credential="byok", key_id="k1", deadline=time.monotonic() + 5, codec=CHAT
    )


def test_a_dead_gemini_key_moves_on_and_is_recorded_as_google_said(monkeypatch: pytest.MonkeyPatch) -> None:
    result = attempt(monkeypatch, STUDIO, 400, API_KEY_INVALID)
    assert result.terminal is None
    assert (result.record.status_code, result.record.outcome) == (400, "error")
    assert result.record.error == "HTTP 400: API key not valid. Please pass a valid API key."


def test_a_bad_request_still_ends_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    result = attempt(monkeypatch, STUDIO, 400, BAD_REQUEST)
    assert result.terminal is not None and result.terminal.status == 400


def test_an_unreadable_400_is_classified_by_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    result = attempt(monkeypatch, STUDIO, 400, b"<html>Bad Request</html>")
    assert result.terminal is not None
