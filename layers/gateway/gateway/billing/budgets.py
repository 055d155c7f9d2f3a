"""Spending limits on shared capacity, held like credits: a gateway API key's budget (``limit``) and the
account's cap (``shared_limit``, counter ``spend_shared_<period>``).

A budget is a counter on the account's profile item, one per key and period (``spend_<key>_<period>``, nano-USD
of shared cost settled or held in the current UTC period). A shared attempt's credit hold raises every counter
of the request in the same conditional write that takes the credits (``holds.hold_credits``), and only while
each stays within its limit; the settlement moves them to the actual cost. So no number of concurrent requests
passes a limit, and ``spent`` is exact once requests have settled. A new period is a new counter (nothing to
reset); the write that opens it removes the key's counters of past periods.

A key budget with ``include_byok`` counts BYOK requests too, at list price (the offer's catalog price: what the
same tokens would cost on shared capacity): a BYOK attempt of such a key takes a budget-only hold (the balance is
not touched) before its upstream, settled to the list price of what it used, so it is refused (402) once the
budget cannot cover it. Without ``include_byok`` a BYOK attempt writes nothing before its upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from gateway.core.errors import PaymentRequired
from gateway.data import accounts, api_keys

COUNTER_PREFIX = "spend_"
PERIODS = ("day", "week", "month", "total")


@dataclass(frozen=True)
class Budget:
    counter: str  # the profile attribute of the current period
    limit_nanos: int
    stale: tuple[str, ...]  # the same scope's counters of past periods, removed when this one opens
    what: str  # names the limit in a refusal
    code: str = "key_budget_exceeded"
    counts_byok: bool = False  # BYOK attempts count toward it at list price (a key's ``include_byok``)


def clock() -> datetime:
    """Now, in UTC (a test moves it to the next period instead of waiting)."""
    return datetime.now(UTC)


def period_tag(period: str, now: datetime | None = None) -> str:
    """The current UTC period: ``d20261206``, ``w2026W49`` (ISO week, from Monday), ``m202612`` or ``total``."""
    moment = (now or clock()).astimezone(UTC)
    if period == "day":
        return moment.strftime("d%Y%m%d")
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"w{year}W{week:02d}"
    if period == "month":
        return moment.strftime("m%Y%m")
    return "total"


def _scope_prefix(key: api_keys.ApiKey) -> str:
    return f"{COUNTER_PREFIX}{api_keys.api_key_fingerprint(key.digest)}_"


def key_budget(snapshot: accounts.AccountSnapshot, now: datetime | None = None) -> Budget | None:
    """The calling key's budget for a shared attempt, or None when it has none."""
    key = snapshot.caller
    if key is None or key.limit is None:
        return None
    prefix = _scope_prefix(key)
    counter = prefix + period_tag(str(key.limit["period"]), now)
    stale = tuple(name for name in snapshot.account.spend if name.startswith(prefix) and name != counter)
    usd = Decimal(str(key.limit["usd"]))
    what = f"this API key's {key.limit['period']} budget (${usd})"
    return Budget(counter, accounts.to_nanos(usd), stale, what, counts_byok=bool(key.limit.get("include_byok")))


def shared_budget(snapshot: accounts.AccountSnapshot, now: datetime | None = None) -> Budget | None:
    """The account's cap on shared-capacity spend (``shared_limit``), or None when it has none."""
    limit = snapshot.account.shared_limit
    if limit is None:
        return None
    prefix = f"{COUNTER_PREFIX}shared_"
    counter = prefix + period_tag(str(limit["period"]), now)
    stale = tuple(name for name in snapshot.account.spend if name.startswith(prefix) and name != counter)
    usd = Decimal(str(limit["usd"]))
    what = f"the account's {limit['period']} shared-capacity limit (${usd})"
    return Budget(counter, accounts.to_nanos(usd), stale, what, code="shared_limit_reached")


def request_budgets(snapshot: accounts.AccountSnapshot) -> list[Budget]:
    """Every budget a shared attempt of this request holds: the key's and the account's."""
    return [b for b in (key_budget(snapshot), shared_budget(snapshot)) if b is not None]


def byok_budgets(snapshot: accounts.AccountSnapshot) -> list[Budget]:
    """The budgets a BYOK attempt of this request holds at list price: the key's, when it includes BYOK."""
    budget = key_budget(snapshot)
    return [budget] if budget is not None and budget.counts_byok else []


def shared_spent(account: accounts.Account, now: datetime | None = None) -> float:
    if account.shared_limit is None:
        return 0.0
    counter = f"{COUNTER_PREFIX}shared_" + period_tag(str(account.shared_limit["period"]), now)
    return float(accounts.to_usd(account.spend.get(counter, 0)))


def spent(account: accounts.Account, key: api_keys.ApiKey, now: datetime | None = None) -> float:
    """USD the key has spent (settled, or held by requests in flight) in its current period."""
    if key.limit is None:
        return 0.0
    return float(accounts.to_usd(account.spend.get(_scope_prefix(key) + period_tag(str(key.limit["period"]), now), 0)))


def refusal(budgets: list[Budget], over: list[str]) -> PaymentRequired | None:
    """The answer for a hold refused because it would pass the budgets whose counters are in ``over``."""
    for budget in budgets:
        if budget.counter in over:
            if budget.counts_byok:
                message = f"{budget.what}, which counts BYOK requests at list price, cannot cover this request's hold"
            else:
                message = f"{budget.what} cannot cover this request's shared-capacity hold; BYOK keys still serve it"
            return PaymentRequired(message, code=budget.code)
    return None
