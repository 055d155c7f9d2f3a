"""Gateway API keys over HTTP (issue 23): management and ordinary keys, the key shown once and hashed at rest,
revocation and expiry on the very next request, allowed models and per-key rate limits on every model route.

Given the real handlers behind the local API server, moto-backed tables and the provider simulator.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest

from gateway.data import api_keys
from local.seed import PLATFORM_API_KEYS
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, count_profile_writes, count_updates, credential_id

CHAT = {"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
PLATFORM_DEEPSEEK = PLATFORM_API_KEYS["deepseek"]
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
COUNT = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def manager(api: Any, gateway: Gateway) -> Iterator[httpx.Client]:
    """The account's management key: the one ``make admin create-account`` printed."""
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=20) as http:
        yield http


def as_key(api: Any, key: str) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def create(manager: httpx.Client, **body: Any) -> dict[str, Any]:
    response = manager.post("/v1/api-keys", json={"name": "service", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def stored_items(gateway: Gateway) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    return list(table.scan()["Items"])


def test_a_created_key_is_shown_once_hashed_at_rest_and_calls_the_models(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    created = create(manager, name="billing service")

    key = created.pop("key")
    assert key.startswith("gwk_")
    assert set(created) == {
        "id",
        "name",
        "management",
        "hint",
        "limit",
        "spent",
        "rate_limit_rpm",
        "allowed_models",
        "expires_at",
        "created_at",
        "last_used_at",
    }
    assert (created["name"], created["management"], created["hint"]) == ("billing service", False, f"gwk_...{key[-4:]}")
    listed = manager.get("/v1/api-keys").json()["data"]
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert "key" not in manager.get(f"/v1/api-keys/{created['id']}").json()
    items = stored_items(gateway)
    assert not any(key in repr(item) for item in items), "the key itself is never stored"
    assert any(item["sk"] == f"APIKEY#{hashlib.sha256(key.encode()).hexdigest()}" for item in items)
    with as_key(api, key) as service:
        assert service.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert service.get("/v1/logs").status_code == 200
        assert service.get("/v1/usage").status_code == 200


def test_an_ordinary_key_cannot_manage_api_keys_or_byok_keys(api: Any, manager: httpx.Client) -> None:
    ordinary = create(manager)
    with as_key(api, ordinary["key"]) as service:
        attempts = [
            service.post("/v1/api-keys", json={"name": "escalate", "management": True}),
            service.get("/v1/api-keys"),
            service.get(f"/v1/api-keys/{ordinary['id']}"),
            service.patch(f"/v1/api-keys/{ordinary['id']}", json={"management": True}),
            service.delete(f"/v1/api-keys/{ordinary['id']}"),
            service.get("/v1/byok/keys"),
            service.post("/v1/byok/keys", json={"provider": "openai", "credentials": "sk-proj-x"}),
            service.post("/v1/byok/keys/key_x/test"),
            service.delete("/v1/byok/keys/key_x"),
        ]
    assert [(r.status_code, r.json()["error"]["code"]) for r in attempts] == [(403, "forbidden")] * len(attempts)
    assert manager.get(f"/v1/api-keys/{ordinary['id']}").json()["management"] is False


def test_a_management_key_it_creates_can_manage(api: Any, manager: httpx.Client) -> None:
    admin = create(manager, management=True)
    with as_key(api, admin["key"]) as second:
        assert second.post("/v1/api-keys", json={"name": "from second"}).status_code == 201
        assert second.get("/v1/byok/keys").status_code == 200


def test_delete_revokes_on_the_very_next_request_even_from_a_warm_auth_cache(api: Any, manager: httpx.Client) -> None:
    created = create(manager)
    with as_key(api, created["key"]) as service:
        assert service.get("/v1/logs").status_code == 200  # proven: the process now caches the key
        assert manager.delete(f"/v1/api-keys/{created['id']}").status_code == 204
        after = service.post("/v1/chat/completions", json=CHAT)
    assert after.status_code == 401
    assert manager.get(f"/v1/api-keys/{created['id']}").status_code == 404
    assert created["id"] not in [k["id"] for k in manager.get("/v1/api-keys").json()["data"]]


def test_an_expired_key_is_401(api: Any, manager: httpx.Client) -> None:
    created = create(manager, expires_at="2099-01-01T00:00:00Z")
    with as_key(api, created["key"]) as service:
        assert service.post("/v1/chat/completions", json=CHAT).status_code == 200
        patched = manager.patch(f"/v1/api-keys/{created['id']}", json={"expires_at": "2020-01-01T00:00:00+00:00"})
        assert patched.json()["expires_at"] == "2020-01-01T00:00:00.000Z"
        assert service.post("/v1/chat/completions", json=CHAT).status_code == 401
        assert service.get("/v1/logs").status_code == 401


def test_the_account_holds_at_most_max_api_keys_even_when_creates_race(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch, serialized_dynamodb: None
) -> None:
    configure(monkeypatch, MAX_API_KEYS_PER_ACCOUNT="4")  # the admin key is one of them

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda i: manager.post("/v1/api-keys", json={"name": f"k{i}"}), range(6)))

    assert sorted(r.status_code for r in answers) == [201, 201, 201, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"api_key_limit_reached"}
    assert len(manager.get("/v1/api-keys").json()["data"]) == 4


def test_last_used_at_is_stamped_by_a_model_request_without_a_write_per_request(
    api: Any, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create(manager)
    assert created["last_used_at"] is None
    stamps: list[tuple[Any, ...]] = []
    stamped = threading.Event()
    real = api_keys._stamp_use

    def stamp(*args: Any) -> None:
        stamps.append(args)
        real(*args)
        stamped.set()

    monkeypatch.setattr(api_keys, "_stamp_use", stamp)
    with as_key(api, created["key"]) as service:
        assert service.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert stamped.wait(timeout=10)
        first = manager.get(f"/v1/api-keys/{created['id']}").json()["last_used_at"]
        assert first is not None
        for _ in range(3):
            assert service.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert service.get("/v1/logs").status_code == 200
    assert len(stamps) == 1, "within a minute of the last stamp, requests write nothing"


def test_allowed_models_refuse_other_models_on_every_model_route(api: Any, manager: httpx.Client) -> None:
    created = create(manager, allowed_models=["deepseek/deepseek-v3.2", "claude-sonnet-4-5"])
    assert created["allowed_models"] == ["deepseek/deepseek-v3.2", "anthropic/claude-sonnet-4.5"]
    with as_key(api, created["key"]) as service:
        refused = [
            service.post("/v1/chat/completions", json=CHAT),
            service.post(
                "/v1/chat/completions",
                json={**CHAT, "model": "deepseek/deepseek-v3.2", "models": ["openai/gpt-5-mini"]},
            ),
        ]
        allowed = service.post("/v1/chat/completions", json={**CHAT, "model": "deepseek/deepseek-v3.2"})
        messages = service.post("/v1/messages", json=MESSAGES)
        other = service.post("/v1/messages/count_tokens", json={**COUNT, "model": "openai/gpt-5-mini"})
    assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [(403, "model_not_allowed")] * 2
    assert allowed.status_code == 200 and messages.status_code == 200
    assert (other.status_code, other.json()["error"]["type"]) == (403, "permission_error")  # Anthropic's shape
    unknown = manager.post("/v1/api-keys", json={"name": "x", "allowed_models": ["no/such-model"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "allowed_models"


def test_a_rate_limited_key_gets_429_with_the_seconds_left_in_its_minute(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = {"t": 1_800_000_000.0 + 15.2}  # 15.2 s into a minute
    monkeypatch.setattr(api_keys, "clock", lambda: now["t"])
    created = create(manager, rate_limit_rpm=3)
    with as_key(api, created["key"]) as service:
        statuses = [service.post("/v1/chat/completions", json=CHAT).status_code for _ in range(3)]
        limited = service.post("/v1/chat/completions", json=CHAT)
        counted = service.post("/v1/messages/count_tokens", json=COUNT)
        now["t"] += 45  # the next minute
        again = service.post("/v1/chat/completions", json=CHAT)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["retry-after"] == "45"  # ceil(60 - 15.2)
    assert counted.status_code == 429
    assert again.status_code == 200
    calls = [r for r in gateway.sim.requests if "chat/completions" in r.path]
    assert len(calls) == 4, "a refused request never reached an upstream"


def test_concurrent_requests_never_pass_a_rate_limit(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch, serialized_dynamodb: None
) -> None:
    monkeypatch.setattr(api_keys, "clock", lambda: 1_800_000_000.0 + 1)
    created = create(manager, rate_limit_rpm=5)
    with as_key(api, created["key"]) as service, ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: service.post("/v1/chat/completions", json=CHAT), range(50)))
    assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 45


def count_rate_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every UpdateItem that takes rate slots on an API key's item from now on."""
    return count_updates(monkeypatch, lambda kwargs: "rate_count" in kwargs["UpdateExpression"])


def test_a_busy_key_takes_its_rate_slots_in_batches_and_never_passes_its_limit(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch, serialized_dynamodb: None
) -> None:
    # Given a key allowed 45 requests a minute (batches of 2: 1/20 of the limit)
    monkeypatch.setattr(api_keys, "clock", lambda: 1_800_000_000.0 + 1)
    created = create(manager, rate_limit_rpm=45)
    writes = count_rate_writes(monkeypatch)
    with as_key(api, created["key"]) as service, ThreadPoolExecutor(max_workers=10) as pool:
        # When one instance serves 21 requests, then dies with its unspent slot (a new instance starts empty)
        first = [service.post("/v1/chat/completions", json=CHAT).status_code for _ in range(21)]
        first_writes = len(writes)
        api_keys.clear_auth_cache()
        # and the next instance meets 50 concurrent requests
        burst = list(pool.map(lambda _: service.post("/v1/chat/completions", json=CHAT).status_code, range(50)))

    # Then the first took 11 batches for 21 requests, and no number of requests passed the limit: the lost
    # slot is the only one not served
    assert first == [200] * 21 and first_writes == 11
    assert sorted(burst) == [200] * 23 + [429] * 27
    digest = hashlib.sha256(created["key"].encode()).hexdigest()
    item_key = {"pk": f"ACCOUNT#{gateway.customer.account_id}", "sk": f"APIKEY#{digest}"}
    stored = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"]).get_item(Key=item_key)["Item"]
    assert stored["rate_count"] == 45
    # 11 batches of two, then for the odd slot a batch refused and one taken, then a batch and one refused: the
    # window is full, and the 25 other refusals cost no write
    assert len(writes) - first_writes == 11 + 2 + 2


# --- BYOK key placement ----------------------------------------------------------------------------------------


def test_a_byok_key_after_shared_serves_only_once_shared_capacity_failed(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    credentials = byok_credentials(gateway.sim, "deepseek")
    key = add_key(api.url, gateway.api_key, "deepseek", credentials, priority="after_shared")
    assert (key["priority"], key["allowed_models"]) == ("after_shared", None)
    body = {**CHAT, "model": "deepseek/deepseek-v3.2", "provider": {"only": ["deepseek"]}}

    shared = manager.post("/v1/chat/completions", json=body)
    gateway.sim.fail("deepseek", status=503, credential=credential_id(PLATFORM_DEEPSEEK))
    fallback = manager.post("/v1/chat/completions", json=body)

    assert (shared.status_code, shared.headers["x-gateway-byok"]) == (200, "false")
    assert (fallback.status_code, fallback.headers["x-gateway-byok"]) == (200, "true")
    assert fallback.headers["x-gateway-attempts"] == "2"


def test_a_byok_key_restricted_to_other_models_is_not_used(api: Any, gateway: Gateway, manager: httpx.Client) -> None:
    credentials = byok_credentials(gateway.sim, "deepseek")
    key = add_key(api.url, gateway.api_key, "deepseek", credentials, allowed_models=["openai/gpt-5-mini"])
    body = {**CHAT, "model": "deepseek/deepseek-v3.2", "provider": {"only": ["deepseek"]}}

    restricted = manager.post("/v1/chat/completions", json=body)
    patched = manager.patch(f"/v1/byok/keys/{key['id']}", json={"allowed_models": None})
    unrestricted = manager.post("/v1/chat/completions", json=body)

    assert restricted.headers["x-gateway-byok"] == "false"
    assert patched.json()["allowed_models"] is None
    assert unrestricted.headers["x-gateway-byok"] == "true"


def test_another_accounts_api_key_is_404_and_untouched(api: Any, gateway: Gateway, manager: httpx.Client) -> None:
    mine = create(manager)
    other = gateway.create_customer("customer b")
    with as_key(api, other.api_key) as stranger:
        seen = [
            stranger.get(f"/v1/api-keys/{mine['id']}"),
            stranger.patch(f"/v1/api-keys/{mine['id']}", json={"name": "hijacked"}),
            stranger.delete(f"/v1/api-keys/{mine['id']}"),
        ]
        listed = stranger.get("/v1/api-keys").json()["data"]
    assert [r.status_code for r in seen] == [404, 404, 404]
    assert mine["id"] not in [k["id"] for k in listed]
    assert manager.get(f"/v1/api-keys/{mine['id']}").json()["name"] == "service"
    with as_key(api, mine["key"]) as service:
        assert service.post("/v1/chat/completions", json=CHAT).status_code == 200


# --- logs per API key ------------------------------------------------------------------------------------------


def test_logs_carry_the_api_key_id_and_filter_by_it_on_its_index(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    first, second = create(manager, name="one"), create(manager, name="two")
    with as_key(api, first["key"]) as one, as_key(api, second["key"]) as two:
        made_by_one = [one.post("/v1/chat/completions", json=CHAT).headers["x-request-id"] for _ in range(2)]
        refused = one.post("/v1/chat/completions", json={**CHAT, "model": "no/such-model"}).headers["x-request-id"]
        made_by_two = two.post("/v1/chat/completions", json=CHAT).headers["x-request-id"]

        def ids(client: httpx.Client, **query: str) -> list[str]:
            response = client.get("/v1/logs", params=query)
            assert response.status_code == 200, response.text
            return [r["request_id"] for r in response.json()["data"]]

        assert ids(two, api_key_id=first["id"]) == [refused, *reversed(made_by_one)]  # any key reads the account's
        assert ids(one, api_key_id=second["id"]) == [made_by_two]
        assert ids(one, api_key_id=first["id"], status="error") == [refused]
        assert ids(one, api_key_id=first["id"], status="success", is_byok="false") == list(reversed(made_by_one))
        record = one.get(f"/v1/logs/{made_by_two}").json()
        bad = one.get("/v1/logs", params={"api_key_id": "gwk_secret"})
    assert record["api_key_id"] == second["id"]
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "api_key_id")
    assert "gwk_secret" not in bad.text


def test_usage_per_api_key_counts_only_that_keys_requests(
    api: Any, gateway: Gateway, manager: httpx.Client, usage_stream: Any
) -> None:
    first, second = create(manager, name="one"), create(manager, name="two")
    with as_key(api, first["key"]) as one, as_key(api, second["key"]) as two:
        for _ in range(2):
            assert one.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert two.post("/v1/chat/completions", json={**CHAT, "model": "no/such-model"}).status_code == 404
        assert usage_stream.flush() >= 3

        def now(client: httpx.Client, **query: str) -> dict[str, Any]:
            response = client.get("/v1/usage", params=query)
            assert response.status_code == 200, response.text
            return dict(response.json()["data"][-1])

        account, of_one, of_two = now(one), now(one, api_key_id=first["id"]), now(two, api_key_id=second["id"])
        bad = one.get("/v1/usage", params={"api_key_id": "nope"})
    assert (account["shared"]["requests"], account["shared"]["errors"]) == (3, 1)
    assert (of_one["shared"]["requests"], of_one["shared"]["errors"]) == (2, 0)
    assert of_one["shared"]["cost"] == account["shared"]["cost"] > 0
    assert (of_two["shared"]["requests"], of_two["shared"]["errors"]) == (1, 1)
    assert bad.status_code == 400


# --- budgets ---------------------------------------------------------------------------------------------------

BUDGET_CHAT = {**CHAT, "max_tokens": 16}


def hold_usd() -> Decimal:
    """What one BUDGET_CHAT request holds on shared openai (its worst case), from the gateway's own pricing."""
    from gateway.apis.chat.schema import ChatRequest
    from gateway.billing import credits
    from gateway.core.catalog import get_catalog

    model = get_catalog().model("openai/gpt-5-mini")
    assert model is not None
    offer = next(o for o in model.providers if o.slug == "openai")
    return Decimal(credits.to_nanos(credits.max_cost(offer, ChatRequest.model_validate(BUDGET_CHAT)))) / NANO


NANO = Decimal(1_000_000_000)


def test_a_key_budget_refuses_with_402_once_spent_and_spent_is_exact(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    limit = (hold_usd() * Decimal("2.5")).quantize(Decimal("0.000000001"))
    created = create(manager, limit={"usd": str(limit), "period": "day"})
    assert created["limit"] == {"usd": float(limit), "period": "day", "include_byok": False}
    costs: list[Decimal] = []
    with as_key(api, created["key"]) as service:
        for _ in range(40):
            answer = service.post("/v1/chat/completions", json=BUDGET_CHAT)
            if answer.status_code != 200:
                break
            costs.append(Decimal(str(answer.json()["usage"]["cost"])))
        assert (answer.status_code, answer.json()["error"]["code"]) == (402, "key_budget_exceeded")
        assert len(gateway.sim.requests) == len(costs), "a refused request never reached an upstream"
    spent = Decimal(str(manager.get(f"/v1/api-keys/{created['id']}").json()["spent"]))
    assert len(costs) >= 2
    assert spent == sum(costs)
    assert spent + hold_usd() > limit >= spent
    with as_key(api, manager.headers["authorization"].removeprefix("Bearer ")) as unlimited:
        assert unlimited.post("/v1/chat/completions", json=BUDGET_CHAT).status_code == 200  # only that key


def test_fifty_concurrent_requests_never_pass_a_key_budget(
    api: Any, gateway: Gateway, manager: httpx.Client, serialized_dynamodb: None
) -> None:
    limit = (hold_usd() * Decimal("5.5")).quantize(Decimal("0.000000001"))
    created = create(manager, limit={"usd": str(limit), "period": "month"})
    with as_key(api, created["key"]) as service, ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: service.post("/v1/chat/completions", json=BUDGET_CHAT), range(50)))
    served = [Decimal(str(a.json()["usage"]["cost"])) for a in answers if a.status_code == 200]
    refused = [a.json()["error"]["code"] for a in answers if a.status_code != 200]
    spent = Decimal(str(manager.get(f"/v1/api-keys/{created['id']}").json()["spent"]))
    assert len(served) >= 5 and refused and set(refused) == {"key_budget_exceeded"}
    assert spent == sum(served) <= limit
    profile = (
        boto3.resource("dynamodb")
        .Table(gateway.env["ACCOUNTS_TABLE"])
        .get_item(Key={"pk": f"ACCOUNT#{gateway.customer.account_id}", "sk": "PROFILE"})["Item"]
    )
    assert profile["holds"] == {}, "every hold settled or released"


def test_a_spent_daily_budget_serves_again_the_next_utc_day_and_drops_the_old_counter(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.billing import budgets

    today = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    monkeypatch.setattr(budgets, "clock", lambda: today)
    created = create(manager, limit={"usd": str(hold_usd()), "period": "day"})
    with as_key(api, created["key"]) as service:
        assert service.post("/v1/chat/completions", json=BUDGET_CHAT).status_code == 200
        assert service.post("/v1/chat/completions", json=BUDGET_CHAT).status_code == 402
        monkeypatch.setattr(budgets, "clock", lambda: today + timedelta(minutes=1))
        assert manager.get(f"/v1/api-keys/{created['id']}").json()["spent"] == 0
        assert service.post("/v1/chat/completions", json=BUDGET_CHAT).status_code == 200
    profile = (
        boto3.resource("dynamodb")
        .Table(gateway.env["ACCOUNTS_TABLE"])
        .get_item(Key={"pk": f"ACCOUNT#{gateway.customer.account_id}", "sk": "PROFILE"})["Item"]
    )
    assert sorted(name[-9:] for name in profile if name.startswith("spend_")) == ["d20261207"]


def test_the_accounts_shared_limit_is_held_like_a_budget_and_leaves_byok_serving(
    api: Any, gateway: Gateway, manager: httpx.Client, serialized_dynamodb: None
) -> None:
    limit = (hold_usd() * Decimal("5.5")).quantize(Decimal("0.000000001"))
    ordinary = create(manager)
    with as_key(api, ordinary["key"]) as service:
        assert service.patch("/v1/account", json={"shared_limit": None}).status_code == 403
    patched = manager.patch("/v1/account", json={"shared_limit": {"usd": str(limit), "period": "month"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["shared_limit"] == {"usd": float(limit), "period": "month", "spent": 0.0}

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: manager.post("/v1/chat/completions", json=BUDGET_CHAT), range(50)))
    served = [Decimal(str(a.json()["usage"]["cost"])) for a in answers if a.status_code == 200]
    refused = {a.json()["error"]["code"] for a in answers if a.status_code != 200}
    spent = Decimal(str(manager.get("/v1/account").json()["shared_limit"]["spent"]))
    assert len(served) >= 5 and refused == {"shared_limit_reached"}
    assert spent == sum(served) <= limit

    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    byok = manager.post("/v1/chat/completions", json=BUDGET_CHAT)
    assert (byok.status_code, byok.headers["x-gateway-byok"]) == (200, "true")
    assert manager.patch("/v1/account", json={"shared_limit": None}).json()["shared_limit"] is None


def test_an_exhausted_key_is_refused_on_every_route_that_reaches_an_upstream(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    created = create(manager, limit={"usd": str(hold_usd()), "period": "total"})
    messages = {**MESSAGES, "model": "openai/gpt-5-mini"}
    with as_key(api, created["key"]) as service:
        assert service.post("/v1/chat/completions", json=BUDGET_CHAT).status_code == 200
        before = len(gateway.sim.requests)
        answers = {
            "chat": service.post("/v1/chat/completions", json=BUDGET_CHAT),
            "chat stream": service.post("/v1/chat/completions", json={**BUDGET_CHAT, "stream": True}),
            "messages": service.post("/v1/messages", json=messages),
            "messages stream": service.post("/v1/messages", json={**messages, "stream": True}),
        }
    assert {route: answer.status_code for route, answer in answers.items()} == dict.fromkeys(answers, 402)
    assert answers["chat"].json()["error"]["code"] == "key_budget_exceeded"
    assert "budget" in answers["messages"].json()["error"]["message"]
    assert len(gateway.sim.requests) == before, "nothing reached an upstream"


# --- budgets that count BYOK (include_byok) ---------------------------------------------------------------------


def list_price(answer: httpx.Response) -> Decimal:
    """What the answer's tokens cost at the openai offer's list price (shared capacity's price)."""
    from gateway.core.catalog import get_catalog

    model = get_catalog().model("openai/gpt-5-mini")
    assert model is not None
    offer = next(o for o in model.providers if o.slug == "openai")
    usage = answer.json()["usage"]
    return offer.cost(usage["prompt_tokens"], usage["completion_tokens"])


def profile_item(gateway: Gateway) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    return dict(table.get_item(Key={"pk": f"ACCOUNT#{gateway.customer.account_id}", "sk": "PROFILE"})["Item"])


def test_include_byok_counts_byok_requests_at_list_price_and_refuses_them_once_spent(
    api: Any, gateway: Gateway, manager: httpx.Client
) -> None:
    # Given a BYOK openai key and an API key whose budget (2.5 holds) counts BYOK at list price
    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    limit = (hold_usd() * Decimal("2.5")).quantize(Decimal("0.000000001"))
    created = create(manager, limit={"usd": str(limit), "period": "day", "include_byok": True})
    assert created["limit"] == {"usd": float(limit), "period": "day", "include_byok": True}
    credits_before = profile_item(gateway)["credits_nanos"]

    # When it sends BYOK requests until the budget cannot cover one more
    served: list[Decimal] = []
    with as_key(api, created["key"]) as service:
        for _ in range(40):
            answer = service.post("/v1/chat/completions", json=BUDGET_CHAT)
            if answer.status_code != 200:
                break
            assert (answer.headers["x-gateway-byok"], answer.json()["usage"]["cost"]) == ("true", 0)
            served.append(list_price(answer))
        upstream_calls = len(gateway.sim.requests)

    # Then the refusal is a 402 before any upstream, spent is the list price of what BYOK served, and the
    # credits were never touched
    assert (answer.status_code, answer.json()["error"]["code"]) == (402, "key_budget_exceeded")
    assert "BYOK" in answer.json()["error"]["message"]
    assert upstream_calls == len(served) >= 2
    spent = Decimal(str(manager.get(f"/v1/api-keys/{created['id']}").json()["spent"]))
    assert spent == sum(served) <= limit
    assert profile_item(gateway)["credits_nanos"] == credits_before
    assert profile_item(gateway)["holds"] == {}


def test_fifty_concurrent_byok_requests_never_pass_a_budget_that_counts_byok(
    api: Any, gateway: Gateway, manager: httpx.Client, serialized_dynamodb: None
) -> None:
    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    limit = (hold_usd() * Decimal("5.5")).quantize(Decimal("0.000000001"))
    created = create(manager, limit={"usd": str(limit), "period": "month", "include_byok": True})
    with as_key(api, created["key"]) as service, ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: service.post("/v1/chat/completions", json=BUDGET_CHAT), range(50)))
    served = [list_price(a) for a in answers if a.status_code == 200]
    refused = {a.json()["error"]["code"] for a in answers if a.status_code != 200}
    spent = Decimal(str(manager.get(f"/v1/api-keys/{created['id']}").json()["spent"]))
    assert len(served) >= 5 and refused == {"key_budget_exceeded"}
    # (a BYOK attempt refused while others held the budget may be served by shared capacity a moment later,
    # once they settled: the same budget holds it, at the same price)
    assert sum(a.status_code == 200 and a.headers["x-gateway-byok"] == "true" for a in answers) >= 5
    assert spent == sum(served) <= limit
    assert profile_item(gateway)["holds"] == {}


def test_without_include_byok_a_byok_request_writes_nothing_before_its_upstream_and_spends_nothing(
    api: Any, gateway: Gateway, manager: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    created = create(manager, limit={"usd": str(hold_usd()), "period": "day"})
    writes = count_profile_writes(monkeypatch)
    with as_key(api, created["key"]) as service:
        answers = [service.post("/v1/chat/completions", json=BUDGET_CHAT) for _ in range(3)]
    assert [(a.status_code, a.headers["x-gateway-byok"]) for a in answers] == [(200, "true")] * 3
    assert writes == []
    assert manager.get(f"/v1/api-keys/{created['id']}").json()["spent"] == 0
