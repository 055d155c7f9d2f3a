"""Envelope encryption of stored credentials with the AWS Encryption SDK under the stack's KMS key.

The encryption context binds a ciphertext to its customer, key id and provider: a ciphertext copied to another
row decrypts under a different expected context and is rejected. Commitment policy is the strictest one.
The algorithm suite is the committing one without a message signature (``AES_256_GCM_HKDF_SHA512_COMMIT_KEY``):
the gateway is the only writer and the only reader, both under the same KMS key, so an ECDSA P-384 signature
(the default suite's) would prove nothing KMS does not already, at about 2 ms to sign and 2 ms to verify per
message. Ciphertexts written with the default suite still decrypt.
The SDK is imported lazily: only the functions that encrypt or decrypt pay for it, and only on first use.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from gateway.core import aws
from gateway.core.settings import get_settings

PURPOSE = "byok-gateway/credentials"


class DecryptionFailed(Exception):
    """A ciphertext did not decrypt under the expected key and context. Carries no detail on purpose."""


def encryption_context(account_id: str, key_id: str, provider: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "customer": account_id, "key_id": key_id, "provider": provider}


@functools.cache
def _sdk() -> tuple[Any, Any, Any]:
    import aws_encryption_sdk
    from aws_encryption_sdk import Algorithm, CommitmentPolicy
    from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, max_encrypted_data_keys=1
    )
    provider = StrictAwsKmsMasterKeyProvider(
        key_ids=[get_settings().kms_key_arn], botocore_session=aws.botocore_session()
    )
    return client, provider, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


def encrypt(plaintext: bytes, context: dict[str, str]) -> bytes:
    client, provider, suite = _sdk()
    ciphertext, _header = client.encrypt(
        source=plaintext, key_provider=provider, encryption_context=context, algorithm=suite
    )
    return bytes(ciphertext)


def decrypt(ciphertext: bytes, context: dict[str, str]) -> bytes:
    client, provider, _suite = _sdk()
    decryptor = client.stream(mode="decrypt", source=ciphertext, key_provider=provider)
    try:
        plaintext = decryptor.read()
        stored = decryptor.header.encryption_context
    # The SDK raises many types (KMS denied, bad format, wrong key): all mean "broken".
    except Exception as exc:
        # Its close() refuses a stream whose footer was never read, and its destructor would then print that
        # refusal as a stray traceback: mark the stream closed the plain way instead.
        io.IOBase.close(decryptor)
        raise DecryptionFailed(type(exc).__name__) from None
    decryptor.close()
    if any(stored.get(name) != value for name, value in context.items()):
        raise DecryptionFailed("encryption context mismatch")
    return bytes(plaintext)


def reset() -> None:
    _sdk.cache_clear()
