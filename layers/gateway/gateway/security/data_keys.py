"""Envelope encryption with a per-instance data key: no KMS call on a warm request.

For data the gateway writes and reads on the request path (stored Responses API conversations). Each account
gets a data key from KMS (``GenerateDataKey`` under the stack's key, encryption context ``{purpose, customer}``)
that this instance reuses for ``MAX_USES`` messages or ``MAX_AGE_S`` seconds; a message is

    MAGIC | len(wrapped key) (2 bytes) | wrapped key | nonce (12 bytes) | AES-256-GCM(plaintext) with its tag

with the message's whole encryption context (``customer`` and whatever else the caller binds, e.g. the
conversation) as the GCM associated data. Decryption unwraps the key with KMS ``Decrypt`` under the
``{purpose, customer}`` context once per instance and wrapped key, then from memory. So a ciphertext moved under
another account does not decrypt (KMS refuses the context) and one moved to another conversation does not either
(the tag covers the context). Random 96-bit nonces under one key stay far below the 2^32 messages GCM allows.

Messages in another format (the AWS Encryption SDK's, written before this one) go to ``security.crypto``, which
reads every format.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from gateway.core import aws
from gateway.core.settings import get_settings
from gateway.security import crypto

MAGIC = crypto.DATA_KEY_PREFIX
MAX_USES = 100_000
MAX_AGE_S = 3600
NONCE_BYTES = 12
CACHE_MAX = 4096


@dataclass
class _DataKey:
    plaintext: bytes
    wrapped: bytes
    made_at: float
    uses: int = 0


_lock = threading.Lock()
_encrypting: dict[tuple[str, str], _DataKey] = {}  # (purpose, customer) -> the key this instance encrypts with
_decrypting: dict[str, bytes] = {}  # sha256 of a wrapped key -> its plaintext


def _kms() -> Any:
    return aws.kms()


def _key_context(context: dict[str, str]) -> dict[str, str]:
    return {"purpose": context["purpose"], "customer": context["customer"]}


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def _data_key(context: dict[str, str]) -> _DataKey:
    slot = (context["purpose"], context["customer"])
    with _lock:
        key = _encrypting.get(slot)
        if key is not None and key.uses < MAX_USES and time.monotonic() - key.made_at < MAX_AGE_S:
            key.uses += 1
            return key
    made = _kms().generate_data_key(
        KeyId=get_settings().kms_key_arn, KeySpec="AES_256", EncryptionContext=_key_context(context)
    )
    key = _DataKey(made["Plaintext"], made["CiphertextBlob"], time.monotonic(), uses=1)
    with _lock:
        if len(_encrypting) >= CACHE_MAX:
            _encrypting.clear()
        _encrypting[slot] = key
        _decrypting[hashlib.sha256(key.wrapped).hexdigest()] = key.plaintext
    return key


def _unwrapped(wrapped: bytes, context: dict[str, str]) -> bytes:
    digest = hashlib.sha256(wrapped).hexdigest()
    with _lock:
        known = _decrypting.get(digest)
    if known is not None:
        return known  # the tag check below still binds it to this message's whole context
    try:
        plaintext = bytes(_kms().decrypt(CiphertextBlob=wrapped, EncryptionContext=_key_context(context))["Plaintext"])
    except Exception:  # denied, another account's context, a broken blob: all mean "does not decrypt"
        raise crypto.DecryptionFailed("data key") from None
    with _lock:
        if len(_decrypting) >= CACHE_MAX:
            _decrypting.clear()
        _decrypting[digest] = plaintext
    return plaintext


def encrypt(plaintext: bytes, context: dict[str, str]) -> bytes:
    """``plaintext`` sealed under this instance's data key for ``context["customer"]``, bound to ``context``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _data_key(context)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.plaintext).encrypt(nonce, plaintext, _aad(context))
    return MAGIC + struct.pack(">H", len(key.wrapped)) + key.wrapped + nonce + sealed


def decrypt(message: bytes, context: dict[str, str]) -> bytes:
    """The plaintext of ``message`` if it was sealed under ``context``; raises ``crypto.DecryptionFailed``."""
    if not message.startswith(MAGIC):
        return crypto.decrypt(message, context)  # e.g. written by the Encryption SDK before this format
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    at = len(MAGIC)
    if len(message) < at + 2:
        raise crypto.DecryptionFailed("truncated")
    (wrapped_len,) = struct.unpack(">H", message[at : at + 2])
    wrapped = message[at + 2 : at + 2 + wrapped_len]
    nonce_at = at + 2 + wrapped_len
    nonce, sealed = message[nonce_at : nonce_at + NONCE_BYTES], message[nonce_at + NONCE_BYTES :]
    if len(wrapped) != wrapped_len or len(nonce) != NONCE_BYTES:
        raise crypto.DecryptionFailed("truncated")
    key = _unwrapped(wrapped, context)
    try:
        return AESGCM(key).decrypt(nonce, sealed, _aad(context))
    except InvalidTag:
        raise crypto.DecryptionFailed("context mismatch or tampered") from None


def reset() -> None:
    """Forget every data key (tests switch KMS backends)."""
    with _lock:
        _encrypting.clear()
        _decrypting.clear()
