"""The LiteLLM environment, used only by the benchmark: ``.bench/litellm-venv``, created on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.stack import REPO_ROOT

LITELLM_VERSION = "1.110.2"
VENV = REPO_ROOT / ".bench" / "litellm-venv"
STAMP = VENV / f".litellm-{LITELLM_VERSION}"


def python() -> Path:
    return VENV / "bin" / "python"


def ensure() -> Path:
    """The LiteLLM interpreter, installing litellm==LITELLM_VERSION with this interpreter's version first."""
    if STAMP.exists() and python().exists():
        return python()
    print(f"installing litellm=={LITELLM_VERSION} into {VENV.relative_to(REPO_ROOT)} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [
            str(python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"litellm=={LITELLM_VERSION}",
        ],
        check=True,
    )
    STAMP.touch()
    return python()
