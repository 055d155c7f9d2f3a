"""Gemini ``generateContent``: Google AI Studio (API key header) and Vertex AI (OAuth, optional dedicated PT).

JSON is camelCase. Tool results need the function name, which OpenAI messages carry only on the earlier
assistant tool call, so it is looked up by ``tool_call_id``. Full JSON Schema goes in
``parametersJsonSchema`` / ``responseJsonSchema`` (the OpenAPI-subset ``parameters`` / ``responseSchema``
reject keywords such as ``additionalProperties`` that strict OpenAI schemas always carry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.apis.chat.schema import (
    AssistantMessage,
    ChatRequest,
    DeveloperMessage,
    FilePart,
    ImagePart,
    ResponseFormatJsonObject,
    ResponseFormatJsonSchema,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from gateway.core.errors import BadRequest
from gateway.providers import common, endpoints
from gateway.providers.base import AttemptFailed, Target, UnreadableResponse
from gateway.providers.transport import UpstreamRequest
from gateway.providers.wire import sse
from gateway.providers.wire.sse import SseParser
from gateway.routing import capabilities
from gateway.security.credentials import ApiKeyCredentials, ServiceAccountCredentials

# Gemini 3 rejects replayed function calls without the thought signature it issued; OpenAI-shaped history
# cannot carry one, so we send Google's documented sentinel that skips the check.
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
}
# reasoning_effort as Gemini 3's thinkingLevel (it cannot switch thinking off: "none" is its minimum) and as
# Gemini 2.5's thinkingBudget in tokens (Flash: 0 switches thinking off, at most 24576).
THINKING_LEVELS = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
THINKING_LEVELS["xhigh"] = "high"
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}


@dataclass(frozen=True)
class GeminiAdapter:
    vertex: bool = False

    def build_request(self, request: ChatRequest, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        model = endpoints.model_segment(target.offer.model_id)
        body = build_body(request, target)
        verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if self.vertex:
            credentials = target.credentials
            if not isinstance(credentials, ServiceAccountCredentials):
                raise AttemptFailed("google-vertex needs a service-account credential")
            base = endpoints.vertex_project_path(credentials.project_id, target.region)
            url = f"{base}/publishers/google/models/{model}:{verb}"
            from gateway.providers import google_oauth

            headers["authorization"] = f"Bearer {google_oauth.access_token(credentials, timeout, owner=target.owner)}"
            if target.provisioned_throughput:
                headers["x-vertex-ai-llm-request-type"] = "dedicated"
        else:
            if not isinstance(target.credentials, ApiKeyCredentials):
                raise AttemptFailed("google-ai-studio needs an API key credential")
            url = f"{endpoints.base_url(target.provider)}/models/{model}:{verb}"
            headers["x-goog-api-key"] = target.credentials.api_key.get_secret_value()
        return UpstreamRequest("POST", url, headers, json.dumps(body).encode())

    def parse_response(self, request: ChatRequest, target: Target, body: bytes) -> dict[str, Any]:
        data = common.load_json_object(body, target.provider)
        candidates = data.get("candidates")
        if candidates is None and "promptFeedback" in data:
            # The prompt itself was blocked: no candidate at all.
            return common.chat_completion(
                request, content=None, tool_calls=[], finish_reason="content_filter", usage=_usage(data)
            )
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            raise UnreadableResponse(f"{target.provider} response has no candidates")
        if not all(isinstance(candidate, dict) for candidate in candidates):
            raise UnreadableResponse(f"{target.provider} response has a malformed candidate")
        choices = [_choice(position, candidate, target.provider) for position, candidate in enumerate(candidates)]
        return common.completion_of_choices(request, choices, _usage(data))  # n > 1: every candidate

    def stream_decoder(self, request: ChatRequest, target: Target) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(target.provider)

    def error_message(self, status: int, body: bytes) -> str:
        return common.error_text(status, body, ("error", "message"), ("message",))

    def classify(self, status: int, body: bytes) -> int:
        """Google reports a dead API key as 400 INVALID_ARGUMENT with reason API_KEY_INVALID, and a project
        without billing where the free tier is unavailable as 400 FAILED_PRECONDITION: both are about the
        credential, not the request, so they count as 401 / 403 and the next attempt runs."""
        if status != 400:
            return status
        error = common.as_dict(common.load_json_object(body, "gemini").get("error"))
        details = error.get("details")
        reasons = {common.as_dict(d).get("reason") for d in details} if isinstance(details, list) else set()
        if "API_KEY_INVALID" in reasons:
            return 401
        if error.get("status") == "FAILED_PRECONDITION":
            return 403
        return status


def _choice(position: int, candidate: dict[str, Any], provider: str) -> dict[str, Any]:
    texts, tool_calls = _parts(candidate, provider)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    reasoning = "".join(_thoughts(candidate))
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    index = candidate.get("index", position)
    return {
        "index": index if isinstance(index, int) and not isinstance(index, bool) else position,
        "message": message,
        "finish_reason": _finish(candidate.get("finishReason"), bool(tool_calls)),
    }


def _finish(reason: Any, has_tool_calls: bool) -> str:
    if has_tool_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def _usage(data: dict[str, Any]) -> dict[str, int]:
    """``promptTokenCount`` includes the cached tokens; thoughts are billed as output, so they are completion."""
    meta = data.get("usageMetadata")
    thoughts = common.int_field(meta, "thoughtsTokenCount")
    return common.usage_dict(
        common.int_field(meta, "promptTokenCount"),
        common.int_field(meta, "candidatesTokenCount") + thoughts,
        cached_tokens=common.int_field(meta, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def _thoughts(candidate: dict[str, Any]) -> list[str]:
    """Thought-summary parts (``includeThoughts``): the reasoning content."""
    parts = common.as_dict(candidate.get("content")).get("parts")
    return [
        part["text"]
        for part in parts or []
        if isinstance(part, dict) and part.get("thought") is True and isinstance(part.get("text"), str)
    ]


def _parts(candidate: dict[str, Any], provider: str) -> tuple[list[str], list[dict[str, Any]]]:
    parts = common.as_dict(candidate.get("content")).get("parts")
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for part in parts or []:
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            if not isinstance(call.get("name"), str):
                raise UnreadableResponse(f"{provider} response has a malformed functionCall")
            call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
            arguments = json.dumps(call.get("args") or {}, separators=(",", ":"))
            tool_calls.append(common.function_tool_call(call_id or common.tool_call_id(), call["name"], arguments))
    return texts, tool_calls


def build_body(request: ChatRequest, target: Target) -> dict[str, Any]:
    provider = target.provider
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    signed = target.offer.model_id.startswith("gemini-3")
    for index, message in enumerate(request.messages):
        if isinstance(message, SystemMessage | DeveloperMessage):
            system.append(common.text_of(message.content))
            continue
        role, parts = _message_parts(index, message, provider, call_names, signed)
        common.add_turn(contents, role, parts, key="parts")
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = _generation_config(request)
    thinking = _thinking_config(request, signed)
    if thinking:
        config["thinkingConfig"] = thinking
    if config:
        body["generationConfig"] = config
    if request.tools:
        declarations = []
        for tool in request.tools:
            declaration: dict[str, Any] = {"name": tool.function.name}
            if tool.function.description:
                declaration["description"] = tool.function.description
            if tool.function.parameters:
                declaration["parametersJsonSchema"] = tool.function.parameters
            declarations.append(declaration)
        body["tools"] = [{"functionDeclarations": declarations}]
        tool_config = _tool_config(request)
        if tool_config:
            body["toolConfig"] = {"functionCallingConfig": tool_config}
    return body


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    mapping = {
        "temperature": "temperature",
        "top_p": "topP",
        "seed": "seed",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
    }
    for name, key in mapping.items():
        value = getattr(request, name)
        if value is not None:
            config[key] = value
    limit = request.output_limit()
    if limit is not None:
        config["maxOutputTokens"] = limit
    if request.n is not None and request.n > 1:
        config["candidateCount"] = request.n
    stops = request.stop_sequences()
    if stops:
        config["stopSequences"] = stops
    response_format = request.response_format
    if isinstance(response_format, ResponseFormatJsonObject):
        config["responseMimeType"] = "application/json"
    elif isinstance(response_format, ResponseFormatJsonSchema):
        config["responseMimeType"] = "application/json"
        if response_format.json_schema.schema_:
            config["responseJsonSchema"] = response_format.json_schema.schema_
    return config


def _thinking_config(request: ChatRequest, gemini_3: bool) -> dict[str, Any] | None:
    effort = request.reasoning_effort
    if effort is None:
        return None
    config: dict[str, Any] = (
        {"thinkingLevel": THINKING_LEVELS[effort]} if gemini_3 else {"thinkingBudget": THINKING_BUDGETS[effort]}
    )
    if capabilities.thinking_requested(request):
        config["includeThoughts"] = True
    return config


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "required":
        return {"mode": "ANY"}
    return {"mode": "ANY", "allowedFunctionNames": [choice.function.name]}


def _message_parts(
    index: int, message: Any, provider: str, call_names: dict[str, str], signed: bool
) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return "user", _text_part(message.content)
        parts: list[dict[str, Any]] = []
        for j, part in enumerate(message.content):
            if isinstance(part, ImagePart):
                mime, data = common.data_url_image(
                    part.image_url.url, provider, f"messages[{index}].content[{j}].image_url.url"
                )
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
            elif isinstance(part, FilePart):  # Gemini reads documents (PDF, text) as inline data; it judges the type
                file = common.inline_file(part, provider, f"messages[{index}].content[{j}].file")
                parts.append({"inlineData": {"mimeType": file.mime, "data": file.data}})
            else:
                parts.extend(_text_part(part.text))
        return "user", parts
    if isinstance(message, AssistantMessage):
        parts = _text_part(common.text_of(message.content))
        for j, call in enumerate(message.tool_calls or []):
            arguments = common.parse_arguments(
                call.function.arguments, f"messages[{index}].tool_calls[{j}].function.arguments"
            )
            call_names[call.id] = call.function.name
            call_part: dict[str, Any] = {"functionCall": {"name": call.function.name, "args": arguments}}
            if signed:
                call_part["thoughtSignature"] = SKIP_THOUGHT_SIGNATURE
            parts.append(call_part)
        return "model", parts
    if isinstance(message, ToolMessage):
        name = call_names.get(message.tool_call_id)
        if name is None:
            param = f"messages[{index}].tool_call_id"
            raise BadRequest(f"{param} does not match any earlier assistant tool call", param=param)
        response = {"content": common.text_of(message.content)}
        return "user", [{"functionResponse": {"name": name, "response": response}}]
    raise AssertionError(f"unhandled message type {type(message).__name__}")


def _text_part(text: str) -> list[dict[str, Any]]:
    return [{"text": text}] if text else []


@dataclass
class GeminiStreamDecoder:
    """``alt=sse`` streams whole GenerateContentResponse objects; the one with a finishReason ends it."""

    provider: str
    usage: dict[str, int] | None = None
    _sse: SseParser = field(default_factory=SseParser)
    _started: bool = False
    _tool_calls: dict[int, int] = field(default_factory=dict)  # candidate index -> tool calls so far
    _finished: bool = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [chunk for event in self._sse.feed(data) for chunk in self._event(event.data)]

    def close(self) -> list[dict[str, Any]]:
        chunks = [chunk for event in self._sse.close() for chunk in self._event(event.data)]
        if not self._finished:
            raise UnreadableResponse(f"{self.provider} stream ended without a finishReason")
        return chunks

    def _event(self, data: str) -> list[dict[str, Any]]:
        payload = sse.json_object(data, self.provider)
        if payload is None:
            return []
        if "error" in payload:
            raise UnreadableResponse(f"{self.provider} reported an error mid-stream")
        if isinstance(payload.get("usageMetadata"), dict):
            self.usage = _usage(payload)
        chunks: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            chunks.append(common.delta_chunk({"role": "assistant", "content": ""}))
        candidates = payload.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            if isinstance(common.as_dict(payload.get("promptFeedback")).get("blockReason"), str):
                self._finished = True
                chunks.append(common.delta_chunk({}, "content_filter"))
            return chunks
        for position, raw in enumerate(candidates):
            candidate = raw if isinstance(raw, dict) else {}
            index = candidate.get("index", position)
            index = index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else position
            chunks += self._candidate(index, candidate)
        return chunks

    def _candidate(self, index: int, candidate: dict[str, Any]) -> list[dict[str, Any]]:
        """One candidate's part of a streamed response, as chunks of choice ``index``."""
        chunks: list[dict[str, Any]] = []
        texts, calls = _parts(candidate, self.provider)
        thoughts = "".join(_thoughts(candidate))
        if thoughts:
            chunks.append(common.delta_chunk({"reasoning_content": thoughts}, index=index))
        if texts and "".join(texts):
            chunks.append(common.delta_chunk({"content": "".join(texts)}, index=index))
        for call in calls:
            position = self._tool_calls.get(index, 0)
            chunks.append(common.delta_chunk({"tool_calls": [{"index": position, **call}]}, index=index))
            self._tool_calls[index] = position + 1
        reason = candidate.get("finishReason")
        if isinstance(reason, str):
            self._finished = True
            chunks.append(common.delta_chunk({}, _finish(reason, self._tool_calls.get(index, 0) > 0), index))
        return chunks
