"""What a model route's cold start imports: only what its requests need (issue 24, "cold start back down").

Each case imports one function's handler in a fresh interpreter, as the Lambda runtime loads it (the function
directory and the layer on ``sys.path``, ``import app``), and lists the heavy or unrelated modules it pulled in.
A module named here is either paid by the first request that needs it (google-auth for a Vertex token, a
provider's wire format) or never needed by that route (another API's code). A first BYOK request, served in a
fresh interpreter against the bench's stack, needs neither the AWS Encryption SDK nor ``cryptography``: a
credential is one KMS ``Decrypt`` away (``security.crypto``). No function imports Powertools' event handler: it
imports every resolver it has (~100 modules); the functions route with ``gateway.http.router``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Needed by some requests only: imported by the request that needs them.
ON_FIRST_USE = (
    "aws_encryption_sdk",  # a credential the Encryption SDK stored before issue 24 (and its attrs classes)
    "cryptography",  # the same, and a credential above KMS's 4,096 bytes
    "google.auth",  # a Vertex service account's token
    "gateway.providers.google_oauth",
    "gateway.providers.gemini",
    "gateway.providers.bedrock",
    "gateway.billing.hourly_usage",
)
OTHER_APIS = ("gateway.apis.responses", "gateway.apis.embeddings", "gateway.apis.byok", "gateway.apis.api_keys")
CASES = {
    "chat": (*ON_FIRST_USE, *OTHER_APIS, "gateway.apis.messages", "gateway.providers.anthropic"),
    "messages": (*ON_FIRST_USE, *OTHER_APIS, "gateway.providers.openai_compat"),
}


# Every function served through gateway.http.resolver (dashboard and usage have no routes).
ROUTED_FUNCTIONS = ("chat", "embeddings", "key_test", "keys", "logs", "messages", "public", "responses")
EVENT_HANDLER = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def imported_by(function: str, watched: tuple[str, ...]) -> list[str]:
    result: list[str] = after_import(function, f"sorted(m for m in {list(watched)!r} if m in sys.modules)")
    return result


def after_import(function: str, expression: str) -> Any:
    """``expression``'s value (JSON) in a fresh interpreter that imported the function's handler as Lambda does."""
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(REPO_ROOT / 'functions' / function)!r}, {str(REPO_ROOT / 'layers' / 'gateway')!r}]\n"
        "import app\n"
        f"print(json.dumps({expression}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("function", sorted(CASES))
def test_a_model_route_imports_only_what_its_requests_need(function: str) -> None:
    # Given a fresh interpreter, When it imports the function's handler as Lambda does
    pulled_in = imported_by(function, CASES[function])
    # Then no module that only some requests (or another API) need has been imported
    assert pulled_in == []


@pytest.mark.parametrize("function", sorted(CASES))
def test_a_model_route_does_not_read_the_hosts_mime_types_at_import(function: str) -> None:
    # Given a fresh interpreter, When it imports the function's handler as Lambda does
    # Then mimetypes has not read the host's tables (file parts use Python's own table, built on first use)
    assert after_import(function, "'mimetypes' in sys.modules and sys.modules['mimetypes'].inited") is False


@pytest.mark.parametrize("function", ROUTED_FUNCTIONS)
def test_no_function_imports_powertools_event_handler(function: str) -> None:
    # Given a fresh interpreter, When it imports the function's handler as Lambda does
    pulled_in = imported_by(function, EVENT_HANDLER)
    # Then Powertools' event handler (and its event data classes) stayed out of it
    assert pulled_in == []


# A first BYOK request, on credentials stored as they are today: neither is imported.
FIRST_BYOK_REQUEST = ("aws_encryption_sdk", "cryptography")
STACK_SCRIPT = """
import json, sys
from bench.stack import child_env, start_stack
answer, sys.stdout = sys.stdout, sys.stderr  # log lines go to stderr; stdout carries one JSON line
stack = start_stack()
print(json.dumps({"env": child_env(stack.env), "api_key": stack.byok.api_key}), file=answer, flush=True)
sys.stdin.read()
stack.stop()
"""


@pytest.fixture(scope="module")
def bench_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The bench's stack in a process of its own (moto server, simulator, a customer whose BYOK keys were stored
    through ``security.crypto``): its environment for a handler process, and that customer's gateway key."""
    log = tmp_path_factory.mktemp("bench-stack") / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", STACK_SCRIPT],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        line = process.stdout.readline()
        try:
            assert line, log.read_text()[-3000:]
            yield json.loads(line)
        finally:
            process.stdin.close()
            process.wait(timeout=30)


def served_first_request(function: str, event: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """In a fresh interpreter: import the handler as Lambda does, serve ``event``; its status, headers, what of
    ``FIRST_BYOK_REQUEST`` it imported and whether ``mimetypes`` read the host's tables."""
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(REPO_ROOT / 'functions' / function)!r}, {str(REPO_ROOT / 'layers' / 'gateway')!r}]\n"
        "import app\n"
        "result = app.lambda_handler(json.loads(sys.stdin.read()), None)\n"
        "headers = {**(result.get('headers') or {}),"
        " **{k: v[-1] for k, v in (result.get('multiValueHeaders') or {}).items()}}\n"
        "print(json.dumps({'status': result.get('statusCode'), 'headers': headers,"
        f" 'imported': sorted(m for m in {list(FIRST_BYOK_REQUEST)!r} if m in sys.modules),"
        " 'mime_types_read': 'mimetypes' in sys.modules and sys.modules['mimetypes'].inited}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("function", "path", "body"),
    [
        ("chat", "/v1/chat/completions", {"model": "openai/gpt-5-mini", "messages": HELLO}),
        ("messages", "/v1/messages", {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 64, "messages": HELLO}),
    ],
)
def test_a_first_byok_request_needs_neither_the_encryption_sdk_nor_cryptography(
    bench_stack: dict[str, Any], function: str, path: str, body: dict[str, Any]
) -> None:
    from bench.events import api_event

    # Given a customer with BYOK keys stored by today's code, When a fresh instance serves their first request
    served = served_first_request(
        function, api_event("POST", path, api_key=bench_stack["api_key"], body=body), bench_stack["env"]
    )

    # Then their key answered it, and decrypting it imported neither the Encryption SDK nor cryptography
    assert served["status"] == 200
    assert {k.lower(): v for k, v in served["headers"].items()}["x-gateway-byok"] == "true"
    assert served["imported"] == []
    # And a request without file parts did not make mimetypes read the host's tables
    assert served["mime_types_read"] is False


def test_an_aws_client_loads_its_models_without_listing_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import UnknownServiceError
    from botocore.loaders import Loader

    from gateway.core import aws

    # Given the gateway's botocore session, whose loader must not walk every service's directory (~420 stats per
    # model type on a cold start)
    session = aws.new_session()
    loader = session.get_component("data_loader")

    def every_service(type_name: str) -> list[str]:
        raise AssertionError(f"listed every service with a {type_name} model")

    monkeypatch.setattr(loader, "list_available_services", every_service)
    # When a client is created (its service model and endpoint ruleset loaded)
    client = session.create_client("dynamodb", region_name="us-east-1")
    # Then it has botocore's own model (the same keys in the same order, parsed into plain dicts, which json
    # parses faster than botocore's OrderedDicts), and nothing listed the services
    assert client.meta.service_model.service_name == "dynamodb"
    model = loader.load_service_model("dynamodb", "service-2")
    assert type(model) is dict
    assert json.dumps(model) == json.dumps(Loader().load_service_model("dynamodb", "service-2"))
    # And a service botocore does not know is still refused as botocore refuses it
    monkeypatch.undo()
    with pytest.raises(UnknownServiceError):
        session.create_client("no-such-service", region_name="us-east-1")
