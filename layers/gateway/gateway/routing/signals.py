"""What the gateway has recently seen, shared by every instance: the ``RouteSignals`` the plan orders by.

- A failure (429, 5xx, timeout, connection error) of shared capacity for a model marks that provider/model for
  ``HEALTH_WINDOW_S``; of a BYOK key, puts the key in cooldown for the upstream's ``retry-after``, else
  ``HEALTH_WINDOW_S``.
- Every answered shared attempt adds to the provider/model's latency and throughput counters.

Only what an upstream did on the operator's own credentials, within the operator's own timeouts, is shared
(``shares_signal``): a BYOK attempt (the customer's key, account, region and quota) feeds only that key's
cooldown, and an attempt cut by a limit the request set (its ``first_byte_timeout_ms``) marks nothing, so no
customer can make shared capacity look broken, slow or fast for another.

The request path never waits on AWS for any of it: ``observe`` updates this process's memory and queues the
write; ``signals`` reads memory only. A daemon thread, started on first use, writes queued failures at once
(while the request's next attempt runs), re-reads the shared health items at most every ``HEALTH_REFRESH_S``,
and every ``STATS_PERIOD_S`` adds this instance's counters to the shared ones (atomic ADDs) and re-reads the
last ``STATS_WINDOW_MINUTES``. Key cooldowns are stored in the customer's own account partition, so the one
account Query each request already makes brings every instance's cooldowns, with no further read.

The thread has no timer: it is woken when a request has just planned its attempts (so its AWS calls overlap the
upstream wait, when the request thread holds no GIL) or when a failure is queued. Botocore's signing and parsing
on a timer would compete for the GIL with requests' own work: measured in ``make bench``, it tripled the warm
p99. On Lambda this also matches the runtime, which freezes threads between invocations: what is still queued
when a function freezes goes out at its next invocation, and the chat handler wakes the thread first thing
when its health is stale (a thawed instance), so the re-read overlaps the caller's authentication.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import accounts, byok_keys, routing_signals
from gateway.routing.plan import RouteSignals

if TYPE_CHECKING:
    from gateway.routing.attempt import AttemptResult
    from gateway.routing.plan import PlannedAttempt

Route = tuple[str, str]  # (provider slug, catalog model id)

HEALTH_REFRESH_S = 1.0
STALE_HEALTH_S = 5.0  # a thawed instance: re-read before planning, not after
STATS_PERIOD_S = 30.0
STATS_WINDOW_MINUTES = 5
MAX_RETRY_AFTER_S = 3600.0  # an upstream's retry-after reorders a key for at most this long
_EXPIRY_MARGIN_S = 60

clock = time.time  # wall clock: failures are compared across instances (tests replace it)


def counts_against(result: AttemptResult) -> bool:
    """Whether a failed attempt says something about the provider or key (not about the request)."""
    record = result.record
    if record.outcome in ("timeout", "connection_error"):
        return True
    status = record.status_code
    return record.outcome != "success" and status is not None and (status == 429 or status >= 500)


def shares_signal(credential: str, result: AttemptResult) -> bool:
    """Whether an attempt may move other customers' routing (shared health, latency, throughput): it ran on the
    operator's credentials and nothing the request chose cut it short."""
    return credential == "shared" and not result.cut_by_request


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The upstream's ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), bounded; else None."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return _bounded(float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return _bounded(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return _bounded(when.timestamp() - clock())


def _bounded(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


@dataclass
class Counters:
    """Sums over some answered attempts of one provider/model."""

    ttft_ms: int = 0
    ttft_n: int = 0
    out_tokens: int = 0
    gen_ms: int = 0

    def add(self, other: Counters) -> None:
        self.ttft_ms += other.ttft_ms
        self.ttft_n += other.ttft_n
        self.out_tokens += other.out_tokens
        self.gen_ms += other.gen_ms

    def fields(self) -> dict[str, int]:
        return {"ttft_ms": self.ttft_ms, "ttft_n": self.ttft_n, "out_tokens": self.out_tokens, "gen_ms": self.gen_ms}


def _minute(epoch_s: float) -> int:
    return int(epoch_s // 60)


class RoutingState:
    """One instance's view of the shared signals, and its queue of writes. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cycle_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[Route, int] = {}  # route -> latest failure (epoch ms), this instance's and shared
        self._cooldowns: dict[tuple[str, str], int] = {}  # (account id, key id) -> cooldown end, this instance's
        self._shared_counters: dict[Route, Counters] = {}  # the window's sums across instances, as last read
        self._pending_failures: dict[Route, int] = {}
        self._pending_cooldowns: dict[tuple[str, str], int] = {}
        self._pending_counters: dict[tuple[int, Route], Counters] = {}
        self._next_health = 0.0
        self._next_stats = 0.0
        self._relaying = 0  # committed streams of this process still relaying: the worker waits for their end

    # --- request path: memory only ------------------------------------------------------------------------

    def observe(
        self, account_id: str, planned: PlannedAttempt, result: AttemptResult, *, measured: bool = True
    ) -> None:
        """Take note of one finished attempt; ``measured``: its success feeds latency and throughput (a call that
        generates nothing, such as token counting, does not)."""
        now = clock()
        route = (planned.provider, planned.model)
        shared = shares_signal(planned.credential, result)
        if result.ok:
            if shared and measured:
                self._count(now, route, result)
            return
        if not counts_against(result) or (planned.credential == "shared" and not shared):
            return
        at_ms = int(now * 1000)
        with self._lock:
            if planned.credential == "shared":
                self._failures[route] = max(self._failures.get(route, 0), at_ms)
                self._pending_failures[route] = max(self._pending_failures.get(route, 0), at_ms)
            else:
                seconds = result.retry_after_s or get_settings().health_window_s
                key = (account_id, planned.key.key_id)
                until_ms = at_ms + int(seconds * 1000)
                self._cooldowns = {k: v for k, v in self._cooldowns.items() if v > at_ms}
                self._cooldowns[key] = max(self._cooldowns.get(key, 0), until_ms)
                self._pending_cooldowns[key] = max(self._pending_cooldowns.get(key, 0), until_ms)
        self._ensure_worker()
        self._wake.set()

    def _count(self, now: float, route: Route, result: AttemptResult) -> None:
        latency_ms = max(result.record.latency_ms, 1)
        tokens = int((result.usage or {}).get("completion_tokens") or 0)
        # Time to first token: a streamed attempt is observed when it commits (its first delta), so its latency is
        # exactly that; a non-streamed answer's first token arrives with its last, so it is the whole latency.
        sample = Counters(ttft_ms=latency_ms, ttft_n=1, out_tokens=tokens, gen_ms=latency_ms if tokens else 0)
        with self._lock:
            self._pending_counters.setdefault((_minute(now), route), Counters()).add(sample)

    def signals(self, snapshot: accounts.AccountSnapshot, *, wake: bool = True) -> RouteSignals:
        """The signals for one request of ``snapshot``'s customer, from memory. With ``wake``, wakes the worker if
        work is due, to run while this request waits on its upstream; a streamed request does not (its upstream
        wait is short and the relay that follows should share the process with no AWS call)."""
        if wake:
            self._wake_if_due(0.0)
        now_ms = int(clock() * 1000)
        since_ms = now_ms - get_settings().health_window_s * 1000
        account_id = snapshot.account.account_id
        with self._lock:
            failed = frozenset(route for route, at in self._failures.items() if at > since_ms)
            local_cooling = {k for (acct, k), until in self._cooldowns.items() if acct == account_id and until > now_ms}
            totals: dict[Route, Counters] = {}
            for route, shared in self._shared_counters.items():
                totals.setdefault(route, Counters()).add(shared)
            for (_, route), pending in self._pending_counters.items():
                totals.setdefault(route, Counters()).add(pending)
        cooling = local_cooling | {k for k, until in snapshot.key_cooldowns.items() if until > now_ms}
        return RouteSignals(
            failed_shared=failed,
            cooling_keys=frozenset(cooling),
            ttft_ms={r: c.ttft_ms / c.ttft_n for r, c in totals.items() if c.ttft_n},
            tokens_per_s={r: c.out_tokens * 1000 / c.gen_ms for r, c in totals.items() if c.gen_ms},
        )

    def prefetch(self) -> None:
        """Wake the worker if its shared health is stale (the instance was idle or frozen), at request start."""
        self._wake_if_due(STALE_HEALTH_S)

    def relay_started(self) -> None:
        """A committed stream starts relaying: no AWS call from the worker until it has ended, so nothing of
        ours competes with the relay between the upstream's first byte and the client's last."""
        with self._lock:
            self._relaying += 1

    def relay_ended(self) -> None:
        """The stream's last byte is out (or the client left): what the worker deferred runs now."""
        with self._lock:
            self._relaying = max(0, self._relaying - 1)
        self._wake.set()

    def _relay_in_progress(self) -> bool:
        with self._lock:
            return self._relaying > 0

    def _wake_if_due(self, slack_s: float) -> None:
        self._ensure_worker()
        now = clock()
        if now >= self._next_health + slack_s or now >= self._next_stats + slack_s:
            self._wake.set()

    # --- background: writes and re-reads -----------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._thread is not None or self._stopped.is_set():
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="routing-signals", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopped.is_set():
                return
            self.cycle()

    def stop(self) -> None:
        """Stop the worker and wait for it: nothing this state queued is written after this returns."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def cycle(self, *, force: bool = False) -> None:
        """One round of the worker: write queued failures, then whatever re-reads and flushes are due.
        ``force`` does them all now (tests, and the benchmark's setup)."""
        with self._cycle_lock:
            if self._stopped.is_set():
                return
            now = clock()
            # While a stream relays, nothing: each step re-checks, so at most the call already under way overlaps.
            if not force and self._relay_in_progress():
                return
            self._guarded("write failures", self._write_failures, now)
            if (force or now >= self._next_health) and (force or not self._relay_in_progress()):
                self._next_health = now + HEALTH_REFRESH_S
                self._guarded("read health", self._read_failures, now)
            if (force or now >= self._next_stats) and (force or not self._relay_in_progress()):
                self._next_stats = now + STATS_PERIOD_S
                self._guarded("flush counters", self._flush_counters, now)
                self._guarded("read counters", self._read_counters, now)

    def _guarded(self, step: str, action: Callable[[float], None], now: float) -> None:
        try:
            action(now)
        except Exception as exc:  # routing signals are best effort: the next cycle tries again
            logger.warning("routing signals: %s failed", step, extra={"error_type": type(exc).__name__})

    def _write_failures(self, now: float) -> None:
        with self._lock:
            failures, self._pending_failures = self._pending_failures, {}
            cooldowns, self._pending_cooldowns = self._pending_cooldowns, {}
        window = get_settings().health_window_s
        for route, at_ms in failures.items():
            routing_signals.record_failure(route, at_ms, int(at_ms / 1000) + window + _EXPIRY_MARGIN_S)
        for (account_id, key_id), until_ms in cooldowns.items():
            byok_keys.record_key_cooldown(account_id, key_id, until_ms, int(until_ms / 1000) + _EXPIRY_MARGIN_S)

    def _read_failures(self, now: float) -> None:
        shared = routing_signals.failures(now)
        with self._lock:
            for route, at_ms in shared.items():
                self._failures[route] = max(self._failures.get(route, 0), at_ms)
            since_ms = int(now * 1000) - get_settings().health_window_s * 1000
            self._failures = {r: at for r, at in self._failures.items() if at > since_ms}

    def _flush_counters(self, now: float) -> None:
        with self._lock:
            pending, self._pending_counters = self._pending_counters, {}
        expires_at = int(now) + (STATS_WINDOW_MINUTES + 2) * 60 + _EXPIRY_MARGIN_S
        for (minute, route), counters in list(pending.items()):
            try:
                routing_signals.add_counters(minute, route, counters.fields(), expires_at)
            except Exception:
                with self._lock:  # keep what was not added for the next flush
                    for key, left in pending.items():
                        self._pending_counters.setdefault(key, Counters()).add(left)
                raise
            del pending[minute, route]

    def _read_counters(self, now: float) -> None:
        shared = routing_signals.counters(_minute(now) - STATS_WINDOW_MINUTES)
        with self._lock:
            self._shared_counters = {route: Counters(**fields) for route, fields in shared.items()}


_state: RoutingState | None = None
_state_lock = threading.Lock()


def state() -> RoutingState:
    global _state  # noqa: PLW0603
    if _state is None:
        with _state_lock:
            if _state is None:
                _state = RoutingState()
    return _state


def reset() -> None:
    """Forget this process's signals and stop its worker (tests switch AWS backends between cases)."""
    global _state  # noqa: PLW0603
    with _state_lock:
        if _state is not None:
            _state.stop()
        _state = None
