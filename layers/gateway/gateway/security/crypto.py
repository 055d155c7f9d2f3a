"""Stored credentials (BYOK and platform keys), encrypted under the stack's KMS key and bound to their tenancy.

The encryption context (``purpose``, ``customer``, ``key_id``, ``provider``) is the binding: KMS takes it as the
additional authenticated data of its own authenticated encryption and refuses (``InvalidCiphertextException``)
any context that is not an exact match, so a ciphertext copied to another account's, key's or provider's item
does not decrypt.

A ciphertext starts with a prefix naming its format; nothing else about it is guessed:

- ``KMS_PREFIX`` + a KMS ``Encrypt`` ciphertext blob (``SYMMETRIC_DEFAULT``, the context above): every
  credential up to KMS's 4,096-byte plaintext limit (API keys, AWS keys, service accounts with a 2,048- or
  4,096-bit RSA key). Decrypting is one KMS ``Decrypt`` call pinned to the stack's key, on botocore alone: the
  first BYOK request of a process imports neither the Encryption SDK nor ``cryptography`` (issue 24: they cost
  about 85 ms of CPU there).
- ``DATA_KEY_PREFIX`` (``data_keys.MAGIC``) + a data-key envelope (KMS ``GenerateDataKey`` under
  ``{purpose, customer}``, AES-256-GCM with the whole context as associated data): a plaintext above that limit.
- anything else: a message the AWS Encryption SDK wrote before these formats (its first byte is its format
  version, 1 or 2, never the ASCII letter both prefixes start with). The SDK is imported for those only.

A decrypted credential is cached by ``security.credential_cache``, so a warm request calls KMS not at all.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from gateway.core import aws
from gateway.core.settings import get_settings

PURPOSE = "byok-gateway/credentials"
KMS_PREFIX = b"BGKMS1"
DATA_KEY_PREFIX = b"BGDK1"  # data_keys.MAGIC, named here too so telling formats apart imports nothing
KMS_MAX_PLAINTEXT = 4096  # bytes, KMS Encrypt's limit


class DecryptionFailed(Exception):
    """A ciphertext did not decrypt under the expected key and context. Carries no detail on purpose."""


def encryption_context(account_id: str, key_id: str, provider: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "customer": account_id, "key_id": key_id, "provider": provider}


def encrypt(plaintext: bytes, context: dict[str, str]) -> bytes:
    """``plaintext`` encrypted under the stack's KMS key, bound to ``context``, in the smallest format that holds
    it."""
    if len(plaintext) > KMS_MAX_PLAINTEXT:
        from gateway.security import data_keys

        return data_keys.encrypt(plaintext, context)
    sealed = aws.kms().encrypt(
        KeyId=get_settings().kms_key_arn,
        Plaintext=plaintext,
        EncryptionContext=context,
        EncryptionAlgorithm="SYMMETRIC_DEFAULT",
    )
    return KMS_PREFIX + bytes(sealed["CiphertextBlob"])


def decrypt(ciphertext: bytes, context: dict[str, str]) -> bytes:
    """The plaintext of ``ciphertext`` if it was encrypted under ``context``; raises ``DecryptionFailed``."""
    if ciphertext.startswith(KMS_PREFIX):
        return _kms_decrypt(ciphertext[len(KMS_PREFIX) :], context)
    if written_by_the_sdk(ciphertext):
        return _sdk_decrypt(ciphertext, context)
    from gateway.security import data_keys

    return data_keys.decrypt(ciphertext, context)


def written_by_the_sdk(ciphertext: bytes) -> bool:
    """Whether ``ciphertext`` is in neither of today's formats (the AWS Encryption SDK's, from before them)."""
    return not ciphertext.startswith((KMS_PREFIX, DATA_KEY_PREFIX))


def _kms_decrypt(blob: bytes, context: dict[str, str]) -> bytes:
    try:
        opened = aws.kms().decrypt(
            CiphertextBlob=blob,
            KeyId=get_settings().kms_key_arn,
            EncryptionContext=context,
            EncryptionAlgorithm="SYMMETRIC_DEFAULT",
        )
    # Denied, another item's context, another key, a broken blob: all mean "does not decrypt".
    except Exception as exc:
        raise DecryptionFailed(type(exc).__name__) from None
    return bytes(opened["Plaintext"])


@functools.cache
def _sdk() -> tuple[Any, Any]:
    import aws_encryption_sdk
    from aws_encryption_sdk import CommitmentPolicy
    from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, max_encrypted_data_keys=1
    )
    provider = StrictAwsKmsMasterKeyProvider(
        key_ids=[get_settings().kms_key_arn], botocore_session=aws.botocore_session()
    )
    return client, provider


def _sdk_decrypt(ciphertext: bytes, context: dict[str, str]) -> bytes:
    client, provider = _sdk()
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
