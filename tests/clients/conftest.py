"""One dev stack (moto, tables, simulator, the HTTP API on 127.0.0.1) per test module for the client tests:
real clients reach it over HTTP exactly as they would reach ``make dev``'s stack."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local.simulator import ProviderSimulator
from tests.clients import installed
from tests.conftest import Gateway, mocked_aws, provisioned_gateway
from tests.integration.helpers import add_key, byok_credentials

CLAUDE_HOSTS = ("anthropic", "amazon-bedrock", "google-vertex")
KEY_REGIONS = {"amazon-bedrock": "us-east-1", "google-vertex": "us-east5"}


@dataclass
class Stack:
    gateway: Gateway
    url: str

    @property
    def api_key(self) -> str:
        return self.gateway.api_key

    @property
    def sim(self) -> ProviderSimulator:
        return self.gateway.sim

    def customer_served_by(self, provider: str) -> str:
        """A new customer whose BYOK key for ``provider`` is tried first for every model it serves: how a
        client that cannot send ``provider.order`` (Claude Code) reaches one Claude host. Its gateway key."""
        customer = self.gateway.create_customer(f"served by {provider}")
        region = KEY_REGIONS.get(provider)
        add_key(
            self.url,
            customer.api_key,
            provider,
            byok_credentials(self.sim, provider),
            **({"region": region} if region else {}),
        )
        return customer.api_key


@pytest.fixture(scope="module")
def stack(sim: ProviderSimulator) -> Iterator[Stack]:
    """Module-scoped, not session-scoped: it holds moto's in-process mock and the process's settings, which
    another module's tests on the same xdist worker provision afresh; pytest tears a module fixture down
    before the worker runs another module's test, so the two never overlap."""
    from local.apiserver import ApiServer

    with pytest.MonkeyPatch.context() as patch, mocked_aws(patch), provisioned_gateway(sim, patch) as provisioned:
        server = ApiServer(host="127.0.0.1", port=0).start()
        yield Stack(provisioned, server.url)
        server.stop()


@pytest.fixture
def dev(stack: Stack) -> Stack:
    stack.sim.clear_requests()
    stack.sim.clear_faults()
    return stack


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return installed.node_clients()


@dataclass
class Outbound:
    """A proxy that refuses every connection and remembers where each one wanted to go: a client given it as
    ``HTTPS_PROXY`` (with ``NO_PROXY`` for 127.0.0.1) shows whether it tried to reach the internet."""

    url: str
    attempts: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def outbound() -> Iterator[Outbound]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    recorder = Outbound(f"http://127.0.0.1:{listener.getsockname()[1]}")

    def refuse() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    first = connection.recv(1024).split(b"\r\n", 1)[0].decode(errors="replace")
                except OSError:
                    first = "?"
                recorder.attempts.append(first)
                connection.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

    threading.Thread(target=refuse, daemon=True).start()
    yield recorder
    listener.close()
