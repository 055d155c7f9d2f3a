"""The code blocks of the user documentation, as a reader would copy them: extracted from each markdown file so a
test runs them against the dev stack and the documentation cannot drift from what the gateway does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Markdown files whose examples run (the README may be split into README.md + docs/*.md: every one is read).
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOC_URL = "http://127.0.0.1:3000"
DOC_KEY = "gwk_..."


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [
        Block(path, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
        for match in FENCE.finditer(text)
    ]


def runnable(path: Path) -> tuple[list[Block], list[Block]]:
    """The file's curl blocks (shell, run in one session in order) and its Python blocks (one program, in order,
    as a reader continues from one example to the next)."""
    found = blocks(path)
    shell = [b for b in found if b.language in ("bash", "sh", "shell") and re.search(r"^\s*curl ", b.code, re.M)]
    python = [b for b in found if b.language == "python"]
    return shell, python


def exports(code: str) -> dict[str, str]:
    """``export NAME=value`` lines of a shell block (comments dropped)."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^export (\w+)=(\S*)", code, re.M):
        found[match.group(1)] = match.group(2).strip("\"'")
    return found
