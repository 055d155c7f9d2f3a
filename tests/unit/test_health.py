"""Routing signals: what counts as a failure, retry-after, and sharing between instances through DynamoDB.

Two ``RoutingState`` objects in one process stand for two function instances: they share nothing but the
tables (moto), exactly as two Lambda instances would.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from gateway.data import accounts
from gateway.data.request_log import AttemptRecord
from gateway.routing import signals as health
from gateway.routing.attempt import AttemptResult
from gateway.routing.plan import PlannedAttempt
from tests.conftest import Gateway
from tests.unit.test_plan import CLAUDE, key, model

ANTHROPIC = model(CLAUDE).providers[0]
BEDROCK = model(CLAUDE).providers[1]


def planned(offer: Any = ANTHROPIC, credential: str = "shared", key_id: str = "anthropic") -> PlannedAttempt:
    return PlannedAttempt(offer, credential, key(offer.slug, key_id), CLAUDE)  # type: ignore[arg-type]


def result(
    outcome: str = "success",
    status: int | None = 200,
    latency_ms: int = 400,
    tokens: int = 20,
    retry_after_s: float | None = None,
    cut_by_request: bool = False,
) -> AttemptResult:
    record = AttemptRecord(
        attempt=1,
        provider="anthropic",
        credential="shared",
        key_id=None,
        status_code=status,
        outcome=outcome,  # type: ignore[arg-type]
        error=None,
        latency_ms=latency_ms,
        model=CLAUDE,
    )
    return AttemptResult(
        record=record,
        usage={"completion_tokens": tokens},
        retry_after_s=retry_after_s,
        cut_by_request=cut_by_request,
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_800_000_000.0]
    monkeypatch.setattr(health, "clock", lambda: now[0])
    return now


# --- classification ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "status", "counts"),
    [
        ("error", 429, True),
        ("error", 500, True),
        ("error", 503, True),
        ("timeout", None, True),
        ("connection_error", None, True),
        ("error", 401, False),  # the key, not the provider's health: never reorders shared capacity
        ("error", 404, False),
        ("error", 400, False),
        ("error", None, False),  # an unreadable answer
        ("success", 200, False),
    ],
)
def test_what_counts_against_a_provider_or_key(outcome: str, status: int | None, counts: bool) -> None:
    assert health.counts_against(result(outcome, status)) is counts


def test_retry_after_in_seconds_milliseconds_or_an_http_date(clock: list[float]) -> None:
    in_90_s = format_datetime(datetime.fromtimestamp(clock[0], UTC) + timedelta(seconds=90), usegmt=True)

    assert health.retry_after_seconds({"retry-after": "20"}) == 20
    assert health.retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert health.retry_after_seconds({"retry-after": in_90_s}) == pytest.approx(90)
    assert health.retry_after_seconds({"retry-after": "soon"}) is None
    assert health.retry_after_seconds({"retry-after": "-4"}) is None
    assert health.retry_after_seconds({"retry-after": "nan"}) is None
    assert health.retry_after_seconds({"retry-after": "99999999"}) == health.MAX_RETRY_AFTER_S
    assert health.retry_after_seconds({}) is None


# --- one instance, memory only ---------------------------------------------------------------------------


def snapshot(account_id: str = "acct_0000000000000001", cooldowns: dict[str, int] | None = None) -> Any:
    from decimal import Decimal

    account = accounts.Account(account_id=account_id, name="t", credits=Decimal(1), created_at="2026-01-01T00:00:00Z")
    return accounts.AccountSnapshot(account=account, key_cooldowns=cooldowns or {})


@pytest.fixture
def quiet_state(monkeypatch: pytest.MonkeyPatch) -> health.RoutingState:
    """A state whose worker never starts: memory only."""
    state = health.RoutingState()
    monkeypatch.setattr(state, "_ensure_worker", lambda: None)
    return state


def test_a_shared_failure_counts_for_the_health_window_then_recovers(
    quiet_state: health.RoutingState, clock: list[float]
) -> None:
    quiet_state.observe("acct_0000000000000001", planned(), result("error", 503))

    assert quiet_state.signals(snapshot()).failed_shared == {("anthropic", CLAUDE)}
    clock[0] += 29
    assert quiet_state.signals(snapshot()).failed_shared == {("anthropic", CLAUDE)}
    clock[0] += 2  # past HEALTH_WINDOW_S (30)
    assert quiet_state.signals(snapshot()).failed_shared == frozenset()


def test_a_byok_failure_cools_the_key_not_shared_capacity(quiet_state: health.RoutingState, clock: list[float]) -> None:
    quiet_state.observe("acct_0000000000000001", planned(credential="byok", key_id="key_a"), result("error", 429))

    signals = quiet_state.signals(snapshot())
    assert signals.cooling_keys == {"key_a"}
    assert signals.failed_shared == frozenset()
    # another customer's request never sees this customer's keys
    assert quiet_state.signals(snapshot("acct_0000000000000002")).cooling_keys == frozenset()


def test_a_key_cooldown_lasts_the_upstreams_retry_after(quiet_state: health.RoutingState, clock: list[float]) -> None:
    quiet_state.observe(
        "acct_0000000000000001", planned(credential="byok", key_id="key_a"), result("error", 429, retry_after_s=5)
    )

    clock[0] += 4
    assert quiet_state.signals(snapshot()).cooling_keys == {"key_a"}
    clock[0] += 2
    assert quiet_state.signals(snapshot()).cooling_keys == frozenset()


def test_latency_and_throughput_are_means_over_answered_attempts(
    quiet_state: health.RoutingState, clock: list[float]
) -> None:
    quiet_state.observe("a", planned(), result(latency_ms=300, tokens=30))
    quiet_state.observe("a", planned(), result(latency_ms=500, tokens=10))
    quiet_state.observe("a", planned(BEDROCK, key_id="amazon-bedrock"), result("error", 503, latency_ms=5))

    signals = quiet_state.signals(snapshot())
    assert signals.ttft_ms == {("anthropic", CLAUDE): 400}
    assert signals.tokens_per_s == {("anthropic", CLAUDE): pytest.approx(50)}  # 40 tokens in 0.8 s


# --- whose attempts are shared: the operator's credentials, within the operator's timeouts -----------------


@pytest.mark.parametrize(
    ("credential", "cut_by_request", "shared"),
    [
        ("shared", False, True),
        ("shared", True, False),  # the request's own first_byte_timeout_ms cut it
        ("byok", False, False),  # the customer's key, region and quota
        ("byok", True, False),
    ],
)
def test_only_the_operators_credentials_and_timeouts_are_shared(
    credential: str, cut_by_request: bool, shared: bool
) -> None:
    assert health.shares_signal(credential, result("timeout", None, cut_by_request=cut_by_request)) is shared


def test_a_timeout_the_request_set_marks_nothing_shared(quiet_state: health.RoutingState, clock: list[float]) -> None:
    quiet_state.observe("acct_0000000000000001", planned(), result("timeout", None, cut_by_request=True))

    assert quiet_state.signals(snapshot("acct_0000000000000002")).failed_shared == frozenset()


def test_the_operators_timeout_still_marks_shared_capacity(
    quiet_state: health.RoutingState, clock: list[float]
) -> None:
    quiet_state.observe("acct_0000000000000001", planned(), result("timeout", None))

    assert quiet_state.signals(snapshot("acct_0000000000000002")).failed_shared == {("anthropic", CLAUDE)}


def test_a_byok_key_cut_by_its_own_timeout_still_cools_that_key(
    quiet_state: health.RoutingState, clock: list[float]
) -> None:
    byok = planned(credential="byok", key_id="key_a")
    quiet_state.observe("acct_0000000000000001", byok, result("timeout", None, cut_by_request=True))

    signals = quiet_state.signals(snapshot())
    assert (signals.cooling_keys, signals.failed_shared) == ({"key_a"}, frozenset())


def test_byok_answers_feed_no_latency_or_throughput(quiet_state: health.RoutingState, clock: list[float]) -> None:
    for _ in range(6):
        quiet_state.observe("a", planned(credential="byok", key_id="key_a"), result(latency_ms=9_000, tokens=1))
    quiet_state.observe("b", planned(), result(latency_ms=300, tokens=30))

    signals = quiet_state.signals(snapshot("b"))
    assert signals.ttft_ms == {("anthropic", CLAUDE): 300}
    assert signals.tokens_per_s == {("anthropic", CLAUDE): pytest.approx(100)}


def test_the_account_snapshots_cooldowns_count_too(quiet_state: health.RoutingState, clock: list[float]) -> None:
    now_ms = int(clock[0] * 1000)
    snap = snapshot(cooldowns={"key_live": now_ms + 1000, "key_over": now_ms - 1})

    assert quiet_state.signals(snap).cooling_keys == {"key_live"}


# --- two instances through DynamoDB ---------------------------------------------------------------------


@pytest.fixture
def instances(gateway: Gateway) -> Any:
    a, b = health.RoutingState(), health.RoutingState()
    yield a, b
    a.stop()
    b.stop()


def test_a_shared_failure_on_one_instance_reorders_the_other(instances: Any) -> None:
    a, b = instances
    a.observe("acct", planned(), result("error", 503))
    a.cycle(force=True)
    b.cycle(force=True)

    assert b.signals(snapshot()).failed_shared == {("anthropic", CLAUDE)}


def test_a_key_cooldown_reaches_every_instance_through_the_account_query(instances: Any, gateway: Gateway) -> None:
    a, b = instances
    account_id = gateway.customer.account_id
    a.observe(account_id, planned(credential="byok", key_id="key_a"), result("error", 429, retry_after_s=120))
    a.cycle(force=True)

    loaded = accounts.load_account(account_id)
    assert loaded is not None
    assert set(loaded.key_cooldowns) == {"key_a"}
    assert loaded.keys == []  # a cooldown is not a key
    assert b.signals(loaded).cooling_keys == {"key_a"}


def test_counters_from_several_instances_add_up_exactly(instances: Any) -> None:
    a, b = instances
    for _ in range(3):
        a.observe("acct", planned(), result(latency_ms=100, tokens=10))
    b.observe("acct", planned(), result(latency_ms=500, tokens=10))
    a.cycle(force=True)
    b.cycle(force=True)
    a.cycle(force=True)

    for state in (a, b):
        signals = state.signals(snapshot())
        assert signals.ttft_ms == {("anthropic", CLAUDE): 200}  # (3 * 100 + 500) / 4
        assert signals.tokens_per_s == {("anthropic", CLAUDE): pytest.approx(40 * 1000 / 800)}


def test_the_worker_thread_writes_a_failure_within_a_second_or_two(instances: Any) -> None:
    a, b = instances
    a.observe("acct", planned(), result("timeout", None))  # wakes a's worker; no explicit cycle

    deadline = time.monotonic() + 3
    seen: frozenset[Any] = frozenset()
    while time.monotonic() < deadline and not seen:
        b.cycle(force=True)
        seen = b.signals(snapshot()).failed_shared
        time.sleep(0.05)
    assert seen == {("anthropic", CLAUDE)}


def test_the_worker_makes_no_aws_call_while_a_stream_relays(instances: Any) -> None:
    a, b = instances
    a.relay_started()
    a.observe("acct", planned(), result("error", 503))  # queued, and the worker is woken
    a.cycle()
    b.cycle(force=True)
    assert b.signals(snapshot()).failed_shared == frozenset()  # deferred: nothing written mid-stream

    a.relay_ended()  # the last byte is out
    deadline = time.monotonic() + 3
    seen: frozenset[Any] = frozenset()
    while time.monotonic() < deadline and not seen:
        b.cycle(force=True)
        seen = b.signals(snapshot()).failed_shared
        time.sleep(0.05)
    assert seen == {("anthropic", CLAUDE)}


def test_a_table_outage_never_reaches_the_request(instances: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = instances

    def down(*_: Any, **__: Any) -> None:
        raise ConnectionError("dynamodb unreachable")

    monkeypatch.setattr(health.routing_signals, "record_failure", down)
    monkeypatch.setattr(health.routing_signals, "add_counters", down)
    a.observe("acct", planned(), result("error", 503))
    a.observe("acct", planned(), result(latency_ms=100, tokens=10))
    a.cycle(force=True)

    # Then this instance still routes on what it saw, and keeps its counters for the next flush
    signals = a.signals(snapshot())
    assert signals.failed_shared == {("anthropic", CLAUDE)}
    assert signals.ttft_ms == {("anthropic", CLAUDE): 100}


def test_items_past_their_expiry_are_ignored_though_ttl_has_not_deleted_them(instances: Any) -> None:
    from gateway.data import routing_signals

    now = time.time()
    routing_signals.record_failure(("anthropic", CLAUDE), int(now * 1000) - 120_000, int(now) - 1)
    routing_signals.record_failure(("amazon-bedrock", CLAUDE), int(now * 1000), int(now) + 60)

    assert set(routing_signals.failures(now)) == {("amazon-bedrock", CLAUDE)}


def test_a_later_failure_is_never_overwritten_by_an_earlier_one(instances: Any) -> None:
    from gateway.data import routing_signals

    now = time.time()
    routing_signals.record_failure(("anthropic", CLAUDE), 2_000, int(now) + 60)
    routing_signals.record_failure(("anthropic", CLAUDE), 1_000, int(now) + 60)  # a slower instance, late

    assert routing_signals.failures(now) == {("anthropic", CLAUDE): 2_000}
