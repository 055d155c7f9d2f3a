"""Cold starts: fresh interpreters, each importing one handler (or litellm) and serving a first request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stack import REPO_ROOT


@dataclass(frozen=True)
class ColdCase:
    label: str
    command: Sequence[str]
    config: dict[str, Any]
    env: dict[str, str]


@dataclass
class ColdRuns:
    label: str
    runs: list[dict[str, float]] = field(default_factory=list)

    def series(self, name: str) -> list[float]:
        return [run[name] for run in self.runs]


def run_once(case: ColdCase) -> dict[str, float]:
    """One fresh process; its own timings plus the wall time from spawn to exit as seen from here."""
    started = time.perf_counter()
    done = subprocess.run(
        case.command,
        cwd=REPO_ROOT,
        env=case.env,
        input=json.dumps(case.config),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {case.label} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout)
    figures["wall_s"] = wall
    return figures


def measure(cases: Sequence[ColdCase], runs: int) -> list[ColdRuns]:
    """``runs`` cold starts per case, round-robin so drift on a shared machine hits every case alike. One
    discarded round first: it compiles bytecode and fills the page cache, as a deployed package already is."""
    results = [ColdRuns(case.label) for case in cases]
    for round_number in range(runs + 1):
        for case, result in zip(cases, results, strict=True):
            figures = run_once(case)
            if round_number > 0:
                result.runs.append(figures)
        print(f"  cold start round {round_number}/{runs} done", file=sys.stderr, flush=True)
    return results
