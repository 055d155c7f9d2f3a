"""Credit leases: an instance holds a block of an account's credits (and of its request's budgets) and lends
from it to its own requests, so most shared attempts take their hold without a write.

With ``CREDIT_LEASE_NANOS`` above 0, a shared attempt's hold (``credits.reserve``) is first asked of this
process's ``LeaseBook``: one lease per account and set of budget counters. The lease lends each request its
exact worst case (the same bound a per-request hold takes) from what it has free, in memory; when it has not
enough, ONE conditional write on the profile takes a new block, or tops the lease up and renews it
(``gateway.data.leases``), only while the balance and every budget counter cover the whole block: so no
number of instances or requests takes a balance below zero or a budget past its limit, whatever a lease holds
being off the balance and on the budget counters already. A request bigger than a block, or an account whose
balance or budget cannot cover one (then no lease is tried for ``SHORT_BACKOFF_S``), takes today's per-request
hold instead.

A settled request gives back what it held above its cost, in memory, and adds its cost to the lease's ledger
(one write to the lease's own partition, after the answer's last byte): that is what makes every charge exact
even when the instance is killed. A lease lends for ``LEASE_TERM_S`` after it was taken or topped up; it
expires (and may be swept like an expired hold, charged what its ledger says) the function's timeout plus
``HOLD_MARGIN_S`` after that, so every request it lent to has ended first. A lease nobody used for ``IDLE_S``
is closed by the next settlement of the process, and every lease is closed at exit; closing gives back what
was not spent.
"""

from __future__ import annotations

import atexit
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import holds
from gateway.data import leases as ledger
from gateway.data.holds import HOLD_MARGIN_S

if TYPE_CHECKING:
    from gateway.billing.budgets import Budget

# A lease lends to new requests this long after it was taken or last topped up.
LEASE_TERM_S = 60
# A lease no request used this long is closed (its unspent part given back) by the process's next settlement.
IDLE_S = 30
# After a block could not be covered, the account's requests take per-request holds this long.
SHORT_BACKOFF_S = 10


@dataclass
class Lease:
    account_id: str
    lease_id: str
    budgets: tuple[str, ...]
    granted: int = 0  # taken off the balance (and onto the budget counters) in all: the entry's ``nanos``
    free: int = 0  # of it, neither lent to a request in flight nor spent
    lent: int = 0  # held by requests in flight
    spent: int = 0  # charged to settled requests: what the ledger says
    lends_until: float = 0.0
    last_used: float = 0.0
    retired: bool = False  # lends no more; closed once its last request has settled

    def can_lend(self, nanos: int, now: float) -> bool:
        return not self.retired and now < self.lends_until and self.free >= nanos


class LeaseBook:
    """This process's leases. Thread-safe: concurrent requests of one process share one lease per account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[tuple[str, tuple[str, ...]], Lease] = {}
        self._by_id: dict[str, Lease] = {}
        self._refilling: dict[tuple[str, tuple[str, ...]], threading.Lock] = {}
        self._short_until: dict[tuple[str, tuple[str, ...]], float] = {}

    def lend(self, account_id: str, nanos: int, budgets: Sequence[Budget]) -> str | None:
        """Lend ``nanos`` to a request from the account's lease (taking or topping it up first if need be):
        the lease's id, or None when the request should take a per-request hold."""
        block = get_settings().credit_lease_nanos
        if block <= 0 or nanos > block:
            return None
        key = (account_id, tuple(b.counter for b in budgets))
        lent = self._lend_free(key, nanos)
        if lent is not None:
            return lent
        with self._lock:
            if self._short_until.get(key, 0.0) > time.time():
                return None
            refilling = self._refilling.setdefault(key, threading.Lock())
        with refilling:  # one write per lease at a time; the requests waiting lend from what it brought
            lent = self._lend_free(key, nanos)
            if lent is None and self._grow(key, block, budgets):
                lent = self._lend_free(key, nanos)
        return lent

    def _lend_free(self, key: tuple[str, tuple[str, ...]], nanos: int) -> str | None:
        now = time.time()
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or not lease.can_lend(nanos, now):
                return None
            lease.free -= nanos
            lease.lent += nanos
            lease.last_used = now
            return lease.lease_id

    def _grow(self, key: tuple[str, tuple[str, ...]], block: int, budgets: Sequence[Budget]) -> bool:
        """Top the key's lease up to a block free (renewing it), or take a new one; False when the balance or a
        budget cannot cover that (the lease, if any, is retired, and leases are not tried for a while)."""
        settings = get_settings()
        now = time.time()
        expires_at = int(now + LEASE_TERM_S + settings.function_timeout_s + HOLD_MARGIN_S)
        stale = [name for b in budgets for name in b.stale]
        with self._lock:
            lease = self._leases.get(key)
        if lease is not None and now >= lease.lends_until + settings.function_timeout_s + HOLD_MARGIN_S:
            self._retire(lease)  # expired while the process slept: it may be swept, so take a new one
            lease = None
        if lease is not None:
            amount = max(0, block - lease.free)
            most = {b.counter: b.limit_nanos - amount for b in budgets}
            if all(m >= 0 for m in most.values()) and ledger.top_up(
                key[0], lease.lease_id, amount, expires_at, most, stale
            ):
                with self._lock:
                    lease.granted, lease.free, lease.lends_until = (
                        lease.granted + amount,
                        lease.free + amount,
                        now + LEASE_TERM_S,
                    )
                return True
        else:
            most = {b.counter: b.limit_nanos - block for b in budgets}
            lease = Lease(key[0], f"l{secrets.token_hex(8)}", key[1])
            if all(m >= 0 for m in most.values()) and holds.hold_credits(
                key[0], lease.lease_id, block, expires_at, most, stale, None, True, True
            ):
                lease.granted, lease.free, lease.lends_until, lease.last_used = block, block, now + LEASE_TERM_S, now
                self._keep(key, lease)
                return True
            lease = None
        with self._lock:
            self._short_until[key] = now + SHORT_BACKOFF_S
        if lease is not None:
            self._retire(lease)
        return False

    def _keep(self, key: tuple[str, tuple[str, ...]], lease: Lease) -> None:
        with self._lock:
            self._leases[key], self._by_id[lease.lease_id] = lease, lease

    def settle(self, account_id: str, lease_id: str, held: int, actual: int) -> bool:
        """A request lent ``held`` cost ``actual``: its cost is added to the lease's ledger, then what it held
        above that returns to the lease (the lease cannot close in between: the request still holds its part);
        a cost above the hold is taken from the lease's free part, or charged to the profile (balance, then
        debt). False when the lease is unknown to this process (nothing done)."""
        with self._lock:
            lease = self._by_id.get(lease_id)
            if lease is None:
                return False
            extra = min(max(0, actual - held), lease.free)
            lease.free -= extra
        from_lease = min(actual, held) + extra
        if actual > from_lease:
            holds.charge_over_hold(account_id, actual - from_lease, budgets=lease.budgets)
        recorded = from_lease == 0 or ledger.record_spend(lease_id, from_lease)
        if not recorded:  # the lease was swept under the request (it outlived its expiry): charge it afresh
            holds.charge_over_hold(account_id, from_lease, budgets=lease.budgets)
        with self._lock:
            lease.lent -= held
            lease.free += held - min(actual, held)
            lease.spent += from_lease if recorded else 0
        self._after_settlement()
        return True

    def release(self, lease_id: str, held: int) -> bool:
        """A failed request gives back all it was lent. False when the lease is unknown to this process."""
        with self._lock:
            lease = self._by_id.get(lease_id)
            if lease is None:
                return False
            lease.lent -= held
            lease.free += held
        self._after_settlement()
        return True

    def _after_settlement(self) -> None:
        """Close the retired leases whose last request has settled, and every idle lease."""
        now = time.time()
        with self._lock:
            idle = [
                other
                for other in self._by_id.values()
                if other.lent == 0 and (other.retired or now - other.last_used > IDLE_S)
            ]
        for other in idle:
            self._retire(other)

    def _retire(self, lease: Lease) -> None:
        """Lend no more from ``lease``; close it now if no request holds part of it."""
        with self._lock:
            lease.retired = True
            key = (lease.account_id, lease.budgets)
            if self._leases.get(key) is lease:
                del self._leases[key]
            if lease.lent > 0 or lease.lease_id not in self._by_id:
                return
            del self._by_id[lease.lease_id]
        self._close(lease)

    def _close(self, lease: Lease) -> None:
        try:
            if not ledger.close(lease.account_id, lease.lease_id, lease.granted, lease.spent, lease.budgets):
                ledger.sweep(lease.account_id, lease.lease_id, lease.granted, lease.budgets)  # read the ledger
        except Exception as exc:  # it expires and is swept: nothing is lost, it is only held longer
            logger.error(
                "credit lease close failed",
                extra={"account_id": lease.account_id, "lease_id": lease.lease_id, "error_type": type(exc).__name__},
            )

    def close_all(self) -> None:
        """Close every lease no request holds part of (at exit)."""
        with self._lock:
            leases = list(self._by_id.values())
        for lease in leases:
            self._retire(lease)


_BOOK = LeaseBook()
atexit.register(_BOOK.close_all)  # the process's shutdown gives back what its leases did not spend


def book() -> LeaseBook:
    """The process's lease book."""
    return _BOOK
