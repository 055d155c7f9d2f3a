"""The one redactor (``scrub.redact``): every 12-character run of the attempt's exact secrets in any case and
spelling, plus whatever looks like a secret; applied by ``run_attempt`` before anything is cut or kept."""

from __future__ import annotations

import base64
import json
import secrets
import string
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pydantic import SecretStr

from gateway.providers import transport
from gateway.routing import attempt
from gateway.security import redact as scrub
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials
from gateway.security.redact import redact

GOOGLE_KEY = "AIzaSyD4x9Qm2LpVr7TnWc3Ke8Hb1Zf6Ya0Jg5N"
OPENAI_KEY = "sk-proj-Xq7Lm2Pz9Rt4Vn8Kc3Wd6Hb1Jf5Gs0Ya2Ue7Io4"
AWS_ACCESS_KEY = "AKIA3EXAMPLE7Q2LZ5WX"
AWS_SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
SHORT_KEY = "plainkeyq"  # no prefix, short, no digits: no pattern matches it
# Lower-case letters only: no pattern can recognise it, only the attempt's exact secrets remove it.
PLAIN_SECRET = "qwhvzmprtkxlbnsdgfjaeyuoicqwhvzmprtkxlbn"
# An AWS-style secret access key with the characters that each spelling changes ("/", "+", "=").
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzq/EXAMPLE="


def windows(text: str) -> set[str]:
    return {text[i : i + scrub.WINDOW] for i in range(len(text) - scrub.WINDOW + 1)}


def leaked(secret: str, text: str) -> list[str]:
    """Every 12-character run of ``secret``, in any spelling, that ``text`` still holds (case ignored)."""
    folded = text.lower()
    spellings = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    spellings |= {base64.b64encode(b"\0" * n + secret.encode()).decode()[4:-4] for n in range(3)}
    return [w for s in spellings for w in windows(s) if w.lower() in folded]


# --- exact secrets of the attempt ----------------------------------------------------------------------


def test_patterns_alone_miss_a_short_plain_key() -> None:
    assert SHORT_KEY in redact(f"Incorrect API key provided: {SHORT_KEY}")


def test_a_short_secret_is_removed_whole() -> None:
    assert redact(f"key {SHORT_KEY} rejected", scrub.Secrets((SHORT_KEY,))) == "key [redacted] rejected"


@pytest.mark.parametrize(
    "quoted",
    [
        PLAIN_SECRET,
        PLAIN_SECRET[:28],  # 70% of it
        PLAIN_SECRET[9:21],  # any 12 characters
        PLAIN_SECRET.upper(),
        PLAIN_SECRET[5:33].upper(),
        base64.b64encode(PLAIN_SECRET.encode()).decode(),
        base64.b64encode(b"x" + PLAIN_SECRET.encode()).decode(),
        base64.b64encode(b"xy" + PLAIN_SECRET.encode()).decode(),
        base64.urlsafe_b64encode(b"Basic " + PLAIN_SECRET.encode()).decode(),
        base64.b64encode(PLAIN_SECRET.encode()).decode()[6:30],  # part of its base64
    ],
    ids=["whole", "70%", "12 chars", "upper", "70% upper", "b64", "b64+1", "b64+2", "urlsafe b64", "b64 part"],
)
def test_any_twelve_characters_of_a_secret_in_any_case_or_base64_are_removed(quoted: str) -> None:
    # Given an upstream answer that quotes (part of) the attempt's secret
    text = f"Invalid credentials: {quoted}. Check your key."

    # When it is redacted with the attempt's secrets
    cleaned = redact(text, scrub.Secrets((PLAIN_SECRET,)))

    # Then not one run of 12 of its characters is left, in any spelling, and the message still reads
    assert leaked(PLAIN_SECRET, cleaned) == []
    assert cleaned.startswith("Invalid credentials: ") and cleaned.endswith("Check your key.")


@pytest.mark.parametrize(
    "spelling",
    [
        AWS_SECRET,
        json.dumps(AWS_SECRET)[1:-1].replace("/", "\\/"),
        quote(AWS_SECRET, safe=""),
        quote(AWS_SECRET, safe="").lower(),
        quote(AWS_SECRET),
        quote_plus(AWS_SECRET),
        quote(AWS_SECRET, safe="")[: int(len(quote(AWS_SECRET, safe="")) * 0.7)],
    ],
    ids=["as is", "json-escaped", "url-encoded", "url-encoded lower", "url path", "quote_plus", "70% url-encoded"],
)
def test_each_spelling_of_a_secret_is_removed(spelling: str) -> None:
    cleaned = redact(f"key {spelling} rejected", scrub.Secrets((AWS_SECRET,)))
    assert cleaned == "key [redacted] rejected"


def test_short_runs_and_ordinary_words_stay() -> None:
    # Eleven characters of a secret say nothing about it; ordinary text around it is kept as it was.
    text = f"model claude-sonnet-4-5 said {PLAIN_SECRET[:11]} twice"
    assert redact(text, scrub.Secrets((PLAIN_SECRET,))) == text


def test_redaction_happens_before_the_cut() -> None:
    # Given a secret that starts just before the 200-character cut
    text = "the request was rejected " * 7 + PLAIN_SECRET
    cleaned = redact(text, scrub.Secrets((PLAIN_SECRET,)))
    assert not any(PLAIN_SECRET[: n + 1] in cleaned for n in range(5, len(PLAIN_SECRET)))


def test_every_field_of_aws_credentials_is_a_secret_of_the_attempt() -> None:
    creds = AwsCredentials(
        access_key_id="AKIAEXAMPLE000000001",
        secret_access_key=SecretStr("abcdefghijklmnopqrstuvwxyzabcdefghijklmn"),
        session_token=SecretStr("sessiontokenvalueonly"),
    )

    found = scrub.secrets_of(creds, {"x-amz-security-token": "sessiontokenvalueonly", "accept": "text/plain"})

    assert set(found.values) == {
        "AKIAEXAMPLE000000001",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
        "sessiontokenvalueonly",
    }


def test_the_bearer_token_sent_is_a_secret_of_the_attempt() -> None:
    found = scrub.secrets_of(None, {"Authorization": "Bearer ya29.accesstokeninuse"})

    assert "ya29.accesstokeninuse" in found.values


def test_secrets_never_print() -> None:
    assert PLAIN_SECRET not in repr(scrub.Secrets((PLAIN_SECRET,))) + str(scrub.Secrets((PLAIN_SECRET,)))


def test_a_secrets_windows_are_built_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a service-account sized secret and a 16 KiB error body: the windows are built once per secret
    pem = "".join(secrets.choice(string.ascii_letters + string.digits + "+/") for _ in range(1700))
    calls: list[str] = []
    real = scrub._spellings
    monkeypatch.setattr(scrub, "_spellings", lambda s: calls.append(s) or real(s))
    scrub._windows.cache_clear()
    body = "x" * 16_000 + pem[100:140]

    for _ in range(3):
        assert pem[100:140] not in redact(body, scrub.Secrets((pem,)))

    assert calls == [pem]


# --- through an attempt --------------------------------------------------------------------------------


def test_a_connection_test_result_never_quotes_the_key(monkeypatch: pytest.MonkeyPatch, gateway: Any) -> None:
    # Given a provider that quotes the key back in its 401
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SHORT_KEY}"}})

    monkeypatch.setattr(transport, "client", lambda: transport.new_client(httpx.MockTransport(upstream)))
    creds = ApiKeyCredentials(api_key=SecretStr(SHORT_KEY))

    # When the key is tested
    result = attempt.run_connection_test("openai", creds, None, False, 5, owner="acct_x/new")

    # Then the result says why, without the key
    assert result["ok"] is False
    assert SHORT_KEY not in json.dumps(result)
    assert "[redacted]" in result["error"]["message"]


def test_a_key_quoted_across_the_length_cut_leaves_no_prefix_behind(
    monkeypatch: pytest.MonkeyPatch, gateway: Any
) -> None:
    key = "quotedacrossthecutkeyvalue"
    padding = "the request was rejected " * 7  # the key starts just before the 200-character cut

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"{padding}{key}"}})

    monkeypatch.setattr(transport, "client", lambda: transport.new_client(httpx.MockTransport(upstream)))

    result = attempt.run_connection_test(
        "openai", ApiKeyCredentials(api_key=SecretStr(key)), None, False, 5, owner="acct_x/new"
    )

    message = result["error"]["message"]
    assert not any(key[: n + 1] in message for n in range(5, len(key)))


def test_the_transport_refuses_to_send_outside_an_attempt() -> None:
    request = transport.UpstreamRequest("POST", "https://api.example.com/v1/x")
    with pytest.raises(transport.OutsideAttempt):
        transport.send(request, 1)
    with pytest.raises(transport.OutsideAttempt), transport.stream(request, 1):
        pass


# --- what looks like a secret, whatever the attempt -----------------------------------------------------


def test_redact_drops_the_query_string_of_a_google_url() -> None:
    # Given a Gemini error quoting the URL with the key in its query string
    text = (
        "POST https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash:generateContent"
        f"?key={GOOGLE_KEY}&alt=sse returned 400: API key not valid. Please pass a valid API key."
    )
    # When it is redacted
    cleaned = redact(text)
    # Then the key and the query string are gone, the useful part stays
    assert GOOGLE_KEY not in cleaned
    assert "alt=sse" not in cleaned
    assert "generativelanguage.googleapis.com/v1beta/models/gemini-3-flash:generateContent?" in cleaned
    assert "API key not valid" in cleaned


def test_redact_removes_a_bare_google_key() -> None:
    assert GOOGLE_KEY not in redact(f"key {GOOGLE_KEY} is disabled for this project")


def test_redact_removes_the_openai_key_quoted_in_a_401() -> None:
    # Given OpenAI's 401 body, which quotes the key that was sent
    body = json.dumps(
        {
            "error": {
                "message": f"Incorrect API key provided: {OPENAI_KEY}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    )
    cleaned = redact(body)
    assert "sk-proj" not in cleaned
    assert OPENAI_KEY[8:20] not in cleaned
    assert "Incorrect API key provided" in cleaned


def test_redact_removes_an_openai_key_masked_by_openai() -> None:
    cleaned = redact("Incorrect API key provided: sk-proj-Xq7L**********************************Io4.")
    assert "sk-" not in cleaned
    assert "Xq7L" not in cleaned


def test_redact_removes_access_key_and_signature_from_an_aws_error() -> None:
    # Given a SigV4 failure from Bedrock quoting the credential scope and the signature
    text = (
        '{"message":"The request signature we calculated does not match the signature you provided. '
        "Check your AWS Secret Access Key and signing method. Authorization=AWS4-HMAC-SHA256 "
        f"Credential={AWS_ACCESS_KEY}/20260203/us-east-1/bedrock/aws4_request, "
        f'SignedHeaders=host;x-amz-date, Signature={AWS_SIGNATURE}"}}'
    )
    cleaned = redact(text)
    assert AWS_ACCESS_KEY not in cleaned
    assert "AKIA" not in cleaned
    assert AWS_SIGNATURE[:16] not in cleaned
    assert "signature we calculated does not match" in cleaned


def test_redact_removes_a_temporary_access_key_and_session_token() -> None:
    session_token = "IQoJb3JpZ2luX2VjEHQaCXVzLWVhc3QtMSJHMEUCIQDx7Yk2bPq9Lr4Vm3Nw8Tz1Kc6Hf0Jd5Ga2Se7Uo4Bi"
    cleaned = redact(f"ASIA4EXAMPLE9T2KQ7ZD rejected, X-Amz-Security-Token: {session_token}")
    assert "ASIA4EXAMPLE" not in cleaned
    assert session_token[:12] not in cleaned


def test_redact_removes_a_pem_block_even_inside_escaped_json() -> None:
    # Given a token endpoint error echoing a service account, private key with JSON-escaped newlines
    text = (
        'invalid_grant: {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        f'{PEM_BODY}\\n{PEM_BODY}\\n-----END PRIVATE KEY-----\\n", "client_email": "sa@p.iam.gserviceaccount.com"}}'
    )
    cleaned = redact(text)
    assert PEM_BODY[:12] not in cleaned
    assert "BEGIN PRIVATE KEY" not in cleaned
    assert "invalid_grant" in cleaned


def test_redact_removes_a_truncated_pem_block() -> None:
    cleaned = redact(f"bad key -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY[:20]}")
    assert PEM_BODY[:12] not in cleaned


def test_redact_removes_bearer_tokens_and_jwts() -> None:
    jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzYUBwLmlhbSIsImV4cCI6MX0.c2lnbmF0dXJlLXZhbHVl"
    cleaned = redact(f"Authorization: Bearer ya29.a0AfB_byC1x2y3 rejected; assertion {jwt} expired")
    assert "ya29" not in cleaned
    assert "eyJ" not in cleaned
    assert "rejected" in cleaned


def test_redact_keeps_model_ids_and_paths_readable() -> None:
    text = (
        "404 from https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1"
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    )
    assert redact(text) == text


def test_redact_makes_one_short_line() -> None:
    cleaned = redact("upstream said:\n\n" + "overloaded " * 100)
    assert "\n" not in cleaned
    assert len(cleaned) <= scrub.MAX_ERROR_CHARS


def test_redact_runs_before_truncation() -> None:
    # Given a key that straddles the 200th character
    text = "x" * 190 + " " + OPENAI_KEY
    cleaned = redact(text)
    assert "sk-" not in cleaned
    assert OPENAI_KEY[3:9] not in cleaned
