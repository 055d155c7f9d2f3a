"""Every module of the layer reads in one sitting: no module above 400 lines, no function above 60.

The exclusions below are work another engineer is doing right now; each names who and why, so the merger can drop
it once that work has landed. Do not add one to make a test pass: split the code instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "gateway" / "gateway"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# module path (relative to the layer) -> why it may be longer for now
MODULES_BEING_SPLIT: dict[str, str] = {}
# (module path, function name) -> why it may be longer for now
FUNCTIONS_BEING_REWRITTEN: dict[tuple[str, str], str] = {}


def _modules() -> list[Path]:
    modules = sorted(LAYER.rglob("*.py"))
    assert len(modules) > 50  # the layer, not an empty folder
    return modules


def _name(path: Path) -> str:
    return path.relative_to(LAYER).as_posix()


def test_no_module_is_longer_than_400_lines() -> None:
    too_long = {
        _name(path): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
        and _name(path) not in MODULES_BEING_SPLIT
    }

    assert too_long == {}


def test_no_function_is_longer_than_60_lines() -> None:
    too_long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES and (_name(path), node.name) not in FUNCTIONS_BEING_REWRITTEN:
                too_long[f"{_name(path)}:{node.name}"] = lines

    assert too_long == {}


def test_every_exclusion_still_names_code_that_exists() -> None:
    # An exclusion outliving its code would silently let the next long module or function through
    for module in MODULES_BEING_SPLIT:
        assert (LAYER / module).exists(), module
    for module, function in FUNCTIONS_BEING_REWRITTEN:
        tree = ast.parse((LAYER / module).read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.FunctionDef) and n.name == function for n in ast.walk(tree)), function
