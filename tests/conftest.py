"""Shared fixtures: moto-backed AWS, the provider simulator, a provisioned gateway and its HTTP API.

Given the ``gateway`` fixture, a test has: tables and a KMS key created from template.yaml inside moto,
shared-capacity credentials for every provider accepted by the simulator, and one customer with credits.
The ``api`` fixture serves the real handlers over HTTP on 127.0.0.1 the way ``make dev`` does, so tests can use
the official openai SDK.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from moto import mock_aws

from local.simulator import ProviderSimulator

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def reset_process_state() -> None:
    """Forget every per-process cache the layer keeps (settings, clients, decrypted keys, tokens)."""
    import importlib

    from gateway.core import aws, settings
    from gateway.data import api_keys
    from gateway.routing import signals
    from gateway.security import credential_cache, crypto, data_keys

    settings.get_settings.cache_clear()
    api_keys.clear_auth_cache()
    aws.reset()
    crypto.reset()
    data_keys.reset()
    credential_cache.clear()
    signals.reset()
    try:
        oauth = importlib.import_module("gateway.providers.google_oauth")
    except ImportError:
        return
    reset = getattr(oauth, "reset", None)
    if reset is not None:
        reset()


def forget_routing_signals() -> None:
    """Start from a world where nothing has failed or been measured yet: this process forgets what it saw
    and the routing table is emptied (for fixtures that share one stack between tests)."""
    import boto3

    from gateway.core.settings import get_settings
    from gateway.routing import signals

    signals.reset()
    table = boto3.resource("dynamodb").Table(get_settings().routing_table)
    for item in table.scan(ProjectionExpression="pk, sk")["Items"]:
        table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})


class CurrentStdout:
    """Whatever ``sys.stdout`` is when written to: Powertools' Logger bound the stdout of import time, and
    capsys swaps it between test phases."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def stdout_lines(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A reader of everything printed to stdout as parsed JSON: Powertools log lines and EMF blobs alike."""
    from gateway.core.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    return read


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Change the functions' environment mid-test (settings are parsed once per process, as in Lambda)."""
    from gateway.core import settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.get_settings.cache_clear()


@pytest.fixture(scope="session")
def sim() -> Iterator[ProviderSimulator]:
    simulator = ProviderSimulator(strict=True).start()
    yield simulator
    simulator.stop()


SETTLE_S = 10.0  # what a test's parked upstream calls get to finish in once released


@pytest.fixture(autouse=True)
def settled_simulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used a provider simulator (the worker's, or a module's own ``sim``), none of its
    calls is left in flight and nothing it armed survives: a call parked in a timeout fault, or still being
    answered when the test ended, would otherwise be answered and recorded during the next test on the worker,
    breaking its ``sim.requests`` assertions. Costs nothing when no call is in flight."""
    if "sim" not in request.fixturenames:
        yield
        return
    simulator: ProviderSimulator = request.getfixturevalue("sim")
    yield
    simulator.clear_faults()  # a call arriving now is answered at once
    simulator.clear_pacing()
    settled = simulator.settle(SETTLE_S)
    simulator.clear_requests()
    if not settled:
        pytest.fail(f"{simulator.in_flight} simulator call(s) still in flight {SETTLE_S:g} s after the test")


@contextlib.contextmanager
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE",):
            monkeypatch.delenv(name)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        reset_process_state()
        yield
    reset_process_state()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mocked_aws(monkeypatch):
        yield


@dataclass
class Customer:
    account_id: str
    api_key: str


@dataclass
class Gateway:
    sim: ProviderSimulator
    env: dict[str, str]
    customer: Customer
    others: list[Customer] = field(default_factory=list)

    @property
    def api_key(self) -> str:
        return self.customer.api_key

    def create_customer(self, name: str = "other", credits: str = "10") -> Customer:
        from gateway.apis import admin

        account, api_key = admin.create_account(name, Decimal(credits))
        customer = Customer(account.account_id, api_key)
        self.others.append(customer)
        return customer


@pytest.fixture
def gateway(aws_env: None, sim: ProviderSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    with provisioned_gateway(sim, monkeypatch) as provisioned:
        yield provisioned


@contextlib.contextmanager
def provisioned_gateway(sim: ProviderSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """Tables and KMS from template.yaml (inside an active moto), platform credentials, one customer."""
    from local.provision import provision
    from local.seed import seed_platform

    stack = provision(stage="test")
    env = {
        **stack.environment(),
        **sim.upstream_env(),
        "STAGE": "test",
        "REQUEST_DEADLINE_MS": "8000",
        "KEY_TEST_TIMEOUT_MS": "3000",
        "POWERTOOLS_METRICS_NAMESPACE": "ByokGateway",
        "POWERTOOLS_SERVICE_NAME": "byok-gateway",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    sim.clear_faults()
    sim.clear_pacing()
    sim.clear_requests()
    seed_platform(sim)
    from gateway.apis import admin

    account, api_key = admin.create_account("test customer", Decimal("10"))
    yield Gateway(sim=sim, env=env, customer=Customer(account.account_id, api_key))
    sim.clear_faults()
    sim.clear_pacing()


@pytest.fixture
def api(gateway: Gateway) -> Iterator[Any]:
    """The HTTP API on 127.0.0.1 (same handlers, events built like API Gateway's), like ``make dev``."""
    from local.apiserver import ApiServer

    server = ApiServer(host="127.0.0.1", port=0).start()
    yield server
    server.stop()


@pytest.fixture
def usage_stream(gateway: Gateway) -> Iterator[Any]:
    """The logs table's stream consumer (UsageFunction) as Lambda would run it; ``.flush()`` delivers what is
    written so far, so a test synchronises with it instead of waiting."""
    from local.streams import StreamPoller
    from local.template import load_template, stream_consumers

    (consumer,) = [c for c in stream_consumers(load_template()) if c.table == "LogsTable"]
    poller = StreamPoller(consumer, gateway.env["LOGS_TABLE"]).start(background=False)
    yield poller
    poller.stop()


@pytest.fixture
def openai_client(api: Any, gateway: Gateway) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=20)


@pytest.fixture
def serialized_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB's own atomicity for moto: each request (a conditional write, a transaction) is evaluated and
    applied as one step. moto handles concurrent requests in parallel Python threads with no lock (it checks a
    condition and applies the write in separate steps, and copies items while others change them), so without
    this a race test would measure moto instead of the gateway."""
    import functools
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def serialized(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--dist loadgroup`` (``make test``) with ``xdist_group`` marks: pytest-xdist 3.8 tells the scheduler a
    test's group by suffixing its nodeid with ``@group`` through the ``_nodeid`` attribute, which pytest 9.2 no
    longer reads (pytest-dev/pytest-xdist#1386), so no group was kept on one worker. The same suffix, set where
    pytest 9.2 keeps the nodeid; nothing to do once pytest-xdist sets it itself."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(groups))
        if groups and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """After a run that included the client-compatibility suite (tests/clients): each client's version, as
    installed, so a report says what it ran against."""
    reports = [r for reports in terminalreporter.stats.values() for r in reports if hasattr(r, "nodeid")]
    if not any(r.nodeid.startswith("tests/clients/") for r in reports):
        return
    from tests.clients.installed import versions

    terminalreporter.write_line("clients: " + ", ".join(f"{name} {version}" for name, version in versions().items()))
