"""Chat Completions pass-through: OpenAI, DeepSeek and Vertex partner models (its OpenAI-compatible endpoint).

The request is rebuilt field by field from the typed model (never forwarded blindly) with the offer's
model id.
Which request fields go as they are is the parameter table's word (``capabilities.forwarded``); the rest is
translated here: DeepSeek has no vision and switches thinking with ``thinking``; reasoning models on OpenAI
take ``max_completion_tokens``; non-OpenAI hosts take ``max_tokens`` and the ``system`` role.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.apis.chat.schema import (
    AssistantMessage,
    ChatRequest,
    DeveloperMessage,
    FilePart,
    ImagePart,
    ResponseFormatJsonObject,
    TextPart,
    UserMessage,
)
from gateway.providers import common, endpoints
from gateway.providers.base import AttemptFailed, Target, UnreadableResponse
from gateway.providers.transport import UpstreamRequest
from gateway.providers.wire import sse
from gateway.providers.wire.sse import SseParser
from gateway.routing import capabilities
from gateway.security.credentials import ApiKeyCredentials, ServiceAccountCredentials

REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_DELTA_KEYS = ("role", "content", "reasoning_content", "tool_calls", "refusal")


def shared_cache_key(account_id: str, own_key: str | None) -> str:
    """The ``prompt_cache_key`` of a request on the operator's OpenAI key: one per account, and within it one per
    key the customer sent. OpenAI routes a request by its prompt prefix combined with this key, so customers on
    the shared key no longer land on each other's cached prefixes (it is a routing key, not a guarantee: see
    docs/security.md). A hash, so no customer can name another's partition, and neither the account id nor the
    customer's own key reaches OpenAI."""
    digest = hashlib.sha256(f"{account_id}\n{own_key or ''}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"gw-{digest[:40]}"


@dataclass(frozen=True)
class OpenAICompatAdapter:
    """``dialect`` is ``openai``, ``deepseek`` or ``vertex`` (Vertex's ``endpoints/openapi``)."""

    dialect: str = "openai"

    def build_request(self, request: ChatRequest, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        body = self._body(request, target)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        url = self._url(target)  # validated before any token is fetched
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "authorization": f"Bearer {self._bearer(target, timeout)}",
        }
        return UpstreamRequest("POST", url, headers, json.dumps(body).encode())

    def _url(self, target: Target) -> str:
        if self.dialect == "vertex":
            project = _service_account(target).project_id
            base = endpoints.vertex_project_path(project, target.region)
            return f"{base}/endpoints/openapi/chat/completions"
        return f"{endpoints.base_url(target.provider)}/chat/completions"

    def _bearer(self, target: Target, timeout: float) -> str:
        if self.dialect == "vertex":
            from gateway.providers import google_oauth

            return google_oauth.access_token(_service_account(target), timeout, owner=target.owner)
        if not isinstance(target.credentials, ApiKeyCredentials):
            raise AttemptFailed(f"{target.provider} needs an API key credential")
        return target.credentials.api_key.get_secret_value()

    def _body(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        provider = target.provider
        native = self.dialect == "openai"
        endpoints.model_segment(target.offer.model_id, allow_slash=True)  # validated even in a body
        body: dict[str, Any] = {"model": target.offer.model_id}
        body["messages"] = [self._message(i, m, provider) for i, m in enumerate(request.messages)]
        limit = request.output_limit()
        if native and target.offer.model_id.startswith(REASONING_MODEL_PREFIXES):
            if limit is not None:
                body["max_completion_tokens"] = limit
        elif native:
            if request.max_tokens is not None:
                body["max_tokens"] = request.max_tokens
            if request.max_completion_tokens is not None:
                body["max_completion_tokens"] = request.max_completion_tokens
        elif limit is not None:
            body["max_tokens"] = limit
        for name in capabilities.forwarded(capabilities.dialect_of(target.offer)):
            value = getattr(request, name)
            if value is None or (name == "parallel_tool_calls" and not request.tools):
                continue
            body[name] = _wire(value)
        if native and target.cache_scope is not None:
            body["prompt_cache_key"] = shared_cache_key(target.cache_scope, request.prompt_cache_key)
        if self.dialect == "deepseek":
            if isinstance(request.response_format, ResponseFormatJsonObject):
                body["response_format"] = {"type": "json_object"}
            if request.reasoning_effort is not None:
                enabled = request.reasoning_effort != "none"
                body["thinking"] = {"type": "enabled" if enabled else "disabled"}
                if enabled:
                    body["reasoning_effort"] = request.reasoning_effort
        return body

    def _message(self, index: int, message: Any, provider: str) -> dict[str, Any]:
        dumped: dict[str, Any] = message.model_dump(exclude_none=True, by_alias=True)
        dumped.pop("refusal", None)
        if self.dialect != "deepseek":
            dumped.pop("reasoning_content", None)  # only DeepSeek takes its reasoning back
        if self.dialect == "openai":
            return dumped
        if isinstance(message, DeveloperMessage):
            dumped["role"] = "system"
        if isinstance(message, UserMessage) and not isinstance(message.content, str):
            for j, part in enumerate(message.content):
                if isinstance(part, ImagePart) and self.dialect == "deepseek":
                    raise common.unsupported(provider, f"messages[{index}].content[{j}]", "no image input")
                if isinstance(part, FilePart):
                    if self.dialect == "deepseek":
                        raise common.unsupported(provider, f"messages[{index}].content[{j}]", "no file input")
                    common.inline_file(part, provider, f"messages[{index}].content[{j}].file")  # no OpenAI file ids
            if all(isinstance(p, TextPart) for p in message.content):
                dumped["content"] = "".join(p.text for p in message.content if isinstance(p, TextPart))
        elif not isinstance(message, UserMessage) and isinstance(message.content, list):
            dumped["content"] = common.text_of(message.content)
        if isinstance(message, AssistantMessage) and "content" not in dumped and not message.tool_calls:
            dumped["content"] = ""
        return dumped

    def parse_response(self, request: ChatRequest, target: Target, body: bytes) -> dict[str, Any]:
        data = common.load_json_object(body, target.provider)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
            raise UnreadableResponse(f"{target.provider} response has no choices")
        parsed = [_choice(index, choice, target.provider) for index, choice in enumerate(choices)]
        return common.completion_of_choices(request, parsed, _usage(data.get("usage")), data.get("id"))

    def stream_decoder(self, request: ChatRequest, target: Target) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(target.provider)

    def error_message(self, status: int, body: bytes) -> str:
        return common.error_text(status, body, ("error", "message"), ("message",), ("detail",))

    def classify(self, status: int, body: bytes) -> int:
        return status


def _wire(value: Any) -> Any:
    """A typed request value as JSON (models dumped by alias, ``None`` fields left out)."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True, by_alias=True)
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


def _usage(usage: Any) -> dict[str, int]:
    """OpenAI's usage details; DeepSeek reports cache hits as ``prompt_cache_hit_tokens``."""
    prompt_details = common.as_dict(common.as_dict(usage).get("prompt_tokens_details"))
    completion_details = common.as_dict(common.as_dict(usage).get("completion_tokens_details"))
    cached = common.int_field(prompt_details, "cached_tokens") or common.int_field(usage, "prompt_cache_hit_tokens")
    return common.usage_dict(
        common.int_field(usage, "prompt_tokens"),
        common.int_field(usage, "completion_tokens"),
        cached_tokens=cached,
        reasoning_tokens=common.int_field(completion_details, "reasoning_tokens"),
    )


def _service_account(target: Target) -> ServiceAccountCredentials:
    if not isinstance(target.credentials, ServiceAccountCredentials):
        raise AttemptFailed("google-vertex needs a service-account credential")
    return target.credentials


def _choice(index: int, choice: dict[str, Any], provider: str) -> dict[str, Any]:
    """One upstream choice in the gateway's answer shape (content, tool calls, reasoning, refusal, logprobs)."""
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UnreadableResponse(f"{provider} response choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise UnreadableResponse(f"{provider} response content is not text")
    out: dict[str, Any] = {"role": "assistant", "content": content}
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        out["reasoning_content"] = reasoning
    tool_calls = [_tool_call(c, provider) for c in message.get("tool_calls") or []]
    if tool_calls:
        out["tool_calls"] = tool_calls
    if isinstance(message.get("refusal"), str):
        out["refusal"] = message["refusal"]
    finish = choice.get("finish_reason")
    parsed: dict[str, Any] = {
        "index": index,
        "message": out,
        "finish_reason": finish if isinstance(finish, str) else ("tool_calls" if tool_calls else "stop"),
    }
    if isinstance(choice.get("logprobs"), dict):
        parsed["logprobs"] = choice["logprobs"]
    return parsed


def _tool_call(raw: Any, provider: str) -> dict[str, Any]:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise UnreadableResponse(f"{provider} response has a malformed tool call")
    arguments = function.get("arguments")
    call_id = raw.get("id")
    return common.function_tool_call(
        call_id if isinstance(call_id, str) and call_id else common.tool_call_id(),
        function["name"],
        arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
    )


@dataclass
class OpenAIStreamDecoder:
    """Chat Completions SSE: each ``data:`` is a chunk; keep the delta, note usage, watch for the end."""

    provider: str
    usage: dict[str, int] | None = None
    _sse: SseParser = field(default_factory=SseParser)
    _done: bool = False
    _finished: bool = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return self._handle(self._sse.feed(data))

    def close(self) -> list[dict[str, Any]]:
        chunks = self._handle(self._sse.close())
        if not (self._done or self._finished):
            raise UnreadableResponse(f"{self.provider} stream ended before it finished")
        return chunks

    def _handle(self, events: list[Any]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for event in events:
            if event.data.strip() == "[DONE]":
                self._done = True
                continue
            payload = sse.json_object(event.data, self.provider)
            if payload is None:
                continue
            if "error" in payload:
                raise UnreadableResponse(f"{self.provider} reported an error mid-stream")
            usage = payload.get("usage")
            if isinstance(usage, dict):
                self.usage = _usage(usage)
            for choice in payload.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                index = choice.get("index", 0)
                index = index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else 0
                raw_delta = choice.get("delta")
                if not isinstance(raw_delta, dict):
                    raw_delta = {}
                delta = {k: raw_delta[k] for k in _DELTA_KEYS if raw_delta.get(k) is not None}
                raw_finish = choice.get("finish_reason")
                finish = raw_finish if isinstance(raw_finish, str) else None
                if finish:
                    self._finished = True
                if delta or finish:
                    chunk = common.delta_chunk(delta, finish, index)
                    if isinstance(choice.get("logprobs"), dict):
                        chunk["choices"][0]["logprobs"] = choice["logprobs"]
                    chunks.append(chunk)
        return chunks
