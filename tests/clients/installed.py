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
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path(__file__).resolve().parent
NODE_DIR = ROOT / ".cache" / "clients"
NODE_MODULES = NODE_DIR / "node_modules"
STAMP = NODE_DIR / ".installed-lock"
PYTHON_CLIENTS = ("openai", "anthropic", "langchain-openai", "langchain-anthropic", "pydantic-ai-slim", "litellm")
NODE_CLIENTS = ("@anthropic-ai/claude-code", "ai", "@ai-sdk/openai", "@ai-sdk/anthropic", "@ai-sdk/openai-compatible")
NPM_TIMEOUT_S = 900


def _lock_digest() -> str:
    return hashlib.sha256((SPEC / "package-lock.json").read_bytes()).hexdigest()


def node_clients() -> Path:
    """``.cache/clients/node_modules``, installed from the committed lock unless it already is (seconds)."""
    if STAMP.exists() and STAMP.read_text() == _lock_digest():
        return NODE_MODULES
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    with (NODE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (STAMP.exists() and STAMP.read_text() == _lock_digest()):
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(SPEC / name, NODE_DIR / name)
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("npm is not installed: the Node clients need Node.js and npm")
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=NPM_TIMEOUT_S,
                env={**os.environ, "npm_config_update_notifier": "false"},
            )
            STAMP.write_text(_lock_digest())
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
