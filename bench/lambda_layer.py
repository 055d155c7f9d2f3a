"""The layer's dependencies as Lambda sees them: ``layers/gateway/requirements.txt`` installed on its own.

``sam build`` installs exactly that file into the layer; the shared dev venv holds test tools besides (rich,
click and pygments, which httpx imports for its command line when they are there; h2, which httpcore imports
when it is there). A cold start measured on the dev venv would count their imports, which no deployed function
makes. The cold-start children therefore run with ``python -S`` (no site-packages) and this directory on
``sys.path``, next to the function directory and the layer's own code, as the runtime lays them out.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

from bench.stack import LAYER_DIR, REPO_ROOT

REQUIREMENTS = LAYER_DIR / "requirements.txt"
SITE = REPO_ROOT / ".cache" / "lambda-layer"


def ensure() -> str:
    """The directory (relative to the repository) holding the layer's requirements, installed once per version
    of the requirements file."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = SITE / f".requirements-{digest}"
    if not stamp.exists():
        print(f"installing {REQUIREMENTS.relative_to(REPO_ROOT)} into {SITE.relative_to(REPO_ROOT)}", file=sys.stderr)
        subprocess.run(["rm", "-rf", str(SITE)], check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(SITE),
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
        )
        stamp.touch()
    return str(SITE.relative_to(REPO_ROOT))
