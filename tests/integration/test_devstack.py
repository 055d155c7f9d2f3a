"""`make dev` and `make admin` as a developer uses them: real processes, real ports, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from local.template import TEMPLATE_PATH

pytestmark = pytest.mark.slow

REPO_ROOT = TEMPLATE_PATH.parent
START_TIMEOUT_S = 90
CHAT = {"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "Hello"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_closed(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1).close()
    except OSError:
        return True
    return False


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    state_file: Path
    output: list[str] = field(default_factory=list)
    api_key: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.state["api_url"])

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_admin("--state", str(self.state_file), *args)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)  # generous for a loaded machine; a stop that waits hangs


def run_admin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.admin", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def dev_stack(tmp_path: Path, **env: str) -> Iterator[RunningStack]:
    port = free_port()
    state_file = tmp_path / f"state-{port}.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "local.devstack"],
        cwd=REPO_ROOT,
        env={**os.environ, "PORT": str(port), "DEVSTACK_STATE": str(state_file), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = RunningStack(process, state_file)
    ready = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.output.append(line)
            if line.startswith("DEV_API_KEY="):
                stack.api_key = line.strip().split("=", 1)[1]
                ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        assert ready.wait(START_TIMEOUT_S), "dev stack did not start:\n" + "".join(stack.output)
        assert stack.api_key, "dev stack exited before printing its key:\n" + "".join(stack.output)
        stack.state = json.loads(state_file.read_text())
        yield stack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def assert_error_shape(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers.get("x-request-id")
    error = response.json()["error"]
    assert isinstance(error["message"], str)
    assert isinstance(error["type"], str)
    assert "code" in error
    assert "param" in error


def test_dev_stack_serves_the_api_and_admin_and_stops_on_sigterm(tmp_path: Path) -> None:
    with dev_stack(tmp_path) as stack:
        state = stack.state
        bearer = {"Authorization": f"Bearer {stack.api_key}"}

        health = httpx.get(f"{stack.url}/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert health.headers.get("x-request-id")
        models = httpx.get(f"{stack.url}/v1/models", headers=bearer)
        assert models.status_code == 200
        assert models.headers.get("x-request-id")
        assert {"openai/gpt-5-mini", "google/gemini-3-flash"} <= {m["id"] for m in models.json()["data"]}
        assert_error_shape(httpx.get(f"{stack.url}/v1/models"), 401)
        assert_error_shape(httpx.get(f"{stack.url}/v1/nope", headers=bearer), 404)
        assert_error_shape(httpx.delete(f"{stack.url}/v1/models", headers=bearer), 404)
        chat = httpx.post(f"{stack.url}/v1/chat/completions", headers=bearer, json=CHAT, timeout=30)
        assert chat.status_code == 200, chat.text
        assert chat.json()["usage"]["is_byok"] is False
        # The Responses API, its stored response (the dev stack's moto serves the bucket) and a continuation
        first = httpx.post(
            f"{stack.url}/v1/responses", headers=bearer, json={"model": "openai/gpt-5-mini", "input": "Hi"}, timeout=30
        )
        assert first.status_code == 200, first.text
        stored = httpx.get(f"{stack.url}/v1/responses/{first.json()['id']}", headers=bearer)
        assert stored.status_code == 200 and stored.json()["output"] == first.json()["output"]
        continued = {
            "model": "anthropic/claude-sonnet-4.5",
            "input": "More",
            "previous_response_id": first.json()["id"],
        }
        second = httpx.post(f"{stack.url}/v1/responses", headers=bearer, json=continued, timeout=30)
        assert second.status_code == 200, second.text

        created = stack.admin("create-account", "--name", "acme", "--credits", "12.50")
        assert created.returncode == 0, created.stderr
        account = json.loads(created.stdout)
        new_key = account["api_key"]
        assert httpx.get(f"{stack.url}/v1/models", headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
        added = stack.admin("add-credits", "--account", account["account_id"], "--credits", "0.25")
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout) == {"account_id": account["account_id"], "credits": 12.75, "debt": 0}
        listed = json.loads(stack.admin("list-accounts").stdout)["data"]
        assert {"acme", "dev customer"} <= {a["name"] for a in listed}
        credentials = tmp_path / "deepseek.txt"
        credentials.write_text("sk-platform-deepseek-rotated-0001\n")
        rotated = stack.admin("set-platform-key", "--provider", "deepseek", "--credentials-file", str(credentials))
        assert rotated.returncode == 0, rotated.stderr
        assert json.loads(rotated.stdout)["provider"] == "deepseek"
        assert "sk-platform-deepseek-rotated-0001" not in rotated.stdout

        # A stream still in flight does not hold the stop up: the simulator holds every chunk after the first
        # until released (sync pacing), so the stream can never end by itself and a stop that waited for it
        # would never come.
        paced = {"provider": "openai", "chunks": 1000, "sync": True, "hold_timeout": 120}
        assert httpx.post(f"{state['simulator_url']}/_sim/pacing", json=paced).status_code == 201
        with httpx.stream(
            "POST", f"{stack.url}/v1/chat/completions", headers=bearer, json={**CHAT, "stream": True}
        ) as s:
            assert next(line for line in s.iter_lines() if '"content":"H' in line)
            assert stack.stop() == 0
        for url in (stack.url, state["aws_endpoint_url"], state["simulator_url"]):
            assert port_closed(url), f"{url} still open after SIGTERM"
        assert not stack.state_file.exists()


def test_two_dev_stacks_run_side_by_side_and_upstream_env_wins(tmp_path: Path) -> None:
    fixed_key = "gwk_00000000000000ab_fixed-dev-key"
    unreachable_openai = f"http://127.0.0.1:{free_port()}/v1"
    with (
        dev_stack(tmp_path) as first,
        dev_stack(tmp_path, DEV_API_KEY=fixed_key, UPSTREAM_OPENAI_URL=unreachable_openai) as second,
    ):
        assert second.api_key == fixed_key
        assert len({first.url, second.url}) == 2
        assert first.state["aws_endpoint_url"] != second.state["aws_endpoint_url"]
        assert first.state["simulator_url"] != second.state["simulator_url"]
        for stack in (first, second):
            assert httpx.get(f"{stack.url}/health").status_code == 200
            models = httpx.get(f"{stack.url}/v1/models", headers={"Authorization": f"Bearer {stack.api_key}"})
            assert models.status_code == 200
        # Each stack has its own accounts: a key from one is unknown to the other.
        assert_error_shape(
            httpx.get(f"{first.url}/v1/models", headers={"Authorization": f"Bearer {second.api_key}"}), 401
        )

        # UPSTREAM_OPENAI_URL from the environment sends openai traffic there (nothing listens: it fails)...
        openai_only = {**CHAT, "provider": {"only": ["openai"]}}
        first_chat = httpx.post(
            f"{first.url}/v1/chat/completions", headers={"Authorization": f"Bearer {first.api_key}"}, json=openai_only
        )
        assert first_chat.status_code == 200, first_chat.text
        second_chat = httpx.post(
            f"{second.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {second.api_key}"},
            json=openai_only,
            timeout=30,
        )
        assert_error_shape(second_chat, 502)
        # ...while Vertex, still on the simulator, gets its OAuth token from the simulator's endpoint.
        vertex = httpx.post(
            f"{second.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {second.api_key}"},
            json={**CHAT, "model": "google/gemini-3-flash", "provider": {"only": ["google-vertex"]}},
            timeout=30,
        )
        assert vertex.status_code == 200, vertex.text
        assert vertex.json()["provider"] == "google-vertex"

        assert first.stop() == 0
        assert second.stop() == 0


def test_dev_stack_rejects_a_malformed_dev_api_key(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "local.devstack"],
        cwd=REPO_ROOT,
        env={**os.environ, "PORT": str(port), "DEVSTACK_STATE": str(tmp_path / "s.json"), "DEV_API_KEY": "nope"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "DEV_API_KEY must look like gwk_<16 hex>_<secret>" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s.json").exists()
    assert port_closed(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    "args",
    [
        ["list-accounts"],
        ["create-account", "--name", "x", "--credits", "ten"],
        ["add-credits", "--account", "acct_1", "--credits", "NaN"],
    ],
)
def test_admin_mistakes_exit_2_without_a_traceback(tmp_path: Path, args: list[str]) -> None:
    result = run_admin("--state", str(tmp_path / "missing.json"), *args)

    assert result.returncode == 2
    assert result.stderr.strip()
    assert "Traceback" not in result.stderr
