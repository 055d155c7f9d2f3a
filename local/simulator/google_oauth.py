"""Service accounts and the OAuth 2.0 JWT-bearer token endpoint Vertex callers use (RFC 7523, RS256)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local.simulator.credentials import TOKEN_LIFETIME_SECONDS, CredentialStore
from local.simulator.wire import Call, Reply, json_reply

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CLOCK_SKEW_SECONDS = 300
# google-auth always addresses its assertion to Google's token endpoint, whatever token_uri says.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
_CERT_URL_BASE = "https://www.googleapis.com/robot/v1/metadata/x509/"


def make_service_account(project_id: str, token_uri: str, client_email: str | None = None) -> dict[str, Any]:
    """A service-account JSON document like the one the Google Cloud console downloads, with a fresh key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = client_email or f"sim-{uuid.uuid4().hex[:8]}@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex + uuid.uuid4().hex[:8],
        "private_key": pem,
        "client_email": email,
        "client_id": str(uuid.uuid4().int)[:21],
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": _CERT_URL_BASE + email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }


@dataclass(frozen=True)
class TokenOutcome:
    reply: Reply
    client_email: str | None  # the assertion's issuer, when one could be read


def oauth_error(status: int, error: str, description: str) -> Reply:
    return json_reply(status, {"error": error, "error_description": description})


def claimed_issuer(call: Call) -> str | None:
    """The `iss` of the posted assertion, unverified: used to match faults before any checking."""
    claims = _decode_claims(_form(call).get("assertion", ""))
    issuer = claims.get("iss") if claims else None
    return issuer if isinstance(issuer, str) else None


def handle_token_request(call: Call, store: CredentialStore, token_uri: str) -> TokenOutcome:
    form = _form(call)
    if form.get("grant_type") != JWT_BEARER_GRANT:
        return TokenOutcome(oauth_error(400, "unsupported_grant_type", "Invalid grant_type."), None)
    assertion = form.get("assertion", "")
    claims = _decode_claims(assertion)
    if claims is None:
        return TokenOutcome(oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion."), None)
    email = claims.get("iss")
    if not isinstance(email, str) or not email:
        return TokenOutcome(oauth_error(400, "invalid_grant", "Invalid JWT: missing iss."), None)
    problem = _claims_problem(claims, token_uri) or _signature_problem(assertion, email, store)
    if problem is not None:
        return TokenOutcome(oauth_error(400, "invalid_grant", problem), email)
    token = store.issue_token(email)
    body = {"access_token": token, "expires_in": TOKEN_LIFETIME_SECONDS, "token_type": "Bearer"}
    return TokenOutcome(json_reply(200, body), email)


def _claims_problem(claims: dict[str, Any], token_uri: str) -> str | None:
    now = time.time()
    if claims.get("aud") not in {token_uri, GOOGLE_TOKEN_AUDIENCE}:
        return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (bad aud)."
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        return "Invalid JWT: missing iat or exp."
    if exp < now - CLOCK_SKEW_SECONDS or iat > now + CLOCK_SKEW_SECONDS or exp - iat > 3600:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    if CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split():
        return f"Invalid JWT: scope must include {CLOUD_PLATFORM_SCOPE}."
    return None


def _signature_problem(assertion: str, email: str, store: CredentialStore) -> str | None:
    if not store.strict:
        return None if store.lenient_identity_ok(email) else "Invalid grant: account not found"
    public_key = store.service_account_key(email)
    if public_key is None:
        return "Invalid grant: account not found"
    header_b64, payload_b64, signature_b64 = assertion.split(".")
    header = json.loads(_b64decode(header_b64))
    if header.get("alg") != "RS256":
        return "Invalid JWT Signature."
    try:
        public_key.verify(
            _b64decode(signature_b64),
            f"{header_b64}.{payload_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return "Invalid JWT Signature."
    return None


def _form(call: Call) -> dict[str, str]:
    parsed = parse_qs(call.raw_body.decode("utf-8", errors="replace"))
    return {name: values[0] for name, values in parsed.items()}


def _decode_claims(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(header, dict) and isinstance(claims, dict) else None


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
