"""Ciphertexts as the AWS Encryption SDK wrote them before issue 24 (stored credentials, stored conversations).

``security.crypto`` only reads this format now; tests write it the way the gateway did, under the stack's key.
"""

from __future__ import annotations

from typing import Any

import aws_encryption_sdk
from aws_encryption_sdk import Algorithm, CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.data import accounts
from gateway.security import crypto
from gateway.security.credential_formats import parse_credentials
from gateway.security.credentials import to_plaintext


def sdk() -> tuple[Any, Any]:
    """The SDK as its defaults have it, under the stack's key."""
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = StrictAwsKmsMasterKeyProvider(
        key_ids=[get_settings().kms_key_arn], botocore_session=aws.botocore_session()
    )
    return client, provider


def sdk_message(plaintext: bytes, context: dict[str, str], *, signed: bool = False) -> bytes:
    """What the gateway wrote: the committing suite without a signature; ``signed``: the SDK's default suite,
    which it wrote before that."""
    client, provider = sdk()
    suite = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    if signed:
        suite = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    ciphertext, header = client.encrypt(
        source=plaintext, key_provider=provider, encryption_context=context, algorithm=suite
    )
    assert header.algorithm is suite
    return bytes(ciphertext)


def store_as_the_sdk_did(account_id: str, key_id: str, provider: str, credentials: Any) -> bytes:
    """Rewrite a stored key's ciphertext as the gateway wrote it before issue 24; returns it."""
    context = crypto.encryption_context(account_id, key_id, provider)
    old = sdk_message(to_plaintext(parse_credentials(provider, credentials).credentials), context)
    aws.table(get_settings().accounts_table).update_item(
        Key={"pk": accounts.partition_key(account_id), "sk": f"KEY#{key_id}"},
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": old},
    )
    return old
