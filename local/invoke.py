"""``make invoke FN=<FunctionLogicalId> EVENT=events/<file>.json``: one function on one event, as Lambda runs it.

The function runs under AWS's Runtime Interface Emulator, the ``aws-lambda-rie`` binary that ships inside the
``aws-sam-cli`` package (``make emulator`` installs it into .cache/samcli-venv), with no Docker:

- this project's interpreter (python3.13 when the machine has one) runs AWS's Python runtime interface client
  (``awslambdaric``, installed into .cache/lambda-runtime, which plays /var/runtime); the function's directory
  is the working directory and first on the path, as /var/task is, and the layer directory is on the path where
  Lambda mounts the layer (/opt/python);
- the handler, timeout, memory and environment come from template.yaml, with the dev stack's table names, moto's
  endpoint and the provider simulator's addresses; an exec wrapper the template sets (``AWS_LAMBDA_EXEC_WRAPPER:
  /opt/python/lambda-stream``) is taken from the layer directory and started the way the managed runtime starts
  it, with the interpreter and the runtime client's arguments;
- it uses the dev stack ``make dev`` is running (its .devstack state file, or ``$DEVSTACK_STATE``), or starts one
  in this process for the one invocation.

It prints the function's answer on stdout: the proxy result of a buffered function; for a streamed one, the JSON
prelude on its own line, then the body, as the emulator returns them (the emulator collects a streamed answer
before it returns it). The function's logs and the emulator's go to stderr. The events carry a placeholder key;
it is replaced by ``$DEV_API_KEY``, or by the key of the dev customer of a stack started here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.handlers import LAYER_DIR, REPO_ROOT

CACHE_DIR = REPO_ROOT / ".cache"
SAM_CLI_VENV = CACHE_DIR / "samcli-venv"
LAMBDA_RUNTIME_DIR = CACHE_DIR / "lambda-runtime"
INVOCATIONS_PATH = "/2015-03-31/functions/function/invocations"
# Where Lambda mounts a layer built with BuildMethod python3.x: the layer directory's own files.
LAYER_MOUNT = "/opt/python/"
PLACEHOLDER_AUTHORIZATION = "Bearer gwk_0000000000000000_example"
DELIMITER = b"\x00" * 8
STREAMING_TRANSFER_MODE = "RESPONSE_STREAM"
# The managed runtime's bootstrap hands its start command to the exec wrapper when one is set.
_RUNTIME_BOOTSTRAP = 'exec ${AWS_LAMBDA_EXEC_WRAPPER:+"$AWS_LAMBDA_EXEC_WRAPPER"} "$@"'
# The emulator's binaries are named by Go's architecture names.
_EMULATOR_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
# What a Lambda execution environment inherits from outside: nothing of the developer's shell but these.
_INHERITED = ("PATH", "HOME", "LANG", "TMPDIR")


class InvokeError(Exception):
    """A reason the function cannot be run, written for the developer."""


def emulator_binary() -> Path:
    """The Runtime Interface Emulator for this machine's architecture, from the installed aws-sam-cli package."""
    machine = platform.machine().lower()
    architecture = _EMULATOR_ARCHITECTURES.get(machine)
    if architecture is None:
        raise InvokeError(f"AWS's Runtime Interface Emulator has no build for {machine}")
    found = sorted(SAM_CLI_VENV.glob(f"lib/python*/site-packages/samcli/local/rapid/aws-lambda-rie-{architecture}"))
    if not found or not (LAMBDA_RUNTIME_DIR / "awslambdaric").is_dir():
        raise InvokeError("AWS's Runtime Interface Emulator is not installed; run `make emulator`")
    return found[-1]


# ---------------------------------------------------------------------------- the function, from the template


@dataclass(frozen=True)
class StackAddresses:
    """Where a running dev stack's AWS (moto) and provider simulator are, and its resources' names."""

    aws_endpoint_url: str
    region: str
    accounts_table: str
    logs_table: str
    routing_table: str
    kms_key_arn: str
    simulator_url: str
    responses_bucket: str = ""


@dataclass(frozen=True)
class LambdaFunction:
    """One AWS::Serverless::Function as the emulator runs it."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    exec_wrapper: Path | None
    streamed: bool

    def bootstrap(self) -> list[str]:
        """The runtime's start command: AWS's runtime client under the interpreter, started through
        ``$AWS_LAMBDA_EXEC_WRAPPER`` when it is set, as the managed runtime's bootstrap starts it."""
        return ["/bin/sh", "-c", _RUNTIME_BOOTSTRAP, "bootstrap", sys.executable, "-m", "awslambdaric", self.handler]

    def process_environment(self) -> dict[str, str]:
        """What the emulator passes on to the runtime: the function's environment and its exec wrapper."""
        wrapper = {"AWS_LAMBDA_EXEC_WRAPPER": str(self.exec_wrapper)} if self.exec_wrapper else {}
        return {**self.environment, **wrapper}


def lambda_function(logical_id: str, stack: StackAddresses) -> LambdaFunction:
    """``logical_id`` of template.yaml, its environment resolved against ``stack``."""
    from local.devstack import AWS_DEV_ENV, STAGE, function_env, resolve_intrinsic
    from local.simulator.server import token_uri, upstream_env
    from local.template import load_template, parameter_defaults

    template = load_template()
    functions = {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    if logical_id not in functions:
        raise InvokeError(f"{logical_id} is not a function of template.yaml; expected one of {sorted(functions)}")
    properties = functions[logical_id].get("Properties", {})
    defaults = template.get("Globals", {}).get("Function", {})
    parameters = {**parameter_defaults(template), "Stage": STAGE}

    def setting(name: str) -> str:
        return resolve_intrinsic(properties.get(name, defaults.get(name)), parameters, {})

    stack_env = {
        "ACCOUNTS_TABLE": stack.accounts_table,
        "LOGS_TABLE": stack.logs_table,
        "ROUTING_TABLE": stack.routing_table,
        "KMS_KEY_ARN": stack.kms_key_arn,
        "RESPONSES_BUCKET": stack.responses_bucket,
    }
    simulator_env = upstream_env(stack.simulator_url)
    environment = function_env(
        stack_env, simulator_env, token_uri(stack.simulator_url), os.environ, functions=[logical_id]
    )
    wrapper = environment.pop("AWS_LAMBDA_EXEC_WRAPPER", None)
    code_dir = (REPO_ROOT / setting("CodeUri")).resolve()
    handler = setting("Handler")
    timeout_s, memory_mb = int(setting("Timeout")), int(setting("MemorySize"))
    environment.update(
        {
            **AWS_DEV_ENV,
            "AWS_REGION": stack.region,
            "AWS_DEFAULT_REGION": stack.region,
            "AWS_ENDPOINT_URL": stack.aws_endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{logical_id}",
            "AWS_LAMBDA_FUNCTION_HANDLER": handler,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            # /opt/python before /var/runtime, as in Lambda's Python runtimes; the function's directory comes
            # first as the working directory of ``python -m``.
            "PYTHONPATH": f"{LAYER_DIR}:{LAMBDA_RUNTIME_DIR}",
        }
    )
    return LambdaFunction(
        logical_id=logical_id,
        code_dir=code_dir,
        handler=handler,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        environment=environment,
        exec_wrapper=_layer_file(wrapper) if wrapper else None,
        streamed=response_streamed(properties),
    )


def _layer_file(path: str) -> Path:
    if not path.startswith(LAYER_MOUNT):
        raise InvokeError(f"AWS_LAMBDA_EXEC_WRAPPER {path!r} is not in the layer ({LAYER_MOUNT})")
    return LAYER_DIR / path.removeprefix(LAYER_MOUNT)


def response_streamed(properties: Mapping[str, Any]) -> bool:
    """Whether API Gateway streams this function's answer (an Api event with ResponseTransferMode RESPONSE_STREAM).

    Any other value than SAM's two is refused: SAM would quietly buffer on a misspelt mode.
    """
    modes = {
        event.get("Properties", {}).get("ResponseTransferMode", "BUFFERED")
        for event in properties.get("Events", {}).values()
        if event.get("Type") == "Api"
    }
    unknown = modes - {"BUFFERED", STREAMING_TRANSFER_MODE}
    if unknown:
        raise InvokeError(f"ResponseTransferMode {sorted(unknown)}: expected BUFFERED or {STREAMING_TRANSFER_MODE}")
    return STREAMING_TRANSFER_MODE in modes


# ---------------------------------------------------------------------------- the emulator


@dataclass(frozen=True)
class EmulatorAnswer:
    """What the emulator answered one invocation: the function's payload, or its error document."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def integration_response(self) -> tuple[dict[str, Any], bytes]:
        """A streamed answer's prelude and body (API Gateway's HTTP integration response format)."""
        prelude, delimiter, body = self.body.partition(DELIMITER)
        if not delimiter:
            raise ValueError(f"no prelude delimiter in the answer: {self.body[:200]!r}")
        parsed = json.loads(prelude)
        if not isinstance(parsed, dict):
            raise ValueError("the prelude is not a JSON object")
        return parsed, body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Emulator:
    """One function under AWS's Runtime Interface Emulator: the runtime starts on the first invocation and
    stays warm for the next ones, as a Lambda execution environment does."""

    def __init__(self, function: LambdaFunction, log_path: Path | None = None) -> None:
        """``log_path``: where the emulator's and the function's output go (default: this process's stderr)."""
        self.function = function
        self.invoke_address = ("127.0.0.1", free_port())
        self.runtime_api_address = f"127.0.0.1:{free_port()}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, runtime_api: str | None = None) -> Emulator:
        """Start the emulator; ``runtime_api`` points the runtime at another address (a relay) instead of the
        emulator's own Runtime API, which still listens at ``runtime_api_address``."""
        host, port = self.invoke_address
        command = [
            str(emulator_binary()),
            "--log-level",
            "error",
            "--runtime-interface-emulator-address",
            f"{host}:{port}",
            "--runtime-api-address",
            self.runtime_api_address,
            *(["env", f"AWS_LAMBDA_RUNTIME_API={runtime_api}"] if runtime_api else []),
            *self.function.bootstrap(),
        ]
        environment = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        with contextlib.ExitStack() as files:
            log = files.enter_context(self._log_path.open("ab")) if self._log_path else sys.stderr
            self._process = subprocess.Popen(
                command,
                cwd=self.function.code_dir,
                env={**environment, **self.function.process_environment()},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the emulator and the runtime it starts stop together
            )
        return self

    def invoke(self, event: Mapping[str, Any], timeout_s: float | None = None) -> EmulatorAnswer:
        connection = self._connect(timeout_s or self.function.timeout_s + 30)
        try:
            connection.request(
                "POST", INVOCATIONS_PATH, body=json.dumps(event), headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            return EmulatorAnswer(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=response.read(),
            )
        finally:
            connection.close()

    def _connect(self, timeout_s: float) -> http.client.HTTPConnection:
        """A connection to the emulator's invoke API, once it listens (it takes a moment to start)."""
        for _ in range(200):
            if self._process is not None and self._process.poll() is not None:
                raise InvokeError(f"the emulator exited with status {self._process.returncode}")
            connection = http.client.HTTPConnection(*self.invoke_address, timeout=timeout_s)
            try:
                connection.connect()
            except ConnectionRefusedError:
                time.sleep(0.05)
                continue
            return connection
        raise InvokeError("the emulator did not start listening within 10 s")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------- the dev stack


def with_api_key(event: dict[str, Any], api_key: str | None) -> dict[str, Any]:
    """``event`` with the placeholder key of events/ replaced by ``api_key`` (when there is one)."""
    headers = event.get("headers") or {}
    if not api_key or headers.get("Authorization") != PLACEHOLDER_AUTHORIZATION:
        return event
    authorization = f"Bearer {api_key}"
    multi = event.get("multiValueHeaders") or {}
    return {
        **event,
        "headers": {**headers, "Authorization": authorization},
        "multiValueHeaders": {**multi, "Authorization": [authorization]},
    }


def running_stack() -> StackAddresses | None:
    """The stack ``make dev`` is running, from its state file, if its process is alive."""
    from local.devstack import DEFAULT_STATE_PATH, STATE_ENV, DevState, pid_alive

    path = Path(os.environ.get(STATE_ENV) or DEFAULT_STATE_PATH)
    try:
        state = DevState.read(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(state.pid):
        return None
    if not state.routing_table:
        raise InvokeError(f"the dev stack of {path} predates `make invoke`; restart `make dev`")
    return _addresses(state)


def _addresses(state: Any) -> StackAddresses:
    """The addresses of a ``DevState``."""
    return StackAddresses(**{name: getattr(state, name) for name in StackAddresses.__dataclass_fields__})


@contextlib.contextmanager
def dev_stack() -> Iterator[tuple[StackAddresses, str | None]]:
    """The running dev stack and ``$DEV_API_KEY``, or a stack started here and its dev customer's key."""
    running = running_stack()
    if running is not None:
        yield running, os.environ.get("DEV_API_KEY") or None
        return
    from local.devstack import DevStack

    print("make invoke: no dev stack is running; starting one for this invocation", file=sys.stderr)
    stack = DevStack(port=0)
    try:
        state = stack.start()
        yield _addresses(state), stack.api_key
    finally:
        stack.stop()


def print_answer(function: LambdaFunction, answer: EmulatorAnswer, out: IO[str]) -> None:
    if function.streamed and answer.status == 200 and DELIMITER in answer.body:
        prelude, body = answer.integration_response()
        out.write(json.dumps(prelude) + "\n")
        out.write(body.decode("utf-8", "replace"))
    else:
        out.write(answer.body.decode("utf-8", "replace"))
    out.write("\n")
    out.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make invoke FN=<FunctionLogicalId> EVENT=events/<file>.json", file=sys.stderr)
        return 2
    logical_id, event_path = argv
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        emulator_binary()
        with dev_stack() as (stack, api_key):
            function = lambda_function(logical_id, stack)
            if api_key is None and (event.get("headers") or {}).get("Authorization") == PLACEHOLDER_AUTHORIZATION:
                print("make invoke: set DEV_API_KEY to the dev stack's key, or the answer is a 401", file=sys.stderr)
            with Emulator(function).start() as emulator:
                answer = emulator.invoke(with_api_key(event, api_key))
    except (OSError, ValueError, InvokeError) as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 2
    print_answer(function, answer, sys.stdout)
    return 0 if answer.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
