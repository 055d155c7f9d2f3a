"""Stored responses: one encrypted S3 object per response, readable only by the account that made it.

A stored response is the response object as the client got it, this request's own input items, and the
conversation before them (``previous_response_id``'s input and output), so a later turn continues it with one
read, whichever provider served the earlier turns. The object is compressed, then encrypted with the AWS
Encryption SDK under the stack's KMS key, its encryption context bound to the account and the response id (a
ciphertext copied under another account's key does not decrypt). Its key starts with the account id, so
another account's id is simply not found. One object whatever its size: DynamoDB's 400 KB item limit is not
the product's; the bucket's lifecycle rule removes objects after ``RESPONSES_TTL_DAYS``, and a read checks the
expiry itself (the rule runs once a day).
"""

from __future__ import annotations

import json
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

from gateway.core import aws
from gateway.core.errors import BadRequest, NotFound
from gateway.core.settings import get_settings
from gateway.security import crypto

PURPOSE = "byok-gateway/responses"
RESPONSE_ID = re.compile(r"^resp_[A-Za-z0-9]{1,64}$")
DAY_S = 86_400
Item = dict[str, Any]


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]  # as the client got it
    input_items: list[Item]  # this request's own input, each item with an id
    history: list[Item]  # the conversation before this request's input
    provider: str  # who served it: items made by another provider are replayed without their ids

    def conversation(self) -> list[Item]:
        """What a continuation sends before its own input: this turn's whole input, then its output."""
        return [*self.history, *self.input_items, *self.response.get("output", [])]


def enabled() -> bool:
    return get_settings().responses_store == "on"


def encryption_context(account_id: str, response_id: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "customer": account_id, "response_id": response_id}


def _key(account_id: str, response_id: str) -> str:
    return f"responses/{account_id}/{response_id}"


def save(account_id: str, stored: StoredResponse) -> None:
    response_id = stored.response["id"]
    document = {
        "response": stored.response,
        "input_items": stored.input_items,
        "history": stored.history,
        "provider": stored.provider,
        "expires_at": int(time.time()) + get_settings().responses_ttl_days * DAY_S,
    }
    plaintext = zlib.compress(json.dumps(document, separators=(",", ":")).encode())
    ciphertext = crypto.encrypt(plaintext, encryption_context(account_id, response_id))
    aws.s3().put_object(Bucket=get_settings().responses_bucket, Key=_key(account_id, response_id), Body=ciphertext)


def load(account_id: str, response_id: str) -> StoredResponse:
    """The account's stored response; 404 for an unknown, expired, deleted or another account's id."""
    missing = NotFound(f"no response with id {response_id!r}", code="response_not_found", param="response_id")
    if not RESPONSE_ID.fullmatch(response_id):
        raise missing
    s3 = aws.s3()
    try:
        got = s3.get_object(Bucket=get_settings().responses_bucket, Key=_key(account_id, response_id))
    except s3.exceptions.NoSuchKey:
        raise missing from None
    try:
        plaintext = crypto.decrypt(got["Body"].read(), encryption_context(account_id, response_id))
    except crypto.DecryptionFailed:
        raise missing from None
    document = json.loads(zlib.decompress(plaintext))
    if document["expires_at"] <= time.time():
        raise missing
    return StoredResponse(document["response"], document["input_items"], document["history"], document["provider"])


def delete(account_id: str, response_id: str) -> None:
    load(account_id, response_id)  # 404 unless the caller owns a live one
    aws.s3().delete_object(Bucket=get_settings().responses_bucket, Key=_key(account_id, response_id))


def history_for(account_id: str, previous_response_id: str) -> list[Item]:
    """The conversation a ``previous_response_id`` continues (one read); 400 when storage is off."""
    if not enabled():
        raise BadRequest(
            "previous_response_id cannot be used: response storage is off on this gateway (RESPONSES_STORE=off); "
            "send the earlier turns in input instead",
            param="previous_response_id",
            code="response_storage_off",
        )
    stored = load(account_id, previous_response_id)
    items = stored.conversation()
    if stored.provider == "openai":
        return items
    # Items another provider produced carry the gateway's ids, which OpenAI would look up and not find.
    return [{k: v for k, v in item.items() if k != "id"} for item in items if item.get("type") != "reasoning"]
