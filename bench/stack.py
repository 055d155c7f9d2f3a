"""The benchmark's stack: simulator and AWS emulation in their own processes, tables, KMS key, customers.

The parent process provisions everything through the same code ``make dev`` uses, then hands each measured
child process an environment that points the handlers at it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = REPO_ROOT / "layers" / "gateway"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
BYOK_KEYS = {"openai": "sk-bench-byok-openai-000000000001", "anthropic": "sk-ant-bench-byok-000000000001"}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


@dataclass
class Server:
    process: subprocess.Popen[str]
    info: dict[str, Any]

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(kind: str) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.servers", kind],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError(f"the {kind} server did not start")
    return Server(process, json.loads(line))


@dataclass
class Customer:
    account_id: str
    api_key: str
    key_ids: dict[str, str] = field(default_factory=dict)  # provider -> BYOK key id


@dataclass
class BenchStack:
    sim: Server
    aws: Server
    env: dict[str, str]  # what every measured process gets
    byok: Customer  # has BYOK keys (openai, anthropic) and credits
    shared: Customer  # no keys, credits: served by shared capacity

    @property
    def sim_url(self) -> str:
        return str(self.sim.info["url"])

    def stop(self) -> None:
        self.sim.stop()
        self.aws.stop()


def _powertools_env() -> dict[str, str]:
    """The literal Powertools settings the template gives every function (log level INFO, names)."""
    from local.template import function_environment, load_template

    variables = function_environment(load_template(), "ChatFunction")
    return {k: v for k, v in variables.items() if k.startswith("POWERTOOLS_") and isinstance(v, str)}


def _add_byok_key(account_id: str, provider: str, secret: str) -> str:
    from gateway.core.ids import new_key_id
    from gateway.core.settings import get_settings
    from gateway.data import accounts, byok_keys
    from gateway.security import crypto
    from gateway.security.credential_formats import parse_credentials
    from gateway.security.credentials import to_plaintext

    parsed = parse_credentials(provider, secret)
    key_id = new_key_id()
    now = accounts.now_iso()
    byok_keys.put_key(
        byok_keys.StoredKey(
            account_id=account_id,
            key_id=key_id,
            provider=provider,
            name=f"bench {provider}",
            region=parsed.region,
            hint=parsed.hint,
            created_at=now,
            updated_at=now,
            ciphertext=crypto.encrypt(
                to_plaintext(parsed.credentials), crypto.encryption_context(account_id, key_id, provider)
            ),
        ),
        limit=get_settings().max_keys_per_account,
        current_count=0,
    )
    return key_id


def _seed_platform(token_uri: str) -> None:
    from gateway.apis import admin
    from local.seed import PLATFORM_API_KEYS, PLATFORM_AWS, PLATFORM_PROJECT
    from local.simulator import make_service_account

    for provider, api_key in PLATFORM_API_KEYS.items():
        admin.set_platform_key(provider, api_key)
    admin.set_platform_key("amazon-bedrock", dict(PLATFORM_AWS), "us-east-1")
    account = make_service_account(PLATFORM_PROJECT, token_uri)
    admin.set_platform_key("google-vertex", account, "global")


def start_stack() -> BenchStack:
    sim = start_server("sim")
    aws = start_server("aws")
    try:
        os.environ.update({**FAKE_AWS, "AWS_ENDPOINT_URL": aws.info["url"], **sim.info["env"]})
        sys.path[:0] = [p for p in (str(LAYER_DIR),) if p not in sys.path]
        from gateway.apis import admin
        from gateway.core import settings
        from local.provision import provision

        stack_env = provision(stage="bench").environment()
        os.environ.update(stack_env)
        settings.get_settings.cache_clear()
        _seed_platform(sim.info["token_uri"])
        byok_account, byok_api_key = admin.create_account("bench byok", Decimal(1000))
        byok = Customer(byok_account.account_id, byok_api_key)
        for provider, secret in BYOK_KEYS.items():
            byok.key_ids[provider] = _add_byok_key(byok.account_id, provider, secret)
        shared_account, shared_api_key = admin.create_account("bench shared", Decimal(1000))
        env = {
            **FAKE_AWS,
            "AWS_ENDPOINT_URL": aws.info["url"],
            **sim.info["env"],
            **stack_env,
            "STAGE": "bench",
            **_powertools_env(),
        }
        return BenchStack(sim, aws, env, byok, Customer(shared_account.account_id, shared_api_key))
    except BaseException:
        sim.stop()
        aws.stop()
        raise


def child_env(stack_env: dict[str, str]) -> dict[str, str]:
    """A measured process's environment: this one's minus anything AWS- or Python-path-related, plus the stack."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "UPSTREAM_", "POWERTOOLS_", "PYTHON")) and k not in stack_env
    }
    return {**keep, **stack_env}
