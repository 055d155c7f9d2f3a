"""The credential formats a customer may submit for a provider: one pydantic model each.

A model validates what a customer sends and gives the JSON schema ``GET /v1/byok/providers`` serves
(``openapi.yaml`` is checked against the same schemas). Secrets are ``SecretStr`` from the moment they are
parsed; validation messages name the field and the rule, never the value. Regions and token URIs are checked
against strict patterns and an allowlist so a stored credential can never steer traffic to another host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    RootModel,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from gateway.core.errors import Unprocessable
from gateway.core.settings import get_settings
from gateway.security.credentials import (
    ApiKeyCredentials,
    AwsCredentials,
    ParsedCredentials,
    ServiceAccountCredentials,
)

# ASCII classes only ([0-9], never \d, which matches other scripts' digits) and anchored: pydantic checks these
# with the Rust regex engine, where $ is the end of the text (a trailing newline does not pass).
AWS_REGION_PATTERN = r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$"
VERTEX_REGION_PATTERN = r"^(?:global|[a-z]+-[a-z]+[0-9]{1,2})$"
API_KEY_PATTERN = r"^[A-Za-z0-9_\-.:+/=~]+$"
ACCESS_KEY_ID_PATTERN = r"^(?:AKIA|ASIA)[A-Z0-9]{16}$"
SECRET_ACCESS_KEY_PATTERN = r"^[A-Za-z0-9/+=]{40}$"  # noqa: S105 - a pattern, not a secret
SESSION_TOKEN_PATTERN = r"^[A-Za-z0-9/+=]{16,4096}$"  # noqa: S105 - a pattern, not a secret
PROJECT_ID_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
SA_EMAIL_PATTERN = r"^[a-z0-9][a-z0-9.\-_]{0,99}@[a-z0-9][a-z0-9.\-]{0,99}\.gserviceaccount\.com$"
HEX_PATTERN = r"^[0-9a-f]{1,64}$"
DIGITS_PATTERN = r"^[0-9]+$"
GOOGLE_URL_PATTERN = r"^https://(?:[a-z0-9.-]+\.)?(?:googleapis|google)\.com(?:/[A-Za-z0-9_.~%@/\-]*)?$"
# An unknown field name short and plain enough to echo in an error (a typo of a real one); anything longer
# may be a key pasted in the wrong place.
FIELD_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,23}$", re.ASCII)

DEFAULT_BEDROCK_REGION = "us-east-1"
DEFAULT_VERTEX_REGION = "global"
REQUIRED_STRING = "is required and must be a string"


@dataclass(frozen=True)
class RegionRule:
    """Where a provider's requests go: a region that must look like one, so no value can name another host."""

    default: str
    pattern: str
    example: str
    rule: str


REGIONS = {
    "amazon-bedrock": RegionRule(
        "us-east-1", AWS_REGION_PATTERN, "us-east-1", "is not an AWS region (for example us-east-1)"
    ),
    "google-vertex": RegionRule(
        "global",
        VERTEX_REGION_PATTERN,
        "us-central1",
        "is not a Google Cloud region (for example us-central1 or global)",
    ),
}


@dataclass(frozen=True)
class Rule:
    """What a credential field's 422 says when its value is refused: ``credentials.<field> <text>``."""

    text: str


@dataclass(frozen=True)
class SecretPattern:
    """A secret's pattern (pydantic's ``pattern`` applies to plain strings only): checked on the value and
    written into the JSON schema."""

    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        compiled = re.compile(self.pattern, re.ASCII)

        def check(value: SecretStr) -> SecretStr:
            if not compiled.fullmatch(value.get_secret_value()):
                raise PydanticCustomError("string_pattern_mismatch", "does not match the pattern")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        return {**handler(schema), "pattern": self.pattern}


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _allowed_token_uri(token_uri: str) -> str:
    if token_uri not in get_settings().token_uri_allowlist:
        raise PydanticCustomError("token_uri_not_allowed", "is not an allowed Google token endpoint")
    return token_uri


def _token_uri_enum(schema: dict[str, Any]) -> None:
    """The served schema lists this deployment's allowlist (openapi.yaml cannot: it is configuration)."""
    schema["enum"] = sorted(get_settings().token_uri_allowlist)


def _pem_marker(value: SecretStr) -> SecretStr:
    if "PRIVATE KEY" not in value.get_secret_value():
        raise PydanticCustomError("not_pem", "is not a PEM key")
    return value


def _private_key_error(rule: str) -> PydanticCustomError:
    return PydanticCustomError("credential_rule", rule, {"field": "private_key"})


def _merge_region(inner: str | None, outer: str | None, default: str) -> str:
    if inner is not None and outer is not None and inner != outer:
        raise Unprocessable("region and credentials.region disagree", param="region")
    return inner or outer or default


AwsRegion = Annotated[str, StringConstraints(pattern=AWS_REGION_PATTERN)]
VertexRegion = Annotated[str, StringConstraints(pattern=VERTEX_REGION_PATTERN)]
GoogleUrl = Annotated[str, StringConstraints(pattern=GOOGLE_URL_PATTERN)]
HexId = Annotated[str, StringConstraints(pattern=HEX_PATTERN)]
Digits = Annotated[str, StringConstraints(pattern=DIGITS_PATTERN)]
TokenUri = Annotated[
    str,
    AfterValidator(_allowed_token_uri),
    Field(description="One of this deployment's allowed Google token endpoints.", json_schema_extra=_token_uri_enum),
]
PemKey = Annotated[SecretStr, AfterValidator(_pem_marker), Field(description="unencrypted PEM RSA private key")]

# --- what a customer submits: one model per format ---------------------------------------------------------


class ApiKey(RootModel[SecretStr]):
    """The provider's API key, as a string."""

    model_config = ConfigDict(strict=True, frozen=True, hide_input_in_errors=True)
    root: Annotated[
        SecretStr, BeforeValidator(_strip), Field(min_length=8, max_length=512), SecretPattern(API_KEY_PATTERN)
    ]
    kind: ClassVar[str] = "api_key"
    default_region: ClassVar[str | None] = None

    def parsed(self, region: str | None) -> ParsedCredentials:
        key = self.root.get_secret_value()
        hint = "****" + key[-4:] if len(key) >= 12 else "****"
        credentials = ApiKeyCredentials(api_key=self.root)
        return ParsedCredentials(credentials=credentials, region=region or self.default_region, hint=hint)


class BedrockApiKey(ApiKey):
    """An Amazon Bedrock API key, as a string."""

    root: Annotated[
        SecretStr, BeforeValidator(_strip), Field(min_length=8, max_length=4096), SecretPattern(API_KEY_PATTERN)
    ]
    default_region: ClassVar[str | None] = DEFAULT_BEDROCK_REGION


class _ObjectSubmission(BaseModel):
    """A format sent as a JSON object (or the same as a string); each field's ``Rule`` words its 422 message."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)
    kind: ClassVar[str]

    @classmethod
    def rule(cls, alias: str) -> tuple[str, bool]:
        """What the field sent as ``alias`` must be, and whether it is required."""
        for name, info in cls.model_fields.items():
            if (info.alias or name) == alias:
                return next(m.text for m in info.metadata if isinstance(m, Rule)), info.is_required()
        raise KeyError(alias)

    def parsed(self, region: str | None) -> ParsedCredentials:
        raise NotImplementedError


class AwsAccessKeys(_ObjectSubmission):
    """AWS access keys allowed to call bedrock:Converse, as an object or a JSON string; requests are SigV4-signed."""

    kind = "aws_credentials"

    access_key_id: Annotated[
        str, StringConstraints(pattern=ACCESS_KEY_ID_PATTERN), Rule("is not an AWS access key id")
    ] = Field(alias="accessKeyId")
    secret_access_key: Annotated[
        SecretStr, SecretPattern(SECRET_ACCESS_KEY_PATTERN), Rule("is not an AWS secret access key")
    ] = Field(alias="secretAccessKey")
    session_token: Annotated[
        Annotated[SecretStr, SecretPattern(SESSION_TOKEN_PATTERN)] | None, Rule("is not an AWS session token")
    ] = Field(None, alias="sessionToken")
    region: Annotated[AwsRegion | None, Rule(REGIONS["amazon-bedrock"].rule)] = Field(
        None, description=f"defaults to {DEFAULT_BEDROCK_REGION}"
    )

    def parsed(self, region: str | None) -> ParsedCredentials:
        credentials = AwsCredentials(**self.model_dump(include=set(AwsCredentials.model_fields)))
        resolved = _merge_region(self.region, region, DEFAULT_BEDROCK_REGION)
        key_id = self.access_key_id
        return ParsedCredentials(credentials=credentials, region=resolved, hint=f"{key_id[:4]}****{key_id[-4:]}")


class ServiceAccountKey(_ObjectSubmission):
    """A Google Cloud service-account key, as an object or a JSON string, optionally with a region field."""

    kind = "service_account"

    # In the order they are checked: the region before the (slow) RSA key parse, so hostile input is cheap.
    type: Annotated[Literal["service_account"], Rule('must be "service_account"')]
    project_id: Annotated[str, StringConstraints(pattern=PROJECT_ID_PATTERN), Rule("is not a Google Cloud project id")]
    client_email: Annotated[str, StringConstraints(pattern=SA_EMAIL_PATTERN), Rule("is not a service-account email")]
    token_uri: Annotated[TokenUri, Rule("is not an allowed Google token endpoint")]
    region: Annotated[VertexRegion | None, Rule(REGIONS["google-vertex"].rule)] = Field(
        None, description=f"defaults to {DEFAULT_VERTEX_REGION}"
    )
    private_key: Annotated[PemKey, Rule("must be a PEM private key")]
    private_key_id: Annotated[HexId | None, Rule("must be hexadecimal")] = None
    client_id: Annotated[Digits | None, Rule("must be numeric")] = None
    auth_uri: Annotated[GoogleUrl | None, Rule("must be a Google https URL")] = None
    auth_provider_x509_cert_url: Annotated[GoogleUrl | None, Rule("must be a Google https URL")] = None
    client_x509_cert_url: Annotated[GoogleUrl | None, Rule("must be a Google https URL")] = None
    universe_domain: Annotated[Literal["googleapis.com"], Rule('must be "googleapis.com"')] = "googleapis.com"

    @model_validator(mode="after")
    def _rsa_key(self) -> ServiceAccountKey:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(self.private_key.get_secret_value().encode(), password=None)
        except (ValueError, TypeError):
            raise _private_key_error("is not a parseable unencrypted PEM key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise _private_key_error("must be an RSA key")
        return self

    def parsed(self, region: str | None) -> ParsedCredentials:
        credentials = ServiceAccountCredentials(**self.model_dump(include=set(ServiceAccountCredentials.model_fields)))
        local, _, domain = self.client_email.partition("@")
        resolved = _merge_region(self.region, region, DEFAULT_VERTEX_REGION)
        return ParsedCredentials(credentials=credentials, region=resolved, hint=f"{local[:2]}****@{domain}")


Submission = type[ApiKey] | type[_ObjectSubmission]
FORMATS: dict[str, tuple[Submission, ...]] = {
    "amazon-bedrock": (BedrockApiKey, AwsAccessKeys),
    "google-vertex": (ServiceAccountKey,),
}


def formats(provider: str) -> tuple[Submission, ...]:
    return FORMATS.get(provider, (ApiKey,))


def describe_formats(provider: str) -> list[dict[str, Any]]:
    """The formats ``provider`` takes, each with its model's JSON schema (what ``GET /v1/byok/providers`` serves)."""
    return [
        {
            "type": model.kind,
            "description": " ".join((model.__doc__ or "").split()),
            "schema": model.model_json_schema(),
        }
        for model in formats(provider)
    ]


# --- validation ---------------------------------------------------------------------------------------------


def _invalid(message: str, field: str = "credentials") -> Unprocessable:
    return Unprocessable(message, param=field)


def _unknown_fields(names: list[str]) -> Unprocessable:
    """422 naming unknown fields, but only names that look like identifiers: a secret pasted as a field name
    (``{"sk-live-...": ""}``) must not come back in the answer."""
    shown = sorted(name for name in names if FIELD_NAME_RE.fullmatch(name))
    hidden = len(names) - len(shown)
    parts = shown + ([f"{hidden} more not shown (not a short field name)"] if hidden else [])
    return _invalid(f"unknown field(s) in credentials: {', '.join(parts)}")


def _object_rejection(model: type[_ObjectSubmission], errors: list[ErrorDetails]) -> Unprocessable:
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return _unknown_fields(unknown)
    error = errors[0]
    if error["type"] == "credential_rule":
        field, rule = str(error.get("ctx", {})["field"]), error["msg"]
    else:
        field = str(error["loc"][0])
        rule, required = model.rule(field)
        # A rule of the form "must be ..." already says what to send; the others are about a string's content.
        if error["type"] in ("missing", "string_type") and not rule.startswith("must be"):
            rule = REQUIRED_STRING if required else "must be a string"
    return _invalid(f"credentials.{field} {rule}", f"credentials.{field}")


def _api_key_rejection(provider: str, model: type[ApiKey], error: ErrorDetails) -> Unprocessable:
    if error["type"] in ("string_too_short", "string_too_long", "too_short", "too_long"):
        limit = model.model_json_schema()["maxLength"]
        return _invalid(f"credentials must be an API key of 8 to {limit} characters")
    if error["type"] == "string_pattern_mismatch":
        return _invalid("credentials contain characters an API key cannot have")
    return _invalid(f"credentials for {provider} must be an API key string")


def _maybe_json(raw: Any) -> Any:
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            return json.loads(raw)
        except ValueError:
            raise _invalid("credentials look like JSON but do not parse") from None
    return raw


def _submission(provider: str, raw: Any) -> ApiKey | _ObjectSubmission:
    is_object = isinstance(raw, dict)
    candidates = [m for m in formats(provider) if issubclass(m, _ObjectSubmission) == is_object]
    if not candidates:
        if provider == "google-vertex":
            raise _invalid("credentials for google-vertex must be a service-account JSON object")
        raise _invalid(f"credentials for {provider} must be an API key string")
    (model,) = candidates
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if issubclass(model, _ObjectSubmission):
            raise _object_rejection(model, errors) from None
        raise _api_key_rejection(provider, model, errors[0]) from None


def validate_region(provider: str, region: Any, field: str = "region") -> str:
    if not isinstance(region, str):
        raise _invalid(f"{field} must be a string", field)
    rule = REGIONS[provider]
    if not re.fullmatch(rule.pattern, region):
        raise _invalid(f"{field} {rule.rule}", field)
    return region


def validate_token_uri(token_uri: str) -> str:
    if token_uri not in get_settings().token_uri_allowlist:
        raise _invalid("credentials.token_uri is not an allowed Google token endpoint", "credentials.token_uri")
    return token_uri


def parse_credentials(provider: str, raw: Any, region: str | None = None) -> ParsedCredentials:
    """Validate what a customer submitted for ``provider``; raise ``Unprocessable`` naming the field."""
    if region is not None:
        if provider not in REGIONS:
            raise _invalid(f"region is not used by {provider}", "region")
        validate_region(provider, region)
    return _submission(provider, _maybe_json(raw)).parsed(region)
