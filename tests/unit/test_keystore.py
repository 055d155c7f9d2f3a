"""Platform credentials cache: one read per process lifetime window, never on a warm request's path."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.data import byok_keys
from gateway.security import credential_cache as keystore


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    keystore.clear()


def fake_key(provider: str) -> byok_keys.StoredKey:
    return byok_keys.StoredKey(
        account_id="platform",
        key_id=provider,
        provider=provider,
        hint="****",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
        ciphertext=b"x",
    )


def test_platform_keys_are_read_once_then_served_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    monkeypatch.setattr(byok_keys, "platform_keys", lambda: reads.append(1) or [fake_key("openai")])
    first = keystore.platform_keys()
    second = keystore.platform_keys()
    assert [k.provider for k in first] == [k.provider for k in second] == ["openai"]
    assert len(reads) == 1


def test_expired_list_is_served_stale_while_one_background_reload_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    reads: list[str] = []

    def slow_reload() -> list[byok_keys.StoredKey]:
        reads.append("reload")
        if len(reads) > 1:
            release.wait(5)
            return [fake_key("anthropic")]
        return [fake_key("openai")]

    monkeypatch.setattr(byok_keys, "platform_keys", slow_reload)
    keystore.platform_keys()
    monkeypatch.setattr(keystore, "_platform", (time.monotonic() - 1, [fake_key("openai")]))  # expired
    stale = [keystore.platform_keys() for _ in range(5)]
    # The reload is parked on ``release``: a caller that waited for it would have got its list (anthropic).
    assert all([k.provider for k in keys] == ["openai"] for keys in stale), "no caller may wait for the reload"
    release.set()
    deadline = time.monotonic() + 5
    while keystore.platform_keys()[0].provider != "anthropic" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert keystore.platform_keys()[0].provider == "anthropic"
    assert reads.count("reload") == 2, "five stale callers share one background reload"
