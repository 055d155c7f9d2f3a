"""Shared-capacity credentials for every provider, registered with the simulator (dev stack and tests)."""

from __future__ import annotations

import functools
from typing import Any

from gateway.apis import admin
from local.simulator import ProviderSimulator, make_service_account

PLATFORM_API_KEYS = {
    "openai": "sk-platform-openai-0000000000000001",
    "deepseek": "sk-platform-deepseek-000000000001",
    "anthropic": "sk-ant-platform-0000000000000001",
    "google-ai-studio": "AIzaPlatformGoogleAiStudio000001",
}
PLATFORM_AWS = {
    "accessKeyId": "AKIAPLATFORM00000001",
    "secretAccessKey": "platformSecretAccessKey00000000000000001",
}
PLATFORM_PROJECT = "byok-platform-dev"


@functools.cache
def _service_account(token_uri: str) -> dict[str, Any]:
    """One RSA key per token endpoint and process: generating one costs ~0.1 s, and every test seeds."""
    return make_service_account(
        PLATFORM_PROJECT, token_uri, client_email=f"gateway@{PLATFORM_PROJECT}.iam.gserviceaccount.com"
    )


def platform_credentials(sim: ProviderSimulator) -> dict[str, tuple[Any, str | None]]:
    """provider -> (credentials, region) for the shared capacity, each accepted by ``sim``."""
    service_account = dict(_service_account(sim.token_uri))
    creds: dict[str, tuple[Any, str | None]] = {p: (k, None) for p, k in PLATFORM_API_KEYS.items()}
    creds["amazon-bedrock"] = (dict(PLATFORM_AWS), "us-east-1")
    creds["google-vertex"] = (service_account, "global")
    return creds


def seed_platform(sim: ProviderSimulator) -> None:
    for provider, (credentials, region) in platform_credentials(sim).items():
        if provider == "amazon-bedrock":
            sim.accept_aws(credentials["accessKeyId"], credentials["secretAccessKey"])
        elif provider == "google-vertex":
            sim.accept_service_account(credentials)
        else:
            sim.accept_api_key(provider, credentials)
        admin.set_platform_key(provider, credentials, region)
