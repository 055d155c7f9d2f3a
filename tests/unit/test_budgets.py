"""Budget periods roll over in UTC: day, ISO week (from Monday), month, total."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.billing.budgets import period_tag


@pytest.mark.parametrize(
    ("period", "before", "after"),
    [
        ("day", "d20261206", "d20261207"),
        ("week", "w2026W49", "w2026W50"),  # Sunday 6 December 2026 ends ISO week 49
        ("month", "m202612", "m202612"),
        ("total", "total", "total"),
    ],
)
def test_a_period_turns_at_utc_midnight_whatever_the_local_zone(period: str, before: str, after: str) -> None:
    last = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)
    assert period_tag(period, last) == before
    assert period_tag(period, last + timedelta(seconds=1)) == after
    # The same instants written in UTC-8 (still 6 December there) give the same UTC periods.
    pacific = timezone(timedelta(hours=-8))
    assert period_tag(period, (last + timedelta(seconds=1)).astimezone(pacific)) == after


def test_a_month_and_a_year_turn_too() -> None:
    assert period_tag("month", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "m202612"
    assert period_tag("month", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)) == "m202701"
    assert period_tag("week", datetime(2027, 1, 1, tzinfo=UTC)) == "w2026W53"  # ISO: Friday of 2026's last week
