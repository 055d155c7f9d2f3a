"""The instance's account snapshots, reused by model requests while the account's epoch has not moved.

Without it every authenticated request reads its account's whole partition (``accounts.load_account``): at
thousands of requests a second from one account that partition passes what one DynamoDB partition serves. With
``ACCOUNT_CACHE_MS`` above 0 a request first reads the account's epoch (``gateway.data.account_epoch``: one small
GetItem of one of its replicas, outside the account's partition) and reuses the snapshot this instance read under
that same epoch, unless it is older than ``ACCOUNT_CACHE_MS``; else it reads the partition as before. So the
account's partition is read about once per ``ACCOUNT_CACHE_MS`` per busy instance.

What a reused snapshot can and cannot miss:
- Every write that authentication or routing trusts moves the epoch in its own transaction (``accounts.transact``):
  gateway keys (create, change, revoke, delete), BYOK keys (create, change, enable/disable, rotate, delete), the
  shared limit, credits added and debt either way. A request that starts after one of them has returned reads the
  new epoch, so the partition again: a revoked key is refused on its very next request, a disabled BYOK key is not
  used by it, added credits are usable by it.
- Counters that conditional writes guard stay exact without it, and may be stale within ``ACCOUNT_CACHE_MS``: the
  balance (holds and leases are conditional on the stored balance; a reused snapshot that shows none re-reads the
  profile before refusing, ``AccountSnapshot.pays_shared``), budgets' spend (holds are conditional on the stored
  counters), rate-limit counters (slots are conditional on the key's stored window and count) and the cooldowns
  other instances recorded (this instance's own are in its routing signals at once).

The cache is keyed by the account id of a key that ``api_keys.authenticate`` has proven, never by anything the
caller sent, and each request gets its own copy (``AccountSnapshot.copy``): requests mutate theirs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from gateway.core.settings import get_settings
from gateway.data import account_epoch, accounts

ACCOUNTS_MAX = 1024  # snapshots one instance keeps; the oldest goes first


@dataclass(frozen=True)
class _Entry:
    snapshot: accounts.AccountSnapshot
    epoch: str
    read_at: float  # monotonic seconds, taken before the epoch was read


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def load(account_id: str) -> accounts.AccountSnapshot | None:
    """The account's snapshot for one request: reused when the instance read it under the current epoch within
    ``ACCOUNT_CACHE_MS``, else read from the partition (``accounts.load_account``). None if no such account."""
    max_age_s = get_settings().account_cache_ms / 1000
    if max_age_s <= 0:
        return accounts.load_account(account_id)
    read_at = clock()
    epoch = account_epoch.current(account_id)
    with _lock:
        entry = _entries.get(account_id)
    if entry is not None and epoch is not None and entry.epoch == epoch and read_at - entry.read_at < max_age_s:
        return entry.snapshot.copy(reused=True)
    # Read after the epoch: a change committed in between makes this snapshot newer than its epoch, never older.
    snapshot = accounts.load_account(account_id)
    with _lock:
        _entries.pop(account_id, None)
        if snapshot is not None and epoch is not None:
            if len(_entries) >= ACCOUNTS_MAX:
                _entries.pop(next(iter(_entries)))
            _entries[account_id] = _Entry(snapshot, epoch, read_at)
    return None if snapshot is None else snapshot.copy()


def clock() -> float:
    """Monotonic seconds for snapshot ages (a test moves it instead of waiting)."""
    return time.monotonic()


def clear() -> None:
    with _lock:
        _entries.clear()
