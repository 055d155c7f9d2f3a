"""``make dev``: the whole API on http://127.0.0.1:${PORT:-3000}, with no AWS account and no provider account.

It starts moto's server (the tables and KMS key of template.yaml) and the provider simulator, seeds
shared-capacity credentials for every provider and a dev customer with credits, then serves the real handlers
behind the local API Gateway. Every port but the API's is picked free, so two stacks never collide.
``UPSTREAM_*`` variables already in the environment win over the simulator's: they send that provider's model
traffic elsewhere, while the simulator keeps serving the dev service account's token endpoint (allowed through
DEV_GOOGLE_TOKEN_URIS).

The running stack is described in ``.devstack/state.json`` (or ``$DEVSTACK_STATE``) for ``make admin``.
Runs in the foreground; SIGTERM or SIGINT stops everything it started and exits 0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.handlers import REPO_ROOT, ensure_layer_importable

REGION = "us-east-1"
STAGE = "dev"
DEV_CREDITS = Decimal("100")
DEFAULT_PORT = 3000
DEFAULT_STATE_PATH = REPO_ROOT / ".devstack" / "state.json"
STATE_ENV = "DEVSTACK_STATE"
# Dummy credentials: nothing the dev stack does may reach a real AWS account.
AWS_DEV_ENV = {
    "AWS_ACCESS_KEY_ID": "dev",
    "AWS_SECRET_ACCESS_KEY": "dev",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_AWS_ENV_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


class DevStackError(Exception):
    """A reason the dev stack cannot start, written for the developer."""


@dataclass(frozen=True)
class DevState:
    """What ``make admin`` needs to reach a running dev stack."""

    pid: int
    api_url: str
    aws_endpoint_url: str
    region: str
    accounts_table: str
    logs_table: str
    kms_key_arn: str
    simulator_url: str
    routing_table: str = ""
    responses_bucket: str = ""

    @classmethod
    def read(cls, path: Path) -> DevState:
        """The state at ``path``; a field a newer stack added may be missing from an older stack's file."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def state_path(port: int) -> Path:
    """``$DEVSTACK_STATE``, else .devstack/state.json, or a per-port file when a live stack owns that one."""
    configured = os.environ.get(STATE_ENV)
    if configured:
        return Path(configured)
    if DEFAULT_STATE_PATH.exists():
        try:
            owner = DevState.read(DEFAULT_STATE_PATH).pid
        except (OSError, ValueError, KeyError, TypeError):
            owner = None
        if owner is not None and owner != os.getpid() and pid_alive(owner):
            return DEFAULT_STATE_PATH.with_name(f"state-{port}.json")
    return DEFAULT_STATE_PATH


def resolve_intrinsic(value: Any, parameters: Mapping[str, str], resources: Mapping[str, str]) -> str:
    """A template environment value for this stack: parameters take their defaults, resources their names."""
    if isinstance(value, dict) and "Ref" in value:
        name = str(value["Ref"])
        if name in parameters:
            return parameters[name]
        if name in resources:
            return resources[name]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        attribute = ".".join(str(part) for part in value["Fn::GetAtt"])
        if attribute in resources:
            return resources[attribute]
    if isinstance(value, dict):
        raise DevStackError(f"template.yaml: cannot resolve {value!r} for the dev stack")
    return str(value)


def function_env(
    stack_env: Mapping[str, str],
    simulator_env: Mapping[str, str],
    token_uri: str,
    outer: Mapping[str, str],
    functions: Iterable[str] | None = None,
) -> dict[str, str]:
    """The environment every function (or each of ``functions``, by logical id) gets in the dev stack.

    The template's Globals and per-function variables (parameters at their defaults), the stack's names, the
    simulator's UPSTREAM_* unless ``outer`` (the developer's environment) already sets one, and the
    developer's GOOGLE_TOKEN_URI_ALLOWLIST when set; the simulator's token endpoint is always allowed too.
    """
    from local.template import function_environment, load_template, parameter_defaults, routes

    template = load_template()
    parameters = {**parameter_defaults(template), "Stage": STAGE}
    resources = {
        "AccountsTable": stack_env["ACCOUNTS_TABLE"],
        "LogsTable": stack_env["LOGS_TABLE"],
        "RoutingTable": stack_env["ROUTING_TABLE"],
        "GatewayKey.Arn": stack_env["KMS_KEY_ARN"],
        "ResponsesBucket": stack_env.get("RESPONSES_BUCKET", ""),
    }
    env: dict[str, str] = {}
    for function in sorted(functions if functions is not None else {route.function for route in routes(template)}):
        for name, value in function_environment(template, function).items():
            env[name] = resolve_intrinsic(value, parameters, resources)
    env.update(stack_env)
    for name, value in simulator_env.items():
        if name.startswith("UPSTREAM_"):
            env[name] = outer.get(name) or value
    env["GOOGLE_TOKEN_URI_ALLOWLIST"] = outer.get("GOOGLE_TOKEN_URI_ALLOWLIST", "")
    env["DEV_GOOGLE_TOKEN_URIS"] = token_uri
    return env


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _api_port() -> int:
    raw = os.environ.get("PORT") or str(DEFAULT_PORT)
    try:
        port = int(raw)
    except ValueError:
        raise DevStackError(f"PORT must be a port number, got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise DevStackError(f"PORT must be between 1 and 65535, got {port}")
    return port


class DevStack:
    """Everything ``make dev`` starts, stopped in reverse order by ``stop``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.state_file: Path | None = None
        self.api_key = ""
        self._stops: list[Callable[[], None]] = []

    def start(self) -> DevState:
        if not _port_free("127.0.0.1", self.port):
            raise DevStackError(f"port {self.port} is in use; set PORT to another port")
        outer = dict(os.environ)
        aws_endpoint = self._start_moto()
        ensure_layer_importable()
        from local.apiserver import ApiServer
        from local.provision import provision
        from local.seed import seed_platform
        from local.simulator import ProviderSimulator

        stack = provision(stage=STAGE, region=REGION)
        simulator = ProviderSimulator(strict=False).start("127.0.0.1", 0)
        self._stops.append(simulator.stop)
        os.environ.update(function_env(stack.environment(), simulator.upstream_env(), simulator.token_uri, outer))
        seed_platform(simulator)
        self._start_stream_consumers(stack)
        self.api_key = self._create_dev_customer(outer.get("DEV_API_KEY") or None)
        server = ApiServer(host="127.0.0.1", port=self.port).start()
        self._stops.append(server.stop)
        state = DevState(
            pid=os.getpid(),
            api_url=server.url,
            aws_endpoint_url=aws_endpoint,
            region=REGION,
            accounts_table=stack.accounts_table,
            logs_table=stack.logs_table,
            kms_key_arn=stack.kms_key_arn,
            simulator_url=simulator.url,
            routing_table=stack.routing_table,
            responses_bucket=stack.responses_bucket,
        )
        self.state_file = state_path(self.port)
        state.write(self.state_file)
        return state

    def _start_stream_consumers(self, stack: Any) -> None:
        """The template's DynamoDB stream consumers (UsageFunction), polled the way Lambda would."""
        from local.streams import StreamPoller
        from local.template import load_template, stream_consumers

        for consumer in stream_consumers(load_template()):
            poller = StreamPoller(consumer, stack.table_name(consumer.table)).start()
            self._stops.append(poller.stop)

    def _start_moto(self) -> str:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS call
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stops.append(moto.stop)
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n in _AWS_ENV_CLEARED]:
            del os.environ[name]
        os.environ.update({**AWS_DEV_ENV, "AWS_ENDPOINT_URL": endpoint})
        return endpoint

    @staticmethod
    def _create_dev_customer(api_key: str | None) -> str:
        from gateway.apis import admin

        try:
            _, key = admin.create_account("dev customer", DEV_CREDITS, api_key=api_key)
        except ValueError:
            raise DevStackError("DEV_API_KEY must look like gwk_<16 hex>_<secret>") from None
        return key

    def stop(self) -> None:
        while self._stops:
            with contextlib.suppress(Exception):
                self._stops.pop()()
        if self.state_file is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if DevState.read(self.state_file).pid == os.getpid():
                    self.state_file.unlink()


def banner(state: DevState, api_key: str, state_file: Path) -> str:
    curl = (
        f"curl -s {state.api_url}/v1/chat/completions -H {shlex.quote('Authorization: Bearer ' + api_key)} "
        "-H 'Content-Type: application/json' "
        """-d '{"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "Hello"}]}'"""
    )
    admin_hint = 'make admin ARGS="list-accounts"'
    if state_file != DEFAULT_STATE_PATH:
        admin_hint = f"{STATE_ENV}={shlex.quote(str(state_file))} {admin_hint}"
    return "\n".join(
        [
            f"byok-gateway dev stack on {state.api_url}",
            f"  AWS (moto):         {state.aws_endpoint_url}",
            f"  provider simulator: {state.simulator_url}",
            f"  state:              {state_file}",
            "",
            f"DEV_API_KEY={api_key}",
            f"API_URL={state.api_url}",
            "",
            "Try:",
            f"  {curl}",
            f"  {admin_hint}",
            "",
            "Ctrl-C stops it.",
        ]
    )


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> int:
    with _stop_signals() as stopping:
        try:
            port = _api_port()
        except DevStackError as exc:
            print(f"make dev: {exc}", file=sys.stderr)
            return 2
        stack = DevStack(port)
        try:
            state = stack.start()
        except DevStackError as exc:
            stack.stop()
            print(f"make dev: {exc}", file=sys.stderr)
            return 2
        except BaseException:
            stack.stop()
            raise
        try:
            assert stack.state_file is not None
            print(banner(state, stack.api_key, stack.state_file), flush=True)
            stopping.wait()
        finally:
            stack.stop()
    print("byok-gateway dev stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
