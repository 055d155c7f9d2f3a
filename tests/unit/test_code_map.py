"""The README's code map matches the tree: every path it names exists, and every package of the layer is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "gateway" / "gateway"
MAP_MARKER = "<!-- code-map"


def code_map() -> list[tuple[Path, str]]:
    """(base folder, path) for every path the map's left column names: indented entries are inside the layer."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(MAP_MARKER) :].split("```", 2)[1]
    named = []
    for line in block.splitlines()[1:]:
        left = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0] if line.strip() else ""
        if not left or not line.startswith(("  ", *"abcdefghijklmnopqrstuvwxyz")):
            continue
        base = LAYER if line.startswith("  ") else ROOT
        if line.startswith(" " * 10):  # a continuation of the description above
            continue
        named += [(base, token) for token in left.split() if "/" in token or "." in token]
    return named


def test_every_path_in_the_code_map_exists() -> None:
    named = code_map()
    assert len(named) > 15
    missing = [token for base, token in named if not (base / token.rstrip("/")).exists()]
    assert missing == []


def test_every_package_of_the_layer_is_in_the_code_map() -> None:
    named = {token.rstrip("/") for base, token in code_map() if base == LAYER}
    packages = {str(init.parent.relative_to(LAYER)) for init in LAYER.rglob("__init__.py") if init.parent != LAYER}
    assert packages - named == set()
