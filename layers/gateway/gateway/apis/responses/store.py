"""Stored responses: one encrypted S3 object per conversation, readable only by the account that made it.

A conversation's object holds its turns as a tree: each turn is the response object as the client got it, that
request's own input items, who served it and the turn it continued (``parent``). Nothing is stored twice, so a
conversation of n turns takes O(n) bytes (an object per turn holding the whole conversation so far would take
O(n^2)). A response id names its conversation: a turn that starts one has the id ``resp_<its own digits>``,
which is also the object's name; a turn that continues one is ``resp_<its own digits><the first turn's
digits>``. So a ``previous_response_id`` turn reads one object (one read before the upstream) and has the whole
conversation; after the upstream has finished, the new turn is appended with one conditional write (``If-Match``
on the object read: two turns continuing the same conversation at once both land, the later one re-reads and
appends again). Continuing an earlier turn than the last one is a branch of the same tree, not a copy.

The object is compressed, then encrypted under a data key of the stack's KMS key that this instance keeps per
account (``security.data_keys``: no KMS call on a warm request), bound to the account and the conversation (a
ciphertext copied under another account's key, or to another conversation, does not decrypt). Its key starts
with the account id, so another account's id is simply not found. One object whatever its size: DynamoDB's
400 KB item limit is not the product's. Each turn expires ``RESPONSES_TTL_DAYS`` after it
was made (a read checks it); the bucket's lifecycle rule removes a conversation's object that long after its
last turn. A deleted turn is 404 from then on; its items stay as the context of the turns that continued it
until the conversation expires, and the object goes when no turn of it is left.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from gateway.core import aws
from gateway.core.errors import BadRequest, NotFound
from gateway.core.settings import get_settings
from gateway.security import crypto, data_keys

PURPOSE = "byok-gateway/responses"
RESPONSE_ID = re.compile(r"^resp_[A-Za-z0-9]{1,64}$")
DAY_S = 86_400
# The digits of a request id (``core.ids.new_request_id``): a continuing turn's id is two of them.
DIGITS = 28
MAX_WRITE_ATTEMPTS = 3
Item = dict[str, Any]


@dataclass
class Turn:
    id: str
    parent: int | None  # the index of the turn this one continued
    provider: str  # who served it: items made by another provider are replayed without their ids
    response: dict[str, Any]  # as the client got it
    input_items: list[Item]  # this request's own input
    expires_at: int
    deleted: bool = False

    def live(self) -> bool:
        return not self.deleted and self.expires_at > time.time()


@dataclass
class Conversation:
    """One conversation's object as read: its turns, and the version the next write must replace."""

    key: str  # the id of the turn that started it
    turns: list[Turn] = field(default_factory=list)
    etag: str | None = None

    def find(self, response_id: str) -> int | None:
        return next((i for i, turn in enumerate(self.turns) if turn.id == response_id and turn.live()), None)

    def history_after(self, index: int) -> list[Item]:
        """What a turn continuing turn ``index`` sends before its own input: every turn on the way there, each
        one's input then output; items another provider made lose their ids and reasoning (OpenAI would look
        the ids up and not find them)."""
        path: list[Turn] = []
        at: int | None = index
        while at is not None:
            path.append(self.turns[at])
            at = self.turns[at].parent
        items: list[Item] = []
        for turn in reversed(path):
            items += [*turn.input_items, *turn.response.get("output", [])]
            if turn.provider != "openai":
                items = [
                    {k: v for k, v in item.items() if k != "id"} for item in items if item.get("type") != "reasoning"
                ]
        return items


def _without_id(item: Item) -> Item:
    return {k: v for k, v in item.items() if k != "id"}


@dataclass(frozen=True)
class Continuation:
    """A ``previous_response_id`` turn's place: the conversation read, the turn it continues, what it sends."""

    conversation: Conversation
    parent: int
    history: list[Item]


def enabled() -> bool:
    return get_settings().responses_store == "on"


def encryption_context(account_id: str, conversation_key: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "customer": account_id, "response_id": conversation_key}


def response_id(request_id: str, continuing: Continuation | None) -> str:
    """The gateway's own id for a turn: the request id's time-sorted digits, then, for a turn stored into an
    existing conversation, that conversation's."""
    own = "resp_" + request_id.removeprefix("req_")
    if continuing is None:
        return own
    return own + continuing.conversation.key.removeprefix("resp_")


def conversation_key(response_id: str) -> str:
    digits = response_id.removeprefix("resp_")
    return "resp_" + digits[DIGITS:] if len(digits) == 2 * DIGITS else response_id


def _key(account_id: str, key: str) -> str:
    return f"responses/{account_id}/{key}"


def _read(account_id: str, key: str) -> Conversation | None:
    s3 = aws.s3()
    try:
        got = s3.get_object(Bucket=get_settings().responses_bucket, Key=_key(account_id, key))
    except s3.exceptions.NoSuchKey:
        return None
    try:
        plaintext = data_keys.decrypt(got["Body"].read(), encryption_context(account_id, key))
    except crypto.DecryptionFailed:
        return None
    document = json.loads(zlib.decompress(plaintext))
    turns = [Turn(**turn) for turn in document["turns"]] if "turns" in document else _single(key, document)
    return Conversation(key, turns, got["ETag"])


def _single(key: str, document: dict[str, Any]) -> list[Turn]:
    """An object written before conversations were kept whole (one response with the conversation before it):
    that conversation as a deleted first turn (sent as it was, never shown), then the response continuing it."""
    earlier = Turn("", None, "openai", {"output": []}, document["history"], document["expires_at"], deleted=True)
    response = document["response"]
    kept = Turn(key, 0, document["provider"], response, document["input_items"], document["expires_at"])
    return [earlier, kept]


def _write(account_id: str, conversation: Conversation) -> bool:
    """Put the conversation, replacing the version read (if any); False when another write came first."""
    # Each turn's fields as they are (``dataclasses.asdict`` would deep-copy every response again on every write)
    document = {"turns": [vars(turn) for turn in conversation.turns]}
    plaintext = zlib.compress(json.dumps(document, separators=(",", ":")).encode())
    ciphertext = data_keys.encrypt(plaintext, encryption_context(account_id, conversation.key))
    s3 = aws.s3()
    condition = {"IfMatch": conversation.etag} if conversation.etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=get_settings().responses_bucket,
            Key=_key(account_id, conversation.key),
            Body=ciphertext,
            **condition,
        )
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True


def _missing(response_id: str) -> NotFound:
    return NotFound(f"no response with id {response_id!r}", code="response_not_found", param="response_id")


def _located(account_id: str, response_id: str) -> tuple[Conversation, int]:
    """The conversation holding a live response of the account, and its index; 404 for an unknown, expired,
    deleted or another account's id."""
    if not RESPONSE_ID.fullmatch(response_id):
        raise _missing(response_id)
    conversation = _read(account_id, conversation_key(response_id))
    index = conversation.find(response_id) if conversation is not None else None
    if conversation is None or index is None:
        raise _missing(response_id)
    return conversation, index


def load(account_id: str, response_id: str) -> Turn:
    conversation, index = _located(account_id, response_id)
    return conversation.turns[index]


def continue_from(account_id: str, previous_response_id: str) -> Continuation:
    """The conversation a ``previous_response_id`` continues (one read); 400 when storage is off."""
    if not enabled():
        raise BadRequest(
            "previous_response_id cannot be used: response storage is off on this gateway (RESPONSES_STORE=off); "
            "send the earlier turns in input instead",
            param="previous_response_id",
            code="response_storage_off",
        )
    conversation, index = _located(account_id, previous_response_id)
    return Continuation(conversation, index, conversation.history_after(index))


def save(
    account_id: str, response: dict[str, Any], input_items: list[Item], provider: str, continuing: Continuation | None
) -> None:
    """Keep a turn: a new conversation, or appended to the one it continues (re-read if another turn landed
    since it was read)."""
    expires_at = int(time.time()) + get_settings().responses_ttl_days * DAY_S
    parent = continuing.parent if continuing is not None else None
    turn = Turn(response["id"], parent, provider, response, input_items, expires_at)
    conversation = continuing.conversation if continuing is not None else Conversation(response["id"])
    for _ in range(MAX_WRITE_ATTEMPTS):
        if _write(account_id, Conversation(conversation.key, [*conversation.turns, turn], conversation.etag)):
            return
        reread = _read(account_id, conversation.key)
        if reread is None:
            break
        conversation = reread
    raise RuntimeError("the conversation changed under every write attempt")


def delete(account_id: str, response_id: str) -> None:
    """404 unless the caller owns a live response; the object goes with the conversation's last live turn."""
    for _ in range(MAX_WRITE_ATTEMPTS):
        conversation, index = _located(account_id, response_id)
        conversation.turns[index].deleted = True
        if not any(turn.live() for turn in conversation.turns):
            aws.s3().delete_object(Bucket=get_settings().responses_bucket, Key=_key(account_id, conversation.key))
            return
        if _write(account_id, conversation):
            return
    raise RuntimeError("the conversation changed under every write attempt")
