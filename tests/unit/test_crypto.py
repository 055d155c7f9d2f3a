"""``security.crypto``: the envelope every stored secret and stored response is written in (moto KMS)."""

from __future__ import annotations

from typing import Any

import aws_encryption_sdk
import pytest
from aws_encryption_sdk import Algorithm, CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.security import crypto

CONTEXT = crypto.encryption_context("acct_1", "key_1", "openai")


def sdk() -> tuple[Any, Any]:
    """The SDK as its defaults have it, under the stack's key."""
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = StrictAwsKmsMasterKeyProvider(
        key_ids=[get_settings().kms_key_arn], botocore_session=aws.botocore_session()
    )
    return client, provider


def header_of(ciphertext: bytes) -> Any:
    client, provider = sdk()
    with client.stream(mode="decrypt", source=ciphertext, key_provider=provider) as decryptor:
        decryptor.read()
        return decryptor.header


def test_the_envelope_commits_to_its_key_and_carries_no_signature(gateway: Any) -> None:
    # When a secret is encrypted
    ciphertext = crypto.encrypt(b"sk-secret", CONTEXT)

    # Then it is the committing suite without an ECDSA signature (no public key rides in its context)
    header = header_of(ciphertext)
    assert header.algorithm is Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    assert "aws-crypto-public-key" not in header.encryption_context
    assert crypto.decrypt(ciphertext, CONTEXT) == b"sk-secret"
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(ciphertext, {**CONTEXT, "customer": "acct_2"})


def test_what_the_default_signing_suite_wrote_still_decrypts(gateway: Any) -> None:
    # Given a ciphertext written before the suite changed (the SDK's default, ECDSA-signed)
    client, provider = sdk()
    old, header = client.encrypt(source=b"sk-old", key_provider=provider, encryption_context=CONTEXT)
    assert header.algorithm is Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384

    # Then it still decrypts under its context
    assert crypto.decrypt(bytes(old), CONTEXT) == b"sk-old"
