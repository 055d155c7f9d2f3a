"""``security.crypto``: how stored credentials are encrypted, bound to their tenancy and read back (moto KMS).

moto's KMS binds the encryption context into its ciphertexts and refuses a ``Decrypt`` whose context is not an
exact match (``InvalidCiphertextException``), as KMS does; these tests rely on it and check it.
"""

from __future__ import annotations

import sys
from typing import Any

import botocore.client
import pytest

from gateway.core.settings import get_settings
from gateway.security import crypto, data_keys
from tests.encryption_sdk import sdk_message

CONTEXT = crypto.encryption_context("acct_1", "key_1", "openai")
# The same ciphertext on another item: another account, another key of the same account, another provider, and
# the encryption context of a stored conversation.
MOVED = [
    {**CONTEXT, "customer": "acct_2"},
    {**CONTEXT, "key_id": "key_2"},
    {**CONTEXT, "provider": "anthropic"},
    {**CONTEXT, "purpose": "byok-gateway/responses"},
]


@pytest.fixture
def kms_calls(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every KMS operation made, with its parameters."""
    calls: list[tuple[str, dict[str, Any]]] = []
    real = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "kms":
            calls.append((operation, params))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return calls


@pytest.fixture
def without_the_sdk(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the Encryption SDK fails (None in ``sys.modules``)."""
    monkeypatch.setitem(sys.modules, "aws_encryption_sdk", None)


def test_a_credential_is_one_kms_ciphertext_bound_to_its_context(
    kms_calls: list[tuple[str, dict[str, Any]]], without_the_sdk: None
) -> None:
    # When a credential is encrypted
    ciphertext = crypto.encrypt(b"sk-secret", CONTEXT)

    # Then it is KMS's own ciphertext of it under the stack's key and the item's context, marked as such
    assert ciphertext.startswith(crypto.KMS_PREFIX)
    assert b"sk-secret" not in ciphertext
    [(operation, params)] = kms_calls
    assert operation == "Encrypt"
    assert params["KeyId"] == get_settings().kms_key_arn
    assert params["EncryptionContext"] == CONTEXT
    assert params["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"

    # And reading it back is one KMS Decrypt, pinned to the stack's key and the same context
    assert crypto.decrypt(ciphertext, CONTEXT) == b"sk-secret"
    (operation, params) = kms_calls[-1]
    assert (operation, params["KeyId"], params["EncryptionContext"]) == ("Decrypt", get_settings().kms_key_arn, CONTEXT)
    assert len(kms_calls) == 2


@pytest.mark.parametrize("moved", MOVED, ids=["account", "key", "provider", "purpose"])
def test_a_ciphertext_moved_to_another_item_does_not_decrypt(gateway: Any, moved: dict[str, str]) -> None:
    ciphertext = crypto.encrypt(b"sk-secret", CONTEXT)

    with pytest.raises(crypto.DecryptionFailed) as refused:
        crypto.decrypt(ciphertext, moved)
    assert "sk-secret" not in str(refused.value)


def test_kms_takes_up_to_4096_bytes_and_a_larger_credential_is_sealed_under_a_data_key(
    kms_calls: list[tuple[str, dict[str, Any]]],
) -> None:
    # Given a credential of exactly KMS's limit, and one byte more (a large service-account JSON)
    largest, larger = b"k" * 4096, b"k" * 4097

    # When both are encrypted
    direct, enveloped = crypto.encrypt(largest, CONTEXT), crypto.encrypt(larger, CONTEXT)

    # Then the first is KMS's ciphertext, the second a data-key envelope bound to the whole context
    assert direct.startswith(crypto.KMS_PREFIX)
    assert enveloped.startswith(data_keys.MAGIC)
    assert [operation for operation, _ in kms_calls] == ["Encrypt", "GenerateDataKey"]
    assert crypto.decrypt(direct, CONTEXT) == largest
    assert crypto.decrypt(enveloped, CONTEXT) == larger
    for moved in MOVED:
        with pytest.raises(crypto.DecryptionFailed):
            crypto.decrypt(enveloped, moved)


@pytest.mark.parametrize("signed", [False, True], ids=["committing suite", "default signing suite"])
def test_what_the_encryption_sdk_wrote_still_decrypts(gateway: Any, signed: bool) -> None:
    # Given a credential the AWS Encryption SDK wrote before the format changed
    old = sdk_message(b"sk-old", CONTEXT, signed=signed)

    # Then it still decrypts under its context, and only under it
    assert crypto.decrypt(old, CONTEXT) == b"sk-old"
    for moved in MOVED:
        with pytest.raises(crypto.DecryptionFailed):
            crypto.decrypt(old, moved)


@pytest.mark.parametrize(
    "stored",
    [b"", b"sk-plaintext", crypto.KMS_PREFIX, crypto.KMS_PREFIX + b"\x01" * 40, data_keys.MAGIC + b"\x00\x10"],
    ids=["empty", "plaintext", "prefix only", "broken blob", "truncated envelope"],
)
def test_bytes_in_no_format_do_not_decrypt(gateway: Any, stored: bytes) -> None:
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(stored, CONTEXT)
