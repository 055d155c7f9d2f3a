"""Pure helpers of the benchmark: percentiles, per-request overhead, target verdicts and the printed table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks, as numpy's default does."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def overheads(totals: Sequence[float], *excluded: Sequence[float]) -> list[float]:
    """Per request: the total time minus each excluded part (upstream wait, AWS time...), never below zero."""
    for part in excluded:
        if len(part) != len(totals):
            raise ValueError("every series needs one value per request")
    return [max(0.0, total - sum(part[i] for part in excluded)) for i, total in enumerate(totals)]


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 else math.inf


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    passed: bool

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "MISS"


def at_most(target: str, value: float, limit: float, fmt: str = "{:.2f}") -> Verdict:
    return Verdict(target, fmt.format(value), value <= limit)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned, a rule under the header."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)} has {len(row)} cells, expected {len(headers)}")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def ms(seconds: float, digits: int = 2) -> str:
    return f"{seconds * 1000:.{digits}f}"
