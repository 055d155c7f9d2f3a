"""Anthropic Messages API, direct (``/messages``) or via Vertex (``:rawPredict`` / ``:streamRawPredict``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.apis.chat.schema import (
    ChatRequest,
    DeveloperMessage,
    ResponseFormatJsonSchema,
    SystemMessage,
)
from gateway.core.catalog import Offer
from gateway.core.errors import BadRequest
from gateway.providers import common, endpoints
from gateway.providers.base import AttemptFailed, DecoderOver, Target, UnreadableResponse
from gateway.providers.transport import UpstreamRequest
from gateway.providers.wire.anthropic_events import AnthropicEvents, tokens
from gateway.routing import capabilities
from gateway.security.credentials import ApiKeyCredentials, ServiceAccountCredentials

ANTHROPIC_VERSION = "2023-06-01"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
# Anthropic requires max_tokens; when the caller sets no limit we ask for this many.
DEFAULT_MAX_TOKENS = 4096
# How Anthropic words a 400 that is about the account's balance, not the request.
CREDIT_BALANCE_TOO_LOW = "credit balance is too low"
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@dataclass(frozen=True)
class AnthropicAdapter:
    vertex: bool = False

    def build_request(self, request: ChatRequest, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        body = build_body(request, target.offer)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if stream:
            body["stream"] = True
        if self.vertex:
            credentials = target.credentials
            if not isinstance(credentials, ServiceAccountCredentials):
                raise AttemptFailed("google-vertex needs a service-account credential")
            model = endpoints.vertex_model_segment(target.offer.model_id)
            base = endpoints.vertex_project_path(credentials.project_id, target.region)
            verb = "streamRawPredict" if stream else "rawPredict"
            url = f"{base}/publishers/anthropic/models/{model}:{verb}"
            from gateway.providers import google_oauth

            headers["authorization"] = f"Bearer {google_oauth.access_token(credentials, timeout, owner=target.owner)}"
            body = {"anthropic_version": VERTEX_ANTHROPIC_VERSION, **body}
        else:
            if not isinstance(target.credentials, ApiKeyCredentials):
                raise AttemptFailed("anthropic needs an API key credential")
            endpoints.model_segment(target.offer.model_id)
            url = f"{endpoints.base_url(target.provider)}/messages"
            headers["x-api-key"] = target.credentials.api_key.get_secret_value()
            headers["anthropic-version"] = ANTHROPIC_VERSION
            body = {"model": target.offer.model_id, **body}
        return UpstreamRequest("POST", url, headers, json.dumps(body).encode())

    def parse_response(self, request: ChatRequest, target: Target, body: bytes) -> dict[str, Any]:
        data = common.load_json_object(body, target.provider)
        blocks = data.get("content")
        if data.get("type") != "message" or not isinstance(blocks, list):
            raise UnreadableResponse(f"{target.provider} response is not an Anthropic message")
        parts = common.AnswerParts(target.provider)
        for block in blocks:
            if not isinstance(block, dict):
                raise UnreadableResponse(f"{target.provider} response has a malformed content block")
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.texts.append(block["text"])
            elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                parts.thoughts.append(block["thinking"])
            elif block.get("type") == "tool_use":
                parts.tool_call(block.get("id"), block.get("name"), block.get("input"), "tool_use")
        stop_reason = data.get("stop_reason")
        finish_reason = STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
        return parts.completion(request, finish_reason, tokens(data.get("usage")), data.get("id"))

    def stream_decoder(self, request: ChatRequest, target: Target) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(target.provider)

    def error_message(self, status: int, body: bytes) -> str:
        return common.error_text(status, body, ("error", "message"), ("message",))

    def classify(self, status: int, body: bytes) -> int:
        """Anthropic answers an account out of credits with 400 invalid_request_error ("Your credit balance is
        too low to access the Anthropic API"): the key's account, not the request, so it counts as 402."""
        if status != 400:
            return status
        message = common.as_dict(common.load_json_object(body, "anthropic").get("error")).get("message")
        if isinstance(message, str) and CREDIT_BALANCE_TOO_LOW in message.lower():
            return 402
        return status


def thinking(request: ChatRequest) -> tuple[dict[str, Any], int] | None:
    """Extended thinking for ``reasoning_effort`` and the ``max_tokens`` it needs (above the budget; OpenAI's
    limit counts reasoning too, so a caller's limit stays the limit and the budget fits inside it)."""
    if not capabilities.thinking_requested(request):
        return None
    budget = capabilities.THINKING_BUDGETS[str(request.reasoning_effort)]
    limit = request.output_limit()
    if limit is None:
        return {"type": "enabled", "budget_tokens": budget}, budget + DEFAULT_MAX_TOKENS
    return {"type": "enabled", "budget_tokens": max(capabilities.THINKING_MIN_BUDGET, min(budget, limit - 1))}, limit


def build_body(request: ChatRequest, offer: Offer) -> dict[str, Any]:
    """The Messages body without ``model`` (direct and Vertex place the model differently)."""
    provider = offer.slug
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(request.messages):
        if isinstance(message, SystemMessage | DeveloperMessage):
            system.append(common.text_of(message.content))
            continue
        common.add_turn(messages, *common.turn_blocks(index, message, provider, BLOCKS))
    body: dict[str, Any] = {"max_tokens": request.output_limit() or DEFAULT_MAX_TOKENS, "messages": messages}
    if system:
        body["system"] = "\n\n".join(system)
    extended = thinking(request)
    if extended is not None:
        body["thinking"], body["max_tokens"] = extended
    elif request.temperature is not None:
        body["temperature"] = request.temperature  # with thinking only the default (1) is allowed
    if request.top_p is not None:
        body["top_p"] = request.top_p
    stops = request.stop_sequences()
    if stops:
        body["stop_sequences"] = stops
    if request.tools:
        body["tools"] = [
            {
                "name": tool.function.name,
                **({"description": tool.function.description} if tool.function.description else {}),
                "input_schema": tool.function.parameters or {"type": "object", "properties": {}},
            }
            for tool in request.tools
        ]
    tool_choice = _tool_choice(request)
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if request.end_user() is not None:
        body["metadata"] = {"user_id": request.end_user()}
    if capabilities.native_json_schema(request, offer):
        assert isinstance(request.response_format, ResponseFormatJsonSchema)
        schema = request.response_format.json_schema.schema_
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return body


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if not request.tools:
        return None
    if choice is None:
        mapped: dict[str, Any] = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "auto":
        mapped = {"type": "auto"}
    elif choice == "required":
        mapped = {"type": "any"}
    else:
        mapped = {"type": "tool", "name": choice.function.name}
    if request.parallel_tool_calls is False:
        mapped["disable_parallel_tool_use"] = True
    elif choice is None:
        return None
    return mapped


def _tool_result(call_id: str, text: str) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if text:
        result["content"] = text
    return result


def _document(file: common.InlineFile, param: str) -> dict[str, Any]:
    """Anthropic's ``document`` block: a PDF as a base64 source, plain text as a text source."""
    if file.mime == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": file.data}
    elif file.mime == "text/plain":
        source = {"type": "text", "media_type": "text/plain", "data": file.text(param)}
    else:
        raise BadRequest(f"{param}: Claude takes PDF and plain-text documents, not {file.mime}", param=param)
    block: dict[str, Any] = {"type": "document", "source": source}
    if file.filename:
        block["title"] = file.filename
    return block


# Anthropic's content blocks (it rejects empty text blocks: ``BlockShapes.texts`` writes none).
BLOCKS = common.BlockShapes(
    text=lambda text: {"type": "text", "text": text},
    image=lambda mime, data: {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}},
    document=_document,
    tool_use=lambda call_id, name, arguments: {"type": "tool_use", "id": call_id, "name": name, "input": arguments},
    tool_result=_tool_result,
)


class AnthropicStreamDecoder(DecoderOver):
    """Anthropic events (``wire.anthropic_events``) -> chunk deltas. Tool calls are numbered in order of appearance."""

    def __init__(self, provider: str) -> None:
        self.inner = AnthropicEvents(provider)
        self._tool_index: dict[int, int] = {}
        self.provider = provider

    def _chunks(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if kind == "message_start":
            return [common.delta_chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = common.as_dict(event.get("content_block"))
            if block.get("type") != "tool_use":
                return []
            block_index = common.int_field(event, "index")
            return [common.tool_call_started(self._tool_index, block_index, block.get("id"), block.get("name", ""))]
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "message_delta":
            reason = common.as_dict(event.get("delta")).get("stop_reason")
            if isinstance(reason, str):
                return [common.delta_chunk({}, STOP_REASONS.get(reason, "stop"))]
        return []

    def _delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        delta = common.as_dict(event.get("delta"))
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [common.delta_chunk({"content": delta["text"]})]
        if delta.get("type") == "thinking_delta" and delta.get("thinking"):
            return [common.delta_chunk({"reasoning_content": delta["thinking"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            known = self._tool_index.get(common.int_field(event, "index"))
            if known is None:
                raise UnreadableResponse(f"{self.provider} stream has arguments for an unknown tool call")
            call = {"index": known, "function": {"arguments": delta["partial_json"]}}
            return [common.delta_chunk({"tool_calls": [call]})]
        return []
