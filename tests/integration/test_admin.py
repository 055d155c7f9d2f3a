"""Operator commands on gateway API keys: mint another key, list by fingerprint, revoke one at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.admin import AdminError, _parser, run
from tests.conftest import Gateway


def admin(*argv: str) -> dict[str, Any]:
    return run(_parser().parse_args(list(argv)))


def models_status(api: Any, api_key: str) -> int:
    return httpx.get(f"{api.url}/v1/models", headers={"Authorization": f"Bearer {api_key}"}).status_code


def test_rotate_then_revoke_a_gateway_key(api: Any, gateway: Gateway) -> None:
    # Given a customer with a second key
    account = gateway.customer.account_id
    second = admin("create-api-key", "--account", account)["api_key"]
    assert models_status(api, second) == 200
    listed = admin("list-api-keys", "--account", account)["data"]
    assert len(listed) == 2
    assert all(not k["revoked"] for k in listed)
    # The listing never shows a key, only fingerprints
    assert gateway.api_key not in str(listed)
    assert second not in str(listed)

    # When the first key is revoked
    first_fp = next(k["fingerprint"] for k in listed if k["fingerprint"] != fingerprint_of(second))
    assert admin("revoke-api-key", "--account", account, "--fingerprint", first_fp)["revoked"] is True

    # Then it is refused at once, and the other key keeps working
    assert models_status(api, gateway.api_key) == 401
    chat = httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
    )
    assert chat.status_code == 401
    assert chat.json()["error"]["type"] == "authentication_error"
    assert gateway.sim.requests == []
    assert models_status(api, second) == 200
    states = {k["fingerprint"]: k["revoked"] for k in admin("list-api-keys", "--account", account)["data"]}
    assert states[first_fp] is True


def test_key_commands_refuse_unknown_accounts_and_fingerprints(gateway: Gateway) -> None:
    with pytest.raises(AdminError):
        admin("create-api-key", "--account", "acct_0000000000000000")
    with pytest.raises(AdminError):
        admin("revoke-api-key", "--account", gateway.customer.account_id, "--fingerprint", "0" * 16)


def test_one_customer_cannot_revoke_another_customers_key_by_fingerprint(api: Any, gateway: Gateway) -> None:
    other = gateway.create_customer()
    victim_fp = fingerprint_of(gateway.api_key)
    with pytest.raises(AdminError):
        admin("revoke-api-key", "--account", other.account_id, "--fingerprint", victim_fp)
    assert models_status(api, gateway.api_key) == 200


def fingerprint_of(api_key: str) -> str:
    from gateway.data.api_keys import api_key_fingerprint, hash_api_key

    return api_key_fingerprint(hash_api_key(api_key))


def test_create_account_prints_a_management_key_and_create_api_key_takes_the_api_settings(
    api: Any, gateway: Gateway
) -> None:
    account = gateway.customer.account_id
    manager = httpx.get(f"{api.url}/v1/api-keys", headers={"Authorization": f"Bearer {gateway.api_key}"})
    assert manager.status_code == 200
    assert [k["management"] for k in manager.json()["data"]] == [True]

    created = admin(
        "create-api-key", "--account", account, "--name", "ci", "--ordinary", "--rate-limit-rpm", "30",
        "--allowed-model", "claude-sonnet-4-5",
    )  # fmt: skip
    listed = {k["id"]: k for k in admin("list-api-keys", "--account", account)["data"]}
    assert listed[created["id"]]["management"] is False
    assert listed[created["id"]]["rate_limit_rpm"] == 30
    assert listed[created["id"]]["allowed_models"] == ["anthropic/claude-sonnet-4.5"]
    ordinary = httpx.get(f"{api.url}/v1/api-keys", headers={"Authorization": f"Bearer {created['api_key']}"})
    assert ordinary.status_code == 403
    with pytest.raises(AdminError, match="allowed_models"):
        admin("create-api-key", "--account", account, "--allowed-model", "no/such-model")


def account_view(api: Any, api_key: str) -> dict[str, Any]:
    answer = httpx.get(f"{api.url}/v1/account", headers={"Authorization": f"Bearer {api_key}"})
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def shared_chat(api: Any, api_key: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16},
        headers={"Authorization": f"Bearer {api_key}"},
    )


def test_set_show_and_clear_an_accounts_shared_limit(api: Any, gateway: Gateway) -> None:
    account = gateway.customer.account_id
    assert admin("show-shared-limit", "--account", account) == {"account_id": account, "shared_limit": None}

    # A cap smaller than one request's hold: shared capacity is refused, as PATCH /v1/account's would
    set_ = admin("set-shared-limit", "--account", account, "--usd", "0.000000001", "--period", "week")
    assert set_["shared_limit"] == {"usd": 0.000000001, "period": "week", "spent": 0.0}
    assert account_view(api, gateway.api_key)["shared_limit"] == set_["shared_limit"]
    refused = shared_chat(api, gateway.api_key)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "shared_limit_reached"
    assert admin("show-shared-limit", "--account", account) == set_

    # Raised, then cleared: shared capacity serves again and spends against the cap while it is set
    admin("set-shared-limit", "--account", account, "--usd", "5", "--period", "day")
    assert shared_chat(api, gateway.api_key).status_code == 200
    shown = admin("show-shared-limit", "--account", account)["shared_limit"]
    assert (shown["usd"], shown["period"]) == (5.0, "day")
    assert shown["spent"] > 0
    assert admin("clear-shared-limit", "--account", account) == {"account_id": account, "shared_limit": None}
    assert account_view(api, gateway.api_key)["shared_limit"] is None
    assert shared_chat(api, gateway.api_key).status_code == 200


def test_shared_limit_commands_take_the_apis_rules_and_only_real_accounts(gateway: Gateway) -> None:
    account = gateway.customer.account_id
    with pytest.raises(AdminError, match="period"):
        admin("set-shared-limit", "--account", account, "--usd", "5", "--period", "total")
    with pytest.raises(AdminError, match="usd"):
        admin("set-shared-limit", "--account", account, "--usd", "0", "--period", "month")
    with pytest.raises(SystemExit):  # argparse: not a number of USD
        admin("set-shared-limit", "--account", account, "--usd", "five", "--period", "month")
    for command in ("set-shared-limit", "show-shared-limit", "clear-shared-limit"):
        extra = ["--usd", "5", "--period", "month"] if command == "set-shared-limit" else []
        with pytest.raises(AdminError, match="no account"):
            admin(command, "--account", "acct_0000000000000000", *extra)
    assert admin("show-shared-limit", "--account", account)["shared_limit"] is None


def test_reencrypt_credentials_rewrites_what_the_encryption_sdk_stored(api: Any, gateway: Gateway) -> None:
    from gateway.data import accounts, byok_keys
    from gateway.security import credential_cache, crypto
    from local.seed import PLATFORM_API_KEYS
    from tests.encryption_sdk import store_as_the_sdk_did
    from tests.integration.helpers import BYOK_API_KEYS, add_key, byok_credentials

    # Given a customer's key and a platform key as the Encryption SDK stored them, a key stored today, and a key
    # whose ciphertext was moved there from another customer (it decrypts nowhere else)
    account = gateway.customer.account_id
    old_key = add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    old = store_as_the_sdk_did(account, old_key["id"], "openai", BYOK_API_KEYS["openai"])
    store_as_the_sdk_did(accounts.PLATFORM_ACCOUNT, "anthropic", "anthropic", PLATFORM_API_KEYS["anthropic"])
    current = add_key(api.url, gateway.api_key, "deepseek", byok_credentials(gateway.sim, "deepseek"))
    other = gateway.create_customer("other")
    moved = add_key(api.url, other.api_key, "openai", BYOK_API_KEYS["openai"])
    [moved_stored] = [k for k in byok_keys.every_key() if k.key_id == moved["id"]]
    assert byok_keys.replace_ciphertext(other.account_id, moved["id"], moved_stored.ciphertext, old)
    before = {(k.account_id, k.key_id): k for k in byok_keys.every_key()}

    # When the operator re-encrypts
    counts = admin("reencrypt-credentials")

    # Then the two old ones are rewritten in today's format and still hold the same credentials; the current key
    # and the broken one are left as they were
    assert counts == {"rewritten": 2, "current": len(before) - 3, "changed_meanwhile": 0, "undecryptable": 1}
    after = {(k.account_id, k.key_id): k for k in byok_keys.every_key()}
    for owner, key_id, secret in (
        (account, old_key["id"], BYOK_API_KEYS["openai"]),
        (accounts.PLATFORM_ACCOUNT, "anthropic", PLATFORM_API_KEYS["anthropic"]),
    ):
        rewritten = after[(owner, key_id)]
        assert not crypto.written_by_the_sdk(rewritten.ciphertext)
        assert rewritten.revision == before[(owner, key_id)].revision
        credential_cache.clear()
        assert credential_cache.resolve(rewritten).api_key.get_secret_value() == secret  # type: ignore[union-attr]
    assert after[(account, current["id"])].ciphertext == before[(account, current["id"])].ciphertext
    assert after[(other.account_id, moved["id"])].ciphertext == old
    # And a second run has nothing left to rewrite
    assert admin("reencrypt-credentials")["rewritten"] == 0


def test_a_key_rotated_during_reencryption_keeps_its_rotation(api: Any, gateway: Gateway) -> None:
    from gateway.data import byok_keys
    from tests.integration.helpers import add_key, byok_credentials

    key = add_key(api.url, gateway.api_key, "openai", byok_credentials(gateway.sim, "openai"))
    [stored] = [k for k in byok_keys.every_key() if k.key_id == key["id"]]

    # A rewrite computed from a ciphertext the key no longer holds is refused
    assert not byok_keys.replace_ciphertext(gateway.customer.account_id, key["id"], b"what it held before", b"x")
    [after] = [k for k in byok_keys.every_key() if k.key_id == key["id"]]
    assert after.ciphertext == stored.ciphertext
