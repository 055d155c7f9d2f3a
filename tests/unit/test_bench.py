"""The benchmark's own arithmetic and table: what `make bench` reports must be computed right."""

from __future__ import annotations

import math

import pytest

from bench.stats import Verdict, at_most, format_table, median, ms, overheads, percentile, ratio


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 99) == pytest.approx(3.97)


def test_p99_of_1000_requests_sees_the_slowest_ten() -> None:
    values = [1.0] * 989 + [50.0] * 11
    assert percentile(values, 99) == 50.0
    assert median(values) == 1.0


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_rejects_impossible_ranks(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_overhead_subtracts_each_part_per_request_and_never_goes_negative() -> None:
    totals = [0.010, 0.020, 0.005]
    upstream = [0.004, 0.015, 0.004]
    aws = [0.001, 0.002, 0.003]
    assert overheads(totals, upstream) == pytest.approx([0.006, 0.005, 0.001])
    assert overheads(totals, upstream, aws) == pytest.approx([0.005, 0.003, 0.0])


def test_overhead_refuses_series_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="one value per request"):
        overheads([0.01, 0.02], [0.001])


def test_ratio_of_a_zero_baseline_is_infinite_not_a_crash() -> None:
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(1.0, 0.0) == math.inf


def test_verdict_passes_at_the_limit_and_misses_above_it() -> None:
    assert at_most("p99 <= 10 ms", 10.0, 10.0, "{:.1f} ms") == Verdict("p99 <= 10 ms", "10.0 ms", True)
    missed = at_most("p99 <= 10 ms", 10.01, 10.0)
    assert (missed.passed, missed.label, missed.measured) == (False, "MISS", "10.01")


def test_table_aligns_columns_under_a_rule() -> None:
    table = format_table(["scenario", "p50"], [["ours", "1.50"], ["LiteLLM Router", "12.25"]])
    assert table.splitlines() == [
        "scenario          p50",
        "--------------  -----",
        "ours             1.50",
        "LiteLLM Router  12.25",
    ]


def test_table_rejects_a_row_with_missing_cells() -> None:
    with pytest.raises(ValueError, match="expected 2"):
        format_table(["a", "b"], [["only one"]])


def test_milliseconds_are_formatted_from_seconds() -> None:
    assert ms(0.0015) == "1.50"
    assert ms(1.2346, 0) == "1235"


def test_dynamodb_units_follow_the_item_size_rules() -> None:
    from bench.cost import item_size, read_units, write_units

    # names count as UTF-8 bytes; a number is 1 byte per two significant digits plus one; a map adds 3 + 1 per entry
    item = {"pk": {"S": "ACCOUNT#1"}, "credits": {"N": "12345.00"}, "flags": {"M": {"on": {"BOOL": True}}}}
    assert item_size(item) == (2 + 9) + (7 + 4) + (5 + 3 + 2 + 1 + 1)
    # a write is billed per started KB, a read per started 4 KB, half when eventually consistent
    assert [write_units(1), write_units(1024), write_units(1025)] == [1, 1, 2]
    assert [read_units(4096, True), read_units(4097, True), read_units(10, False)] == [1.0, 2.0, 0.5]
