"""Provider credentials: validation of what a customer submits, and the typed form the adapters use.

Secrets are ``SecretStr`` from the moment they are parsed. Validation messages name the field and the rule,
never the value. Nothing here interpolates a stored value into a URL: regions and token URIs are checked
against strict patterns and an allowlist so a stored credential can never steer traffic to another host.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from gateway.core.errors import Unprocessable
from gateway.core.settings import get_settings

# re.ASCII: without it \d also matches other scripts' digits ("us-east-\u0661" would pass as a region).
AWS_REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$", re.ASCII)
GCP_REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d{1,2}$", re.ASCII)
API_KEY_RE = re.compile(r"^[A-Za-z0-9_\-.:+/=~]+$", re.ASCII)
ACCESS_KEY_ID_RE = re.compile(r"^(?:AKIA|ASIA)[A-Z0-9]{16}$", re.ASCII)
SECRET_ACCESS_KEY_RE = re.compile(r"^[A-Za-z0-9/+=]{40}$", re.ASCII)
SESSION_TOKEN_RE = re.compile(r"^[A-Za-z0-9/+=]{16,4096}$", re.ASCII)
PROJECT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", re.ASCII)
SA_EMAIL_RE = re.compile(r"^[a-z0-9][a-z0-9.\-_]{0,99}@[a-z0-9][a-z0-9.\-]{0,99}\.gserviceaccount\.com$", re.ASCII)
HEX_RE = re.compile(r"^[0-9a-f]{1,64}$", re.ASCII)
# An unknown field name short and plain enough to echo in an error (a typo of a real one); anything longer
# may be a key pasted in the wrong place.
FIELD_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,23}$", re.ASCII)
GOOGLE_INFO_URL_RE = re.compile(
    r"^https://(?:[a-z0-9.-]+\.)?(?:googleapis|google)\.com(?:/[A-Za-z0-9_.~%@/\-]*)?$", re.ASCII
)

DEFAULT_BEDROCK_REGION = "us-east-1"
DEFAULT_VERTEX_REGION = "global"
API_KEY_MAX = {"amazon-bedrock": 4096}
API_KEY_MAX_DEFAULT = 512

SERVICE_ACCOUNT_FIELDS = {
    "type",
    "project_id",
    "private_key_id",
    "private_key",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
    "region",
}
AWS_FIELDS = {"accessKeyId", "secretAccessKey", "sessionToken", "region"}


class ApiKeyCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["api_key"] = "api_key"
    api_key: SecretStr


class AwsCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["aws"] = "aws"
    access_key_id: str
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


class ServiceAccountCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["service_account"] = "service_account"
    project_id: str
    client_email: str
    private_key: SecretStr
    private_key_id: str | None = None
    client_id: str | None = None
    token_uri: str

    def google_info(self) -> dict[str, Any]:
        """The service-account dict google-auth expects (contains the private key: never log it)."""
        info: dict[str, Any] = {
            "type": "service_account",
            "project_id": self.project_id,
            "client_email": self.client_email,
            "private_key": self.private_key.get_secret_value(),
            "token_uri": self.token_uri,
        }
        if self.private_key_id:
            info["private_key_id"] = self.private_key_id
        if self.client_id:
            info["client_id"] = self.client_id
        return info


Credentials = Annotated[ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials, Field(discriminator="kind")]


class _Envelope(BaseModel):
    credentials: Credentials


class ParsedCredentials(BaseModel):
    """What a create/rotate request yields: the secret part, the routing region and the display hint."""

    model_config = ConfigDict(frozen=True)
    credentials: Credentials
    region: str | None
    hint: str


def _invalid(message: str, field: str = "credentials") -> Unprocessable:
    return Unprocessable(message, param=field)


def _reject_unknown_fields(obj: dict[str, Any], known: set[str]) -> None:
    """422 naming unknown fields, but only names that look like identifiers: a secret pasted as a field name
    (``{"sk-live-...": ""}``) must not come back in the answer."""
    unknown = set(obj) - known
    if not unknown:
        return
    shown = sorted(name for name in unknown if isinstance(name, str) and FIELD_NAME_RE.fullmatch(name))
    hidden = len(unknown) - len(shown)
    parts = shown + ([f"{hidden} more not shown (not a short field name)"] if hidden else [])
    raise _invalid(f"unknown field(s) in credentials: {', '.join(parts)}", "credentials")


def validate_region(provider: str, region: str, field: str = "region") -> str:
    if not isinstance(region, str):
        raise _invalid(f"{field} must be a string", field)
    if provider == "amazon-bedrock" and not AWS_REGION_RE.fullmatch(region):
        raise _invalid(f"{field} is not an AWS region (for example us-east-1)", field)
    if provider == "google-vertex" and region != DEFAULT_VERTEX_REGION and not GCP_REGION_RE.fullmatch(region):
        raise _invalid(f"{field} is not a Google Cloud region (for example us-central1 or global)", field)
    return region


def validate_token_uri(token_uri: str) -> str:
    if token_uri not in get_settings().token_uri_allowlist:
        raise _invalid("credentials.token_uri is not an allowed Google token endpoint", "credentials.token_uri")
    return token_uri


def _mask_tail(value: str) -> str:
    return "****" + value[-4:] if len(value) >= 12 else "****"


def _parse_api_key(provider: str, raw: Any) -> ApiKeyCredentials:
    if not isinstance(raw, str):
        raise _invalid(f"credentials for {provider} must be an API key string")
    key = raw.strip()
    limit = API_KEY_MAX.get(provider, API_KEY_MAX_DEFAULT)
    if not 8 <= len(key) <= limit:
        raise _invalid(f"credentials must be an API key of 8 to {limit} characters")
    if not API_KEY_RE.fullmatch(key):
        raise _invalid("credentials contain characters an API key cannot have")
    return ApiKeyCredentials(api_key=SecretStr(key))


def _maybe_json(raw: Any) -> Any:
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            return json.loads(raw)
        except ValueError:
            raise _invalid("credentials look like JSON but do not parse") from None
    return raw


def _require_str(obj: dict[str, Any], name: str, pattern: re.Pattern[str], rule: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"credentials.{name} is required and must be a string", f"credentials.{name}")
    if not pattern.fullmatch(value):
        raise _invalid(f"credentials.{name} {rule}", f"credentials.{name}")
    return value


def _merge_region(provider: str, inner: Any, outer: str | None, default: str) -> str:
    if inner is not None and outer is not None and inner != outer:
        raise _invalid("region and credentials.region disagree", "region")
    if inner is not None:
        return validate_region(provider, inner, "credentials.region")
    if outer is not None:
        return validate_region(provider, outer)
    return default


def _parse_aws(obj: dict[str, Any], region: str | None) -> ParsedCredentials:
    _reject_unknown_fields(obj, AWS_FIELDS)
    access_key_id = _require_str(obj, "accessKeyId", ACCESS_KEY_ID_RE, "is not an AWS access key id")
    secret = _require_str(obj, "secretAccessKey", SECRET_ACCESS_KEY_RE, "is not an AWS secret access key")
    token = obj.get("sessionToken")
    if token is not None:
        _require_str(obj, "sessionToken", SESSION_TOKEN_RE, "is not an AWS session token")
    creds = AwsCredentials(
        access_key_id=access_key_id,
        secret_access_key=SecretStr(secret),
        session_token=SecretStr(token) if token else None,
    )
    resolved = _merge_region("amazon-bedrock", obj.get("region"), region, DEFAULT_BEDROCK_REGION)
    return ParsedCredentials(credentials=creds, region=resolved, hint=f"{access_key_id[:4]}****{access_key_id[-4:]}")


def _parse_private_key(pem: Any) -> str:
    if not isinstance(pem, str) or "PRIVATE KEY" not in pem:
        raise _invalid("credentials.private_key must be a PEM private key", "credentials.private_key")
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise _invalid(
            "credentials.private_key is not a parseable unencrypted PEM key", "credentials.private_key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _invalid("credentials.private_key must be an RSA key", "credentials.private_key")
    return pem


def _parse_service_account(obj: dict[str, Any], region: str | None) -> ParsedCredentials:
    _reject_unknown_fields(obj, SERVICE_ACCOUNT_FIELDS)
    if obj.get("type") != "service_account":
        raise _invalid('credentials.type must be "service_account"', "credentials.type")
    project_id = _require_str(obj, "project_id", PROJECT_ID_RE, "is not a Google Cloud project id")
    email = _require_str(obj, "client_email", SA_EMAIL_RE, "is not a service-account email")
    token_uri = obj.get("token_uri")
    if not isinstance(token_uri, str):
        raise _invalid("credentials.token_uri is required and must be a string", "credentials.token_uri")
    validate_token_uri(token_uri)
    # Before the (slow) RSA key check, so hostile regions cost the gateway nothing.
    resolved = _merge_region("google-vertex", obj.get("region"), region, DEFAULT_VERTEX_REGION)
    private_key = _parse_private_key(obj.get("private_key"))
    private_key_id = obj.get("private_key_id")
    if private_key_id is not None and (not isinstance(private_key_id, str) or not HEX_RE.fullmatch(private_key_id)):
        raise _invalid("credentials.private_key_id must be hexadecimal", "credentials.private_key_id")
    client_id = obj.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not (client_id.isascii() and client_id.isdigit())):
        raise _invalid("credentials.client_id must be numeric", "credentials.client_id")
    for name in ("auth_uri", "auth_provider_x509_cert_url", "client_x509_cert_url"):
        value = obj.get(name)
        if value is not None and (not isinstance(value, str) or not GOOGLE_INFO_URL_RE.fullmatch(value)):
            raise _invalid(f"credentials.{name} must be a Google https URL", f"credentials.{name}")
    if obj.get("universe_domain", "googleapis.com") != "googleapis.com":
        raise _invalid('credentials.universe_domain must be "googleapis.com"', "credentials.universe_domain")
    creds = ServiceAccountCredentials(
        project_id=project_id,
        client_email=email,
        private_key=SecretStr(private_key),
        private_key_id=private_key_id,
        client_id=client_id,
        token_uri=token_uri,
    )
    local, _, domain = email.partition("@")
    return ParsedCredentials(credentials=creds, region=resolved, hint=f"{local[:2]}****@{domain}")


def parse_credentials(provider: str, raw: Any, region: str | None = None) -> ParsedCredentials:
    """Validate what a customer submitted for ``provider``; raise ``Unprocessable`` naming the field."""
    if region is not None:
        if provider not in ("amazon-bedrock", "google-vertex"):
            raise _invalid(f"region is not used by {provider}", "region")
        validate_region(provider, region)
    raw = _maybe_json(raw)
    if provider == "amazon-bedrock":
        if isinstance(raw, dict):
            return _parse_aws(raw, region)
        api_key = _parse_api_key(provider, raw)
        resolved = region or DEFAULT_BEDROCK_REGION
        return ParsedCredentials(
            credentials=api_key, region=resolved, hint=_mask_tail(api_key.api_key.get_secret_value())
        )
    if provider == "google-vertex":
        if not isinstance(raw, dict):
            raise _invalid("credentials for google-vertex must be a service-account JSON object")
        return _parse_service_account(raw, region)
    if isinstance(raw, dict):
        raise _invalid(f"credentials for {provider} must be an API key string")
    api_key = _parse_api_key(provider, raw)
    return ParsedCredentials(credentials=api_key, region=None, hint=_mask_tail(api_key.api_key.get_secret_value()))


def to_plaintext(credentials: ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials) -> bytes:
    """Serialise for encryption (the only place secrets are revealed, straight into the encryptor)."""
    data = credentials.model_dump()
    for name, value in list(data.items()):
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    return json.dumps(data, separators=(",", ":")).encode()


def from_plaintext(plaintext: bytes) -> ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials:
    return _Envelope.model_validate({"credentials": json.loads(plaintext)}).credentials
