"""``security.data_keys``: stored conversations are sealed under a per-instance data key (moto KMS)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gateway.core import aws
from gateway.security import crypto, data_keys
from tests.encryption_sdk import sdk_message

PURPOSE = "byok-gateway/responses"


def context(customer: str = "acct_1", conversation: str = "resp_1") -> dict[str, str]:
    return {"purpose": PURPOSE, "customer": customer, "response_id": conversation}


@pytest.fixture
def kms_calls(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every KMS operation the module makes, by name."""
    calls: Counter[str] = Counter()
    real = aws.kms()

    class Counting:
        def generate_data_key(self, **kwargs: Any) -> Any:
            calls["GenerateDataKey"] += 1
            return real.generate_data_key(**kwargs)

        def decrypt(self, **kwargs: Any) -> Any:
            calls["Decrypt"] += 1
            return real.decrypt(**kwargs)

    monkeypatch.setattr(data_keys, "_kms", Counting)
    data_keys.reset()
    return calls


def test_a_warm_instance_seals_and_opens_without_kms(kms_calls: Counter[str]) -> None:
    # Given one data key taken for an account
    first = data_keys.encrypt(b"turn 1", context())

    # When the same instance seals and opens more of that account's conversations
    second = data_keys.encrypt(b"turn 2", context(conversation="resp_2"))
    opened = [data_keys.decrypt(first, context()), data_keys.decrypt(second, context(conversation="resp_2"))]

    # Then KMS was called once in all, and each message is its own (a fresh nonce each)
    assert opened == [b"turn 1", b"turn 2"]
    assert kms_calls == Counter({"GenerateDataKey": 1})
    assert first[-20:] != data_keys.encrypt(b"turn 1", context())[-20:]


def test_a_new_instance_unwraps_a_key_once(kms_calls: Counter[str]) -> None:
    sealed = [data_keys.encrypt(f"turn {i}".encode(), context()) for i in range(3)]
    data_keys.reset()  # another instance: nothing in memory

    opened = [data_keys.decrypt(message, context()) for message in sealed]

    assert opened == [b"turn 0", b"turn 1", b"turn 2"]
    assert kms_calls == Counter({"GenerateDataKey": 1, "Decrypt": 1})


@pytest.mark.parametrize("warm", [True, False])
def test_a_message_opens_only_under_its_own_account_and_conversation(kms_calls: Counter[str], warm: bool) -> None:
    sealed = data_keys.encrypt(b"secret turn", context())
    if not warm:
        data_keys.reset()

    for other in (context(customer="acct_2"), context(conversation="resp_9"), {**context(), "purpose": "other"}):
        with pytest.raises(crypto.DecryptionFailed):
            data_keys.decrypt(sealed, other)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.DecryptionFailed):
        data_keys.decrypt(tampered, context())
    with pytest.raises(crypto.DecryptionFailed):
        data_keys.decrypt(data_keys.MAGIC + b"\x00", context())
    assert data_keys.decrypt(sealed, context()) == b"secret turn"


def test_what_the_encryption_sdk_wrote_still_opens(kms_calls: Counter[str]) -> None:
    old = sdk_message(b"stored before", context())

    assert data_keys.decrypt(old, context()) == b"stored before"
    with pytest.raises(crypto.DecryptionFailed):
        data_keys.decrypt(old, context(customer="acct_2"))
