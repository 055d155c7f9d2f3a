"""Stored responses grow with what each turn says, not with the conversation so far: one object per conversation,
each turn kept once, continued with one read before the upstream and one write after it."""

from __future__ import annotations

import itertools
import json
import secrets
from typing import Any

import openai

from tests.conftest import Gateway
from tests.integration.test_responses import client, upstream

__all__ = ["client"]  # the fixture, shared with test_responses

TURNS = 20
MODELS = ("openai/gpt-5-mini", "anthropic/claude-sonnet-4.5", "google/gemini-3-flash")


def stored_bytes(gateway: Gateway) -> int:
    import boto3

    bucket = gateway.env["RESPONSES_BUCKET"]
    prefix = f"responses/{gateway.customer.account_id}/"
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sum(item["Size"] for item in listed.get("Contents", []))


def turn_text(turn: int) -> str:
    return f"turn {turn}: " + " ".join(secrets.token_hex(6) for _ in range(60))  # ~800 characters, incompressible


def test_a_twenty_turn_conversation_stores_bytes_linear_in_its_turns(client: openai.OpenAI, gateway: Gateway) -> None:
    # Given a conversation of 20 turns moving between providers, each continuing the last
    sizes: list[int] = []
    texts: list[str] = []
    previous: dict[str, Any] = {}
    for turn in range(TURNS):
        texts.append(turn_text(turn))
        response = client.responses.create(model=MODELS[turn % len(MODELS)], input=texts[-1], **previous)
        previous = {"previous_response_id": response.id}
        sizes.append(stored_bytes(gateway))

    # Then each turn adds about what it says (not the whole conversation again): the growth stays flat
    growth = [after - before for before, after in itertools.pairwise(sizes)]
    assert max(growth[-5:]) < 2 * max(growth[:5]), sizes
    assert sizes[-1] < 2 * TURNS * sizes[0], sizes
    # And the last turn was still sent the whole conversation
    sent = json.dumps(gateway.sim.requests[-1].json)
    assert all(text in sent for text in texts)
    assert [item.content[0].text for item in client.responses.input_items.list(response.id).data] == [texts[-1]]  # type: ignore[union-attr]


def test_a_branch_from_an_earlier_turn_gets_that_turn_s_conversation(client: openai.OpenAI, gateway: Gateway) -> None:
    # Given three turns on OpenAI
    first = client.responses.create(model="openai/gpt-5-mini", input="alpha")
    second = client.responses.create(model="openai/gpt-5-mini", input="beta", previous_response_id=first.id)
    client.responses.create(model="openai/gpt-5-mini", input="gamma", previous_response_id=second.id)
    objects = stored_bytes(gateway)

    # When a turn continues the first one instead of the last
    branch = client.responses.create(model="openai/gpt-5-mini", input="delta", previous_response_id=first.id)

    # Then OpenAI got the first turn and the new input only, and the branch lives in the same conversation
    sent = upstream(gateway, "openai")[-1].json["input"]
    texts = [part["text"] for item in sent if item.get("role") == "user" for part in _parts(item)]
    assert texts == ["alpha", "delta"]
    assert stored_bytes(gateway) > objects
    assert client.responses.retrieve(branch.id).output_text == branch.output_text
    # And deleting a turn leaves the turns that continued it readable
    client.responses.delete(first.id)
    assert client.responses.retrieve(second.id).id == second.id
    more = client.responses.create(model="openai/gpt-5-mini", input="epsilon", previous_response_id=second.id)
    assert more.status == "completed"


def _parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    content = item.get("content")
    return [{"text": content}] if isinstance(content, str) else [p for p in content if "text" in p]


def test_two_turns_continuing_one_response_at_once_are_both_kept(gateway: Gateway) -> None:
    from gateway.apis.responses import store

    # Given a stored response, and two continuations that both read its conversation before either is written
    account = gateway.customer.account_id
    first = {"id": "resp_" + "0" * 28, "output": [{"type": "message", "role": "assistant", "content": "one"}]}
    store.save(account, first, [{"role": "user", "content": "hi"}], "openai", None)
    left = store.continue_from(account, first["id"])
    right = store.continue_from(account, first["id"])

    # When both are written
    left_id = store.response_id("req_" + "1" * 28, left)
    right_id = store.response_id("req_" + "2" * 28, right)
    store.save(account, {"id": left_id, "output": []}, [{"role": "user", "content": "left"}], "openai", left)
    store.save(account, {"id": right_id, "output": []}, [{"role": "user", "content": "right"}], "openai", right)

    # Then both are kept, each continuing the first turn
    assert store.load(account, left_id).input_items == [{"role": "user", "content": "left"}]
    assert store.load(account, right_id).input_items == [{"role": "user", "content": "right"}]
    assert store.continue_from(account, right_id).history[0] == {"role": "user", "content": "hi"}


def test_a_response_stored_before_conversations_were_kept_whole_still_continues(
    client: openai.OpenAI, gateway: Gateway
) -> None:
    import zlib

    from gateway.apis.responses import store
    from gateway.core import aws
    from gateway.core.settings import get_settings
    from tests.encryption_sdk import sdk_message

    # Given an object in the earlier layout: one response with the conversation before it
    account, rid = gateway.customer.account_id, "resp_" + "3" * 28
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "two"}]}]
    document = {
        "response": {"id": rid, "object": "response", "output": output},
        "input_items": [{"role": "user", "content": "second"}],
        "history": [{"role": "user", "content": "first"}],
        "provider": "openai",
        "expires_at": 2**40,
    }
    plaintext = zlib.compress(json.dumps(document).encode())
    body = sdk_message(plaintext, store.encryption_context(account, rid))
    aws.s3().put_object(Bucket=get_settings().responses_bucket, Key=f"responses/{account}/{rid}", Body=body)

    # Then it is read, and a new turn is sent the whole conversation
    assert client.responses.retrieve(rid).id == rid
    client.responses.create(model="openai/gpt-5-mini", input="third", previous_response_id=rid)
    sent = upstream(gateway, "openai")[-1].json["input"]
    assert [item.get("content") for item in sent if item.get("role") == "user"] == ["first", "second", "third"]


def test_warm_stored_and_continued_turns_make_no_kms_call(
    client: openai.OpenAI, gateway: Gateway, monkeypatch: Any
) -> None:
    from botocore.client import BaseClient

    # Given an instance whose first stored turn has taken the account's data key (and that has used both
    # providers' credentials once: their decryption is the cold path of the credential cache)
    first = client.responses.create(model="openai/gpt-5-mini", input="alpha")
    client.responses.create(model="anthropic/claude-sonnet-4.5", input="warm", store=False)
    calls: list[str] = []
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:  # every botocore client
        if self.meta.service_model.service_name == "kms":
            calls.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    # When it stores more turns, continues them and reads them back
    second = client.responses.create(model="anthropic/claude-sonnet-4.5", input="beta", previous_response_id=first.id)
    third = client.responses.create(model="openai/gpt-5-mini", input="gamma", previous_response_id=second.id)
    fetched = client.responses.retrieve(third.id)

    # Then none of it called KMS, and the conversation is whole
    assert calls == []
    assert fetched.id == third.id
    assert "alpha" in json.dumps(gateway.sim.requests[-1].json)
