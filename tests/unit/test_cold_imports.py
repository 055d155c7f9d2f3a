"""What a model route's cold start imports: only what its requests need (issue 24, "cold start back down").

Each case imports one function's handler in a fresh interpreter, as the Lambda runtime loads it (the function
directory and the layer on ``sys.path``, ``import app``), and lists the heavy or unrelated modules it pulled in.
A module named here is either paid by the first request that needs it (the Encryption SDK for a BYOK key,
google-auth for a Vertex token, a provider's wire format) or never needed by that route (another API's code).
No function imports Powertools' event handler: it imports every resolver it has (~100 modules); the functions
route with ``gateway.http.router``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Needed by some requests only: imported by the request that needs them.
ON_FIRST_USE = (
    "aws_encryption_sdk",  # a BYOK key's decryption (and its attrs classes)
    "cryptography",
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
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(REPO_ROOT / 'functions' / function)!r}, {str(REPO_ROOT / 'layers' / 'gateway')!r}]\n"
        "import app\n"
        f"print(json.dumps(sorted(m for m in {list(watched)!r} if m in sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: list[str] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("function", sorted(CASES))
def test_a_model_route_imports_only_what_its_requests_need(function: str) -> None:
    # Given a fresh interpreter, When it imports the function's handler as Lambda does
    pulled_in = imported_by(function, CASES[function])
    # Then no module that only some requests (or another API) need has been imported
    assert pulled_in == []


@pytest.mark.parametrize("function", ROUTED_FUNCTIONS)
def test_no_function_imports_powertools_event_handler(function: str) -> None:
    # Given a fresh interpreter, When it imports the function's handler as Lambda does
    pulled_in = imported_by(function, EVENT_HANDLER)
    # Then Powertools' event handler (and its event data classes) stayed out of it
    assert pulled_in == []
