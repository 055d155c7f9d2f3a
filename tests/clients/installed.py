"""The client programs and libraries the suite runs, as installed: where they live and which versions they are.

Python clients are pinned in ``requirements-dev.txt`` (the shared venv). Node clients are pinned in
``tests/clients/package.json`` + ``package-lock.json`` and installed with ``npm ci`` into the git-ignored
``.cache/clients`` the first time (or when the lock changes), under a file lock so parallel workers install once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path(__file__).resolve().parent
NODE_DIR = ROOT / ".cache" / "clients"
NODE_MODULES = NODE_DIR / "node_modules"
PYTHON_CLIENTS = ("openai", "anthropic", "langchain-openai", "langchain-anthropic", "pydantic-ai-slim", "litellm")
NODE_CLIENTS = ("@anthropic-ai/claude-code", "ai", "@ai-sdk/openai", "@ai-sdk/anthropic", "@ai-sdk/openai-compatible")
NPM_TIMEOUT_S = 900


def _lock_digest() -> str:
    return hashlib.sha256((SPEC / "package-lock.json").read_bytes()).hexdigest()


def install_once(directory: Path, version: str, install: Callable[[], object]) -> None:
    """Run ``install`` into ``directory`` unless ``version`` is already installed there.

    A file lock makes parallel test workers install once: the others wait, then find the stamp, so none runs a
    program while another rewrites it (a spawn then fails with ETXTBSY). The stamp is written after the install.
    """
    stamp = directory / ".installed-version"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == version:
        return
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text(encoding="utf-8") == version):
            install()
            stamp.write_text(version, encoding="utf-8")


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        raise RuntimeError("npm is not installed: the Node clients need Node.js and npm")
    return found


def node_clients() -> Path:
    """``.cache/clients/node_modules``, installed from the committed lock unless it already is (seconds)."""

    def install() -> None:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SPEC / name, NODE_DIR / name)
        subprocess.run(
            [npm(), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=NPM_TIMEOUT_S,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )

    install_once(NODE_DIR, _lock_digest(), install)
    return NODE_MODULES


def versions() -> dict[str, str]:
    """Each client's installed version (``not installed`` until the first run installs the Node ones)."""
    found: dict[str, str] = {}
    for name in PYTHON_CLIENTS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    for name in NODE_CLIENTS:
        manifest = NODE_MODULES / name / "package.json"
        found[name] = json.loads(manifest.read_text())["version"] if manifest.exists() else "not installed"
    node = shutil.which("node")
    found["node"] = (
        subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip() if node else "-"
    )
    return found
