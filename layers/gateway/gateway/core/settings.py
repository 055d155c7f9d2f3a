"""Process configuration, parsed once from the environment into a typed model."""

from __future__ import annotations

import functools
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_UPSTREAMS = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com",
    "anthropic": "https://api.anthropic.com/v1",
    "google-ai-studio": "https://generativelanguage.googleapis.com/v1beta",
    "amazon-bedrock": "https://bedrock-runtime.{region}.amazonaws.com",
    "google-vertex": "https://{region}-aiplatform.googleapis.com/v1",
}
VERTEX_GLOBAL_URL = "https://aiplatform.googleapis.com/v1"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret

_UPSTREAM_ENV = {
    "openai": "UPSTREAM_OPENAI_URL",
    "deepseek": "UPSTREAM_DEEPSEEK_URL",
    "anthropic": "UPSTREAM_ANTHROPIC_URL",
    "google-ai-studio": "UPSTREAM_GOOGLE_AI_STUDIO_URL",
    "amazon-bedrock": "UPSTREAM_AMAZON_BEDROCK_URL",
    "google-vertex": "UPSTREAM_GOOGLE_VERTEX_URL",
}


class Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    stage: str = Field("dev", alias="STAGE")
    accounts_table: str = Field("byok-gateway-accounts", alias="ACCOUNTS_TABLE")
    logs_table: str = Field("byok-gateway-logs", alias="LOGS_TABLE")
    routing_table: str = Field("byok-gateway-routing", alias="ROUTING_TABLE")
    kms_key_arn: str = Field("", alias="KMS_KEY_ARN")
    log_ttl_days: int = Field(30, alias="LOG_TTL_DAYS", ge=1)
    # Write shards of one account's request log (request_log): its writes spread over this many partitions, and a
    # page of GET /v1/logs queries each. 1 is the unsharded key; raise it, never lower it, while records live.
    log_shards: int = Field(8, alias="LOG_SHARDS", ge=1, le=32)
    request_deadline_ms: int = Field(600_000, alias="REQUEST_DEADLINE_MS", ge=1_000)  # the template's default
    # The Lambda timeout of the function serving the request (the template sets it; Lambda's maximum when
    # unset): a credit hold expires only after it, so it is never swept while its request can still run.
    function_timeout_s: int = Field(900, alias="FUNCTION_TIMEOUT_S", ge=1, le=900)
    # Credit leases (``gateway.billing.leases``): the block, in nano-USD, an instance takes off an account's balance
    # (and its request's budgets) with one write and lends its shared attempts' holds from. 0 = a conditional write
    # per shared attempt (per-request holds); a request whose hold exceeds the block takes a per-request hold.
    credit_lease_nanos: int = Field(0, alias="CREDIT_LEASE_NANOS", ge=0)
    # Optional cap on one attempt (0 = none: each attempt gets what is left of the request deadline). A cap keeps
    # time for fallbacks when an upstream hangs, at the price of cutting off very long generations.
    attempt_timeout_ms: int = Field(0, alias="ATTEMPT_TIMEOUT_MS", ge=0)
    # Default for provider.first_byte_timeout_ms: an attempt without the first byte of its answer (a stream: its
    # first delta) by then is abandoned and the plan moves on (0 = none).
    attempt_first_byte_timeout_ms: int = Field(0, alias="ATTEMPT_FIRST_BYTE_TIMEOUT_MS", ge=0)
    # The lowest provider.first_byte_timeout_ms a request may set (lower is a 400): a request cannot cut the
    # operator's upstreams off before they could answer.
    min_first_byte_timeout_ms: int = Field(2000, alias="MIN_FIRST_BYTE_TIMEOUT_MS", ge=1)
    # A committed stream whose upstream is silent this long gets an SSE comment, so proxies keep it open.
    stream_keepalive_ms: int = Field(15_000, alias="STREAM_KEEPALIVE_MS", ge=1)
    # How long a failure (429, 5xx, timeout, connection error) of a shared provider for a model, or of a BYOK
    # key without the upstream's retry-after, counts against it in routing.
    health_window_s: int = Field(30, alias="HEALTH_WINDOW_S", ge=1, le=3600)
    key_test_timeout_ms: int = Field(10_000, alias="KEY_TEST_TIMEOUT_MS", ge=500)
    max_body_bytes: int = Field(4 * 1024 * 1024, alias="MAX_BODY_BYTES", ge=1024)
    credential_cache_ttl_s: int = Field(300, alias="CREDENTIAL_CACHE_TTL_S", ge=0)
    # How long a process remembers a gateway key it has proven (by hash), to skip its GetItem on warm requests.
    # Revocation is not delayed by it: every request's account Query rechecks the key's revoked flag.
    auth_cache_ttl_s: int = Field(300, alias="AUTH_CACHE_TTL_S", ge=0)
    # How long (ms) an instance reuses an account's snapshot (keys, balance, BYOK keys) for model requests, while the
    # account's epoch (``gateway.data.account_epoch``) has not moved: every write that authentication or routing
    # trusts moves it. 0 = no reuse: one Query of the account's partition per request.
    account_cache_ms: int = Field(0, alias="ACCOUNT_CACHE_MS", ge=0, le=60_000)
    # Replicas of an account's epoch, each in its own partition: a request reads one at random, so one account's
    # requests spread their epoch reads over this many partitions. Change it only with ACCOUNT_CACHE_MS at 0
    # (instances of the old and new value must not share a deployment while snapshots are reused).
    account_epoch_replicas: int = Field(4, alias="ACCOUNT_EPOCH_REPLICAS", ge=1, le=32)
    # BYOK keys one customer may hold; a create beyond it is 409 key_limit_reached.
    max_keys_per_account: int = Field(50, alias="MAX_KEYS_PER_ACCOUNT", ge=1, le=10_000)
    # Gateway API keys one account may hold; a create beyond it is 409 api_key_limit_reached.
    max_api_keys_per_account: int = Field(100, alias="MAX_API_KEYS_PER_ACCOUNT", ge=1, le=10_000)
    # Upstream attempts one request may make, across every model and provider: the plan is cut there.
    max_attempts: int = Field(10, alias="MAX_ATTEMPTS", ge=1, le=100)
    # Extra token endpoints the dev stack's own shared-capacity service account may use (never set in AWS).
    dev_token_uris: str = Field("", alias="DEV_GOOGLE_TOKEN_URIS")
    token_uri_allowlist_raw: str = Field("", alias="GOOGLE_TOKEN_URI_ALLOWLIST")
    # Stored responses of /v1/responses: kept (encrypted, in this bucket) for the TTL, or nothing kept at all.
    responses_store: Literal["on", "off"] = Field("on", alias="RESPONSES_STORE")
    responses_ttl_days: int = Field(30, alias="RESPONSES_TTL_DAYS", ge=1, le=3650)
    responses_bucket: str = Field("byok-gateway-responses", alias="RESPONSES_BUCKET")
    upstream_openai: str = Field("", alias="UPSTREAM_OPENAI_URL")
    upstream_deepseek: str = Field("", alias="UPSTREAM_DEEPSEEK_URL")
    upstream_anthropic: str = Field("", alias="UPSTREAM_ANTHROPIC_URL")
    upstream_google_ai_studio: str = Field("", alias="UPSTREAM_GOOGLE_AI_STUDIO_URL")
    upstream_amazon_bedrock: str = Field("", alias="UPSTREAM_AMAZON_BEDROCK_URL")
    upstream_google_vertex: str = Field("", alias="UPSTREAM_GOOGLE_VERTEX_URL")

    @field_validator(
        "upstream_openai",
        "upstream_deepseek",
        "upstream_anthropic",
        "upstream_google_ai_studio",
        "upstream_amazon_bedrock",
        "upstream_google_vertex",
    )
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @property
    def token_uri_allowlist(self) -> frozenset[str]:
        listed = [u.strip() for u in self.token_uri_allowlist_raw.split(",") if u.strip()]
        dev = [u.strip() for u in self.dev_token_uris.split(",") if u.strip()]
        return frozenset((listed or [DEFAULT_TOKEN_URI]) + dev)

    def upstream_override(self, provider: str) -> str:
        """The operator's base URL for ``provider`` or "" to use the provider's real host."""
        field = _UPSTREAM_ENV[provider].removeprefix("UPSTREAM_").removesuffix("_URL").lower()
        return str(getattr(self, f"upstream_{field}"))


@functools.cache
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
