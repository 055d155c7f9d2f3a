"""Exact-secret scrubbing of everything derived from an upstream answer.

``logs.redact`` removes what *looks like* a secret; it cannot know a short key without a telltale prefix. An
upstream that quotes the credential back (in a 401, or a 400 on shared capacity, where the key is the
operator's) must still never get it to a response, a log line or a table. So every attempt knows its own exact
secrets (every field of its credential, and the auth header values it actually sent, which include the Vertex
OAuth access token in use) and ``scrub`` removes each of them, in the spellings an error body may use (as is,
JSON-escaped, URL-encoded), before anything is truncated, stored, logged or returned.

``routing.run_attempt`` applies it to every error text of an attempt (chat, streaming and connection tests
all go through it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from gateway.security.credentials import ApiKeyCredentials, AwsCredentials, ServiceAccountCredentials

SCRUBBED = "[redacted]"
# Shorter fragments (the last line of a PEM body, "Bearer") are not secrets and would mangle ordinary words.
MIN_SECRET_CHARS = 8
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "x-amz-security-token"})
_AUTH_SCHEMES = ("bearer ", "basic ")

Credentials = ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials


def secrets_of(credentials: Credentials | None, headers: dict[str, str] | None = None) -> tuple[str, ...]:
    """The exact secrets of one attempt: every secret field of ``credentials`` (a private key also line by
    line), its access key id, and the values of the auth ``headers`` sent with it."""
    found: list[str] = []
    if isinstance(credentials, ApiKeyCredentials):
        found.append(credentials.api_key.get_secret_value())
    elif isinstance(credentials, AwsCredentials):
        found += [credentials.access_key_id, credentials.secret_access_key.get_secret_value()]
        if credentials.session_token is not None:
            found.append(credentials.session_token.get_secret_value())
    elif isinstance(credentials, ServiceAccountCredentials):
        pem = credentials.private_key.get_secret_value()
        found.append(pem)
        found += [line.strip() for line in pem.splitlines() if "-----" not in line]
        if credentials.private_key_id:
            found.append(credentials.private_key_id)
    for name, value in (headers or {}).items():
        if name.lower() not in AUTH_HEADERS:
            continue
        found.append(value)
        for scheme in _AUTH_SCHEMES:
            if value.lower().startswith(scheme):
                found.append(value[len(scheme) :].strip())
    return tuple(s for s in dict.fromkeys(found) if len(s) >= MIN_SECRET_CHARS)


def _spellings(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every spelling of every secret replaced, longest first (a key inside a PEM goes whole)."""
    spellings = {spelling for secret in secrets for spelling in _spellings(secret)}
    for spelling in sorted(spellings, key=len, reverse=True):
        if len(spelling) >= MIN_SECRET_CHARS:
            text = text.replace(spelling, SCRUBBED)
    return text
