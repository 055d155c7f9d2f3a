"""Authentication as each provider does it, against the simulator's `CredentialStore`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from local.simulator import (
    anthropic_format,
    bedrock_format,
    gemini_format,
    google_oauth,
    openai_format,
    sigv4,
)
from local.simulator.credentials import CredentialStore
from local.simulator.wire import Call, Reply

_SIGV4_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class AuthResult:
    credential: str | None
    error: Reply | None = None


def claimed_credential(provider: str, call: Call, store: CredentialStore) -> str | None:
    """Who the request says it is, before any check; faults are matched on this."""
    if provider in {"openai", "deepseek"}:
        return call.bearer_token
    if provider == "anthropic":
        return call.header("x-api-key")
    if provider == "google-ai-studio":
        return call.header("x-goog-api-key")
    if provider == "amazon-bedrock":
        found = _SIGV4_ACCESS_KEY.search(call.header("authorization") or "")
        return found.group(1) if found else call.bearer_token
    if provider == "google-vertex":
        token = call.bearer_token
        return store.token_owner(token) if token else None
    if provider == "google-oauth":
        return google_oauth.claimed_issuer(call)
    return None


def authenticate(provider: str, call: Call, store: CredentialStore) -> AuthResult:
    if provider in {"openai", "deepseek"}:
        return _openai(provider, call, store)
    if provider == "anthropic":
        return _anthropic(call, store)
    if provider == "google-ai-studio":
        return _ai_studio(call, store)
    if provider == "amazon-bedrock":
        return _bedrock(call, store)
    if provider == "google-vertex":
        return _vertex(call, store)
    return AuthResult(None)  # the token endpoint authenticates by the assertion itself


def _masked(secret: str) -> str:
    return f"{secret[:3]}...{secret[-4:]}" if len(secret) > 10 else "***"


def _openai(provider: str, call: Call, store: CredentialStore) -> AuthResult:
    key = call.bearer_token
    if key is None:
        message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
        return AuthResult(None, openai_format.error_reply(401, message))
    if not store.api_key_ok(provider, key):
        return AuthResult(None, openai_format.error_reply(401, f"Incorrect API key provided: {_masked(key)}."))
    return AuthResult(key)


def _anthropic(call: Call, store: CredentialStore) -> AuthResult:
    key = call.header("x-api-key")
    if not key:
        return AuthResult(None, anthropic_format.error_reply(401, "x-api-key header is required"))
    if not store.api_key_ok("anthropic", key):
        return AuthResult(None, anthropic_format.error_reply(401, "invalid x-api-key"))
    return AuthResult(key)


def _ai_studio(call: Call, store: CredentialStore) -> AuthResult:
    key = call.header("x-goog-api-key")
    if not key:
        message = "Method doesn't allow unregistered callers (callers without established identity)."
        return AuthResult(None, gemini_format.error_reply(403, message))
    if not store.api_key_ok("google-ai-studio", key):
        detail = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
        return AuthResult(
            None, gemini_format.error_reply(403, "API key not valid. Please pass a valid API key.", [detail])
        )
    return AuthResult(key)


def _bedrock(call: Call, store: CredentialStore) -> AuthResult:
    authorization = call.header("authorization") or ""
    if authorization.startswith(sigv4.ALGORITHM):
        return _bedrock_sigv4(call, store)
    key = call.bearer_token
    if key is None:
        return AuthResult(
            None,
            bedrock_format.error_reply(403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
        )
    if not store.api_key_ok("amazon-bedrock", key):
        message = "Authentication failed: Please make sure your API Key is valid."
        return AuthResult(None, bedrock_format.error_reply(403, message, "AccessDeniedException"))
    return AuthResult(key)


def _bedrock_sigv4(call: Call, store: CredentialStore) -> AuthResult:
    parsed = sigv4.parse_authorization(call)
    if parsed is None:
        message = (
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' (including host), "
            "and a matching X-Amz-Date."
        )
        return AuthResult(None, bedrock_format.error_reply(403, message, "IncompleteSignatureException"))
    if parsed.service != "bedrock":
        message = "Credential should be scoped to correct service: 'bedrock'."
        return AuthResult(None, bedrock_format.error_reply(403, message, "InvalidSignatureException"))
    unrecognized = bedrock_format.error_reply(
        403, "The security token included in the request is invalid.", "UnrecognizedClientException"
    )
    if not store.strict:
        ok = store.lenient_identity_ok(parsed.access_key_id)
        return AuthResult(parsed.access_key_id) if ok else AuthResult(None, unrecognized)
    secret = store.aws_secret(parsed.access_key_id)
    if secret is None:
        return AuthResult(None, unrecognized)
    if not sigv4.signature_matches(call, parsed, secret):
        return AuthResult(None, bedrock_format.error_reply(403, SIGNATURE_MISMATCH, "InvalidSignatureException"))
    return AuthResult(parsed.access_key_id)


def _vertex(call: Call, store: CredentialStore) -> AuthResult:
    token = call.bearer_token
    owner = store.token_owner(token) if token else None
    if owner is None:
        message = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential."
        )
        return AuthResult(None, gemini_format.error_reply(401, message))
    return AuthResult(owner)
