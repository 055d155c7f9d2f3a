"""Credit reservation: the bound a shared attempt holds, the hold's life (settle, release, expiry) and the
answers a customer sees when the balance cannot cover an attempt.

Given moto's tables (the ``gateway`` fixture), the real handlers over HTTP where the answer matters, and the
simulator (its token counts are the prompt's words, so a prompt of n words costs n prompt tokens).
"""

from __future__ import annotations

import time
from decimal import ROUND_UP, Decimal
from typing import Any

import boto3
import httpx
import pytest

from gateway.apis.chat.schema import ChatRequest
from gateway.billing import credits
from gateway.core.catalog import get_catalog
from gateway.core.settings import get_settings
from gateway.data import accounts
from gateway.data import holds as hold_store
from tests.conftest import Gateway, configure
from tests.integration.helpers import add_key, byok_credentials, get_log

SONNET = "anthropic/claude-sonnet-4.5"


def offer(model: str, provider: str) -> Any:
    return next(o for o in get_catalog().model(model).providers if o.slug == provider)  # type: ignore[union-attr]


def request(content: Any = "hi", **fields: Any) -> ChatRequest:
    return ChatRequest.model_validate({"model": SONNET, "messages": [{"role": "user", "content": content}], **fields})


def nanos(account_id: str) -> int:
    item = accounts.profile_item(account_id)
    assert item is not None
    return int(item["credits_nanos"])


def holds(account_id: str) -> dict[str, Any]:
    item = accounts.profile_item(account_id)
    assert item is not None
    return dict(item.get("holds", {}))


# --- the bound -----------------------------------------------------------------------------------------------


def test_max_cost_is_the_prompt_bound_plus_max_tokens_at_the_offers_prices() -> None:
    anthropic = offer(SONNET, "anthropic")
    small = request("hi", max_tokens=100)

    prompt_bound = credits.prompt_token_bound(small)

    assert prompt_bound >= len("hi")
    assert credits.max_cost(anthropic, small) == anthropic.cost(prompt_bound, 100)


def test_without_max_tokens_the_models_maximum_output_is_held() -> None:
    anthropic = offer(SONNET, "anthropic")

    assert credits.output_token_bound(anthropic, request()) == anthropic.max_output_tokens == 64_000
    assert credits.output_token_bound(anthropic, request(max_tokens=10**6)) == 64_000
    assert credits.output_token_bound(anthropic, request(max_completion_tokens=7)) == 7


def test_the_prompt_bound_is_at_least_one_token_per_byte_and_counts_images_apart() -> None:
    text = "naïve 東京 " * 500
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}

    with_text = credits.prompt_token_bound(request(text))
    with_image = credits.prompt_token_bound(request([{"type": "text", "text": "describe"}, image]))

    assert with_text >= len(text.encode())
    assert credits.IMAGE_PROMPT_TOKENS <= with_image < 100_000  # the data URL's size is not its tokens


def test_a_lower_max_tokens_needs_less() -> None:
    anthropic = offer(SONNET, "anthropic")

    assert credits.max_cost(anthropic, request(max_tokens=100)) < credits.max_cost(anthropic, request())


# --- the hold ------------------------------------------------------------------------------------------------


def test_a_reservation_takes_its_amount_at_once_and_settles_to_the_exact_cost(gateway: Gateway) -> None:
    account = gateway.customer.account_id
    before = nanos(account)

    hold = credits.reserve(account, Decimal("1.5"))
    assert hold is not None
    assert nanos(account) == before - 1_500_000_000
    credits.settle(hold, Decimal("0.000123456"))

    assert nanos(account) == before - 123_456
    assert holds(account) == {}


def test_a_reservation_the_balance_cannot_cover_is_refused_and_changes_nothing(gateway: Gateway) -> None:
    account = gateway.create_customer("poor", credits="1").account_id

    assert credits.reserve(account, Decimal("1.000000001")) is None
    assert nanos(account) == 1_000_000_000
    assert credits.reserve(account, Decimal("1")) is not None
    assert nanos(account) == 0


def test_release_gives_everything_back_exactly_once(gateway: Gateway) -> None:
    account = gateway.customer.account_id
    before = nanos(account)
    hold = credits.reserve(account, Decimal("2"))
    assert hold is not None

    credits.release(hold)
    credits.release(hold)
    credits.settle(hold, Decimal("0"))

    assert nanos(account) == before
    assert holds(account) == {}


def test_a_stranded_hold_is_released_by_the_next_reservation_after_it_expires(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a process that reserved all of a balance and was killed before settling
    account = gateway.create_customer("stranded", credits="1").account_id
    assert credits.reserve(account, Decimal("1")) is not None
    assert credits.reserve(account, Decimal("0.5")) is None  # while it may still be running, the hold stands
    # When its expiry (the function's timeout plus a margin: the request cannot be running any more) has passed
    later = time.time() + get_settings().function_timeout_s + credits.HOLD_MARGIN_S + 1
    monkeypatch.setattr(time, "time", lambda: later)

    # Then the account shows the money as available, and the next reservation releases the hold and succeeds
    snapshot = accounts.load_account(account)
    assert snapshot is not None and snapshot.account.credits == Decimal(1)
    assert credits.reserve(account, Decimal("0.5")) is not None
    assert nanos(account) == 500_000_000
    assert len(holds(account)) == 1


def test_settling_after_the_hold_was_swept_still_charges_once(gateway: Gateway) -> None:
    account = gateway.customer.account_id
    before = nanos(account)
    hold = credits.reserve(account, Decimal("1"))
    assert hold is not None
    assert hold_store.close_hold(account, hold.hold_id, hold.nanos)  # what the sweep does to an expired hold

    credits.settle(hold, Decimal("0.25"))

    assert nanos(account) == before - 250_000_000


@pytest.mark.parametrize("cost", ["0.25", "1.5"])  # below the hold, and above it
def test_a_settlement_after_its_hold_was_swept_charges_the_balance_and_the_budget_exactly(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, cost: str
) -> None:
    # Given a hold with a key budget, stranded past its expiry and swept by the next reservation that needed room
    from gateway.billing.budgets import Budget

    account = gateway.create_customer("swept", credits="3").account_id
    budget = Budget("spend_k_total", accounts.to_nanos(Decimal(10)), (), "a budget")
    hold = credits.reserve(account, Decimal("1"), [budget])
    assert hold is not None
    later = time.time() + get_settings().function_timeout_s + credits.HOLD_MARGIN_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert credits.release_expired(account) == 1
    item = accounts.profile_item(account)
    assert item is not None and int(item["credits_nanos"]) == 3 * 10**9 and int(item[budget.counter]) == 0

    # When its settlement arrives after all (a slow last byte, a clock apart)
    credits.settle(hold, Decimal(cost))

    # Then the balance and the budget's spent moved by exactly the cost, once
    item = accounts.profile_item(account)
    assert item is not None
    assert int(item["credits_nanos"]) == 3 * 10**9 - accounts.to_nanos(Decimal(cost))
    assert int(item[budget.counter]) == accounts.to_nanos(Decimal(cost))
    assert item["holds"] == {}


def test_a_profile_written_before_holds_existed_gets_a_hold_map(gateway: Gateway) -> None:
    account = gateway.create_customer("legacy", credits="3").account_id
    table = boto3.resource("dynamodb").Table(gateway.env["ACCOUNTS_TABLE"])
    table.update_item(Key={"pk": f"ACCOUNT#{account}", "sk": "PROFILE"}, UpdateExpression="REMOVE holds")

    hold = credits.reserve(account, Decimal("1"))

    assert hold is not None and nanos(account) == 2_000_000_000


# --- what the customer sees ------------------------------------------------------------------------------------


def chat(api: Any, api_key: str, **body: Any) -> httpx.Response:
    payload = {"model": SONNET, "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(
        f"{api.url}/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def test_402_names_the_amount_needed_and_that_a_lower_max_tokens_needs_less(api: Any, gateway: Gateway) -> None:
    customer = gateway.create_customer("a few cents", credits="0.05")

    refused = chat(api, customer.api_key)
    served = chat(api, customer.api_key, max_tokens=100)

    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "insufficient_credits"
    needed = min(
        credits.max_cost(offer(SONNET, p), request()) for p in ("anthropic", "amazon-bedrock", "google-vertex")
    )
    assert f"${needed.quantize(Decimal('0.000001'), rounding=ROUND_UP)}" in error["message"]
    assert "lower max_tokens" in error["message"]
    assert served.status_code == 200 and served.json()["usage"]["is_byok"] is False
    assert nanos(customer.account_id) == 50_000_000 - round(served.json()["usage"]["cost"] * 1e9)


def test_a_failed_shared_attempt_releases_its_hold_and_the_next_one_is_charged(api: Any, gateway: Gateway) -> None:
    account = gateway.customer.account_id
    before = nanos(account)
    gateway.sim.fail("anthropic", status=503, times=1)

    served = chat(api, gateway.api_key, max_tokens=50)

    assert served.status_code == 200
    assert served.headers.get("x-gateway-provider", served.json()["provider"]) != "anthropic"
    charged = Decimal(str(served.json()["usage"]["cost"]))
    assert Decimal(before - nanos(account)) / 10**9 == pytest.approx(charged, abs=Decimal("0.000000001"))
    assert holds(account) == {}


def test_byok_needs_no_reservation_and_works_at_zero_credits(api: Any, gateway: Gateway) -> None:
    customer = gateway.create_customer("broke", credits="0")
    add_key(api.url, customer.api_key, "anthropic", byok_credentials(gateway.sim, "anthropic"))

    served = chat(api, customer.api_key)

    assert served.status_code == 200 and served.json()["usage"]["is_byok"] is True
    assert nanos(customer.account_id) == 0 and holds(customer.account_id) == {}


def test_an_attempt_cut_at_the_request_deadline_closes_its_hold_billing_only_its_prompt(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a shared upstream that hangs past the request deadline (which is set below the function timeout,
    # so the function is still alive to release what it holds)
    configure(monkeypatch, REQUEST_DEADLINE_MS="1000")
    account = gateway.customer.account_id
    before = nanos(account)
    gateway.sim.fail("anthropic", mode="timeout", delay=3)

    timed_out = chat(api, gateway.api_key, provider={"only": ["anthropic"]})

    # Then the answer is a 504, the hold is closed, and only the prompt the upstream received is charged
    assert timed_out.status_code == 504
    assert holds(account) == {}
    record = get_log(api.url, gateway.api_key, timed_out.headers["x-request-id"])
    [attempt] = record["attempts"]
    assert attempt["outcome"] == "timeout" and 0 < attempt["cost"] == record["cost"]
    assert before - nanos(account) == pytest.approx(record["cost"] * 1e9, abs=1)
