"""The chat stream's SSE bytes (``gateway.apis.chat.stream``): each decoded delta becomes one
``chat.completion.chunk`` under the gateway's id, the model as the request named it and the serving provider,
whatever the upstream's own chunk said; the first one says it is the assistant's."""

from __future__ import annotations

import json
import time
from typing import Any

from gateway.apis.chat.schema import ChatRequest
from gateway.apis.chat.stream import ChatStream
from gateway.apis.settled_stream import Ended
from gateway.providers.openai_compat import OpenAIStreamDecoder
from gateway.routing import relay

UPSTREAM = (
    b'data: {"id":"chatcmpl-upstream","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini-2025",'
    b'"system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"id":"chatcmpl-upstream","object":"chat.completion.chunk","created":1,"model":"gpt-5-mini-2025",'
    b'"system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hel\\u00e9lo"}}]}\n\n'
)


class _Reader:
    body_sent = True
    closed = False

    def close(self) -> None:
        self.closed = True


def _stream(events: list[dict[str, Any]]) -> ChatStream:
    live = relay.LiveStream(
        _Reader(),  # type: ignore[arg-type]
        OpenAIStreamDecoder("openai"),
        200,
        events,
        finished=True,
        deadline=time.monotonic() + 5,
        keepalive_s=5,
    )
    request = ChatRequest.model_validate(
        {"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    )
    ended: list[Ended] = []
    return ChatStream(
        live=live,
        request=request,
        request_id="req-1",
        provider="openai",
        public_usage=lambda usage: usage,
        on_end=ended.append,
    )


def _chunks(stream: ChatStream) -> list[bytes]:
    try:
        return list(stream)
    finally:
        stream.close()


def test_each_delta_is_a_chunk_under_the_gateways_id_model_and_provider() -> None:
    stream = _stream(OpenAIStreamDecoder("openai").feed(UPSTREAM))
    items = _chunks(stream)
    assert items[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(item.removeprefix(b"data: ")) for item in items[:-1]]
    created = chunks[0]["created"]
    assert isinstance(created, int) and abs(created - time.time()) < 60
    opening = {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": created}
    opening |= {"model": "openai/gpt-5-mini", "provider": "openai"}
    assert chunks == [
        {**opening, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**opening, "choices": [{"index": 0, "delta": {"content": "Hel\u00e9lo"}, "finish_reason": None}]},
    ]
    # Compact JSON, the fields in the order OpenAI sends them, non-ASCII escaped as json.dumps does.
    assert items[1] == (
        b'data: {"id":"chatcmpl-req-1","object":"chat.completion.chunk","created":%d,"model":"openai/gpt-5-mini",'
        b'"provider":"openai","choices":[{"index":0,"delta":{"content":"Hel\\u00e9lo"},"finish_reason":null}]}\n\n'
        % created
    )


def test_the_first_chunk_says_assistant_even_when_the_upstream_did_not() -> None:
    items = _chunks(_stream([{"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}]))
    first = json.loads(items[0].removeprefix(b"data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Hi"}


def test_an_event_with_more_than_choices_is_written_whole_in_its_order() -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {"usage": {"prompt_tokens": 1}, "choices": []},
        {"usage": {"prompt_tokens": 2}},
    ]
    items = _chunks(_stream(events))
    second, third = (json.loads(item.removeprefix(b"data: ")) for item in items[1:3])
    assert list(second) == ["id", "object", "created", "model", "provider", "usage", "choices"]
    assert list(third) == ["id", "object", "created", "model", "provider", "usage"]
    assert (second["usage"], third["usage"]) == ({"prompt_tokens": 1}, {"prompt_tokens": 2})


def test_a_client_gone_before_the_first_byte_stops_the_upstream_read_and_settles() -> None:
    stream = _stream([{"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}])
    reader = stream._live.reader
    stream._live.finished = False  # the upstream is still answering
    stream.close()  # the server closes the body before it read any of it
    assert isinstance(reader, _Reader) and reader.closed
