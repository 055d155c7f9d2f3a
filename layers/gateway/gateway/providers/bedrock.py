"""Amazon Bedrock Converse and ConverseStream.

Auth is a Bedrock API key (Bearer) or SigV4 from the customer's stored AWS credentials and stored region,
never the Lambda's own role, region or environment. botocore is imported only when SigV4 is needed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from gateway.apis.chat.schema import (
    ChatRequest,
    DeveloperMessage,
    ResponseFormatJsonSchema,
    SystemMessage,
)
from gateway.core.catalog import Offer
from gateway.core.errors import BadRequest
from gateway.core.json_object import load_object
from gateway.providers import common, endpoints
from gateway.providers.base import AttemptFailed, Target, UnreadableResponse
from gateway.providers.transport import UpstreamRequest
from gateway.providers.wire.eventstream import EventStreamFrames
from gateway.routing import capabilities
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# Converse requires no maxTokens, but thinking needs one above its budget: this much room for the answer.
THINKING_ANSWER_TOKENS = 4096
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
# Converse's DocumentFormat, by media type.
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
# What a document's name may not contain: Converse takes letters, digits, single spaces, hyphens, parentheses and
# square brackets only.
NAME_REFUSED = re.compile(r"[^A-Za-z0-9\-()\[\]]+")
MAX_DOCUMENT_NAME = 200


@dataclass(frozen=True)
class BedrockAdapter:
    def build_request(self, request: ChatRequest, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        base = endpoints.bedrock_base(target.region)
        model = endpoints.model_segment(target.offer.model_id)
        url = f"{base}/model/{model}/{'converse-stream' if stream else 'converse'}"
        content = json.dumps(build_body(request, target.offer)).encode()
        headers = {
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream" if stream else "application/json",
        }
        credentials = target.credentials
        if isinstance(credentials, ApiKeyCredentials):
            headers["authorization"] = f"Bearer {credentials.api_key.get_secret_value()}"
        elif isinstance(credentials, AwsCredentials):
            headers = _sigv4(url, content, headers, credentials, target.region or "")
        else:
            raise AttemptFailed("amazon-bedrock needs an API key or AWS credentials")
        return UpstreamRequest("POST", url, headers, content)

    def parse_response(self, request: ChatRequest, target: Target, body: bytes) -> dict[str, Any]:
        data = common.load_json_object(body, target.provider)
        message = common.as_dict(data.get("output")).get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            raise UnreadableResponse(f"{target.provider} response has no output message")
        parts = common.AnswerParts(target.provider)
        for block in message["content"]:
            if not isinstance(block, dict):
                raise UnreadableResponse(f"{target.provider} response has a malformed content block")
            if isinstance(block.get("text"), str):
                parts.texts.append(block["text"])
            reasoning = common.as_dict(common.as_dict(block.get("reasoningContent")).get("reasoningText"))
            if isinstance(reasoning.get("text"), str):
                parts.thoughts.append(reasoning["text"])
            use = block.get("toolUse")
            if isinstance(use, dict):
                parts.tool_call(use.get("toolUseId"), use.get("name"), use.get("input"), "toolUse")
        reason = data.get("stopReason")
        finish_reason = STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
        return parts.completion(request, finish_reason, _usage(data.get("usage")))

    def stream_decoder(self, request: ChatRequest, target: Target) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(target.provider)

    def error_message(self, status: int, body: bytes) -> str:
        return common.error_text(status, body, ("message",), ("Message",), ("error", "message"))

    def classify(self, status: int, body: bytes) -> int:
        return status


def _usage(usage: Any) -> dict[str, int]:
    """Converse's ``inputTokens`` leaves out the tokens read from and written to the prompt cache."""
    read = common.int_field(usage, "cacheReadInputTokens")
    written = common.int_field(usage, "cacheWriteInputTokens")
    return common.usage_dict(
        common.int_field(usage, "inputTokens") + read + written,
        common.int_field(usage, "outputTokens"),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def _sigv4(
    url: str, content: bytes, headers: dict[str, str], credentials: AwsCredentials, region: str
) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signing = Credentials(
        credentials.access_key_id,
        credentials.secret_access_key.get_secret_value(),
        credentials.session_token.get_secret_value() if credentials.session_token else None,
    )
    aws_request = AWSRequest(method="POST", url=url, data=content, headers=dict(headers))
    SigV4Auth(signing, "bedrock", region).add_auth(aws_request)
    return {name.lower(): str(value) for name, value in aws_request.headers.items()}


def build_body(request: ChatRequest, offer: Offer) -> dict[str, Any]:
    provider = offer.slug
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    uses_tools = False
    for index, message in enumerate(request.messages):
        if isinstance(message, SystemMessage | DeveloperMessage):
            text = common.text_of(message.content)
            if text:
                system.append({"text": text})
            continue
        role, blocks = common.turn_blocks(index, message, provider, BLOCKS)
        uses_tools = uses_tools or any("toolUse" in b or "toolResult" in b for b in blocks)
        common.add_turn(messages, role, blocks)
    _unique_document_names(messages)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    limit = request.output_limit()
    if limit is not None:
        inference["maxTokens"] = limit
    if capabilities.thinking_requested(request):
        # Claude's extended thinking, passed through as the model's own request field.
        budget = capabilities.THINKING_BUDGETS[str(request.reasoning_effort)]
        if limit is None:
            inference["maxTokens"] = budget + THINKING_ANSWER_TOKENS
        else:
            budget = max(capabilities.THINKING_MIN_BUDGET, min(budget, limit - 1))
        body["additionalModelRequestFields"] = {"thinking": {"type": "enabled", "budget_tokens": budget}}
    elif request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    stops = request.stop_sequences()
    if stops:
        inference["stopSequences"] = stops
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request, provider, uses_tools)
    if tool_config:
        body["toolConfig"] = tool_config
    if capabilities.native_json_schema(request, offer):
        assert isinstance(request.response_format, ResponseFormatJsonSchema)
        spec = request.response_format.json_schema
        schema = {"schema": json.dumps(spec.schema_), "name": spec.name}
        if spec.description:
            schema["description"] = spec.description
        body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": schema}}}
    return body


def _tool_config(request: ChatRequest, provider: str, uses_tools: bool) -> dict[str, Any] | None:
    if not request.tools:
        return None
    choice = request.tool_choice
    if choice == "none":
        # Converse has no "none"; leaving tools out honours it unless the history holds tool blocks,
        # which Converse only accepts alongside a toolConfig.
        if uses_tools:
            raise common.unsupported(provider, "tool_choice", "none, with tool calls in the history")
        return None
    config: dict[str, Any] = {
        "tools": [
            {
                "toolSpec": {
                    "name": tool.function.name,
                    **({"description": tool.function.description} if tool.function.description else {}),
                    "inputSchema": {"json": tool.function.parameters or {"type": "object", "properties": {}}},
                }
            }
            for tool in request.tools
        ]
    }
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice is not None:
        config["toolChoice"] = {"tool": {"name": choice.function.name}}
    return config


def document_name(filename: str | None) -> str:
    """A name Converse accepts, from the file's name without its extension (``document`` when none is left)."""
    stem = (filename or "").rsplit(".", 1)[0]
    name = " ".join(NAME_REFUSED.sub(" ", stem).split())[:MAX_DOCUMENT_NAME].strip()
    return name or "document"


def _unique_document_names(messages: list[dict[str, Any]]) -> None:
    """Converse refuses two documents of one name in a request (the whole conversation is one request): a
    repeated name gets a number, ``report (2)``."""
    seen: set[str] = set()
    for message in messages:
        for block in message["content"]:
            document = block.get("document")
            if document is None:
                continue
            name, number = document["name"], 1
            while name.lower() in seen:
                number += 1
                suffix = f" ({number})"
                name = document["name"][: MAX_DOCUMENT_NAME - len(suffix)] + suffix
            seen.add(name.lower())
            document["name"] = name


def _document(file: common.InlineFile, param: str) -> dict[str, Any]:
    found = DOCUMENT_FORMATS.get(file.mime)
    if found is None:
        kinds = ", ".join(sorted(DOCUMENT_FORMATS.values()))
        raise BadRequest(f"{param}: Bedrock takes documents of these formats: {kinds}; not {file.mime}", param=param)
    return {"document": {"format": found, "name": document_name(file.filename), "source": {"bytes": file.data}}}


# Converse's content blocks (no empty text blocks either).
BLOCKS = common.BlockShapes(
    text=lambda text: {"text": text},
    image=lambda mime, data: {"image": {"format": IMAGE_FORMATS[mime], "source": {"bytes": data}}},
    document=_document,
    tool_use=lambda call_id, name, arguments: {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}},
    tool_result=lambda call_id, text: {
        "toolResult": {"toolUseId": call_id, "content": [{"text": text}] if text else []}
    },
)


@dataclass
class BedrockStreamDecoder:
    """``application/vnd.amazon.eventstream`` frames -> chunk deltas. Frames may arrive split anywhere."""

    provider: str
    usage: dict[str, int] | None = None
    _frames: EventStreamFrames = field(init=False)
    _tool_index: dict[int, int] = field(default_factory=dict)
    _started: bool = False
    _stopped: bool = False

    def __post_init__(self) -> None:
        self._frames = EventStreamFrames(self.provider)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [chunk for headers, payload in self._frames.feed(data) for chunk in self._frame(headers, payload)]

    def close(self) -> list[dict[str, Any]]:
        self._frames.close()
        if not self._stopped:
            raise UnreadableResponse(f"{self.provider} stream ended before messageStop")
        return []

    def _frame(self, headers: dict[str, Any], payload: bytes) -> list[dict[str, Any]]:
        not_json, not_object = (
            f"{self.provider} stream event is not JSON",
            f"{self.provider} stream event is not an object",
        )
        body = load_object(payload, UnreadableResponse, not_json, not_object) if payload else {}
        kind = headers.get(":event-type")
        if kind == "messageStart":
            self._started = True
            return [common.delta_chunk({"role": "assistant", "content": ""})]
        if kind == "contentBlockStart":
            use = common.as_dict(body.get("start")).get("toolUse")
            if not isinstance(use, dict):
                return []
            block_index = common.int_field(body, "contentBlockIndex")
            return [common.tool_call_started(self._tool_index, block_index, use.get("toolUseId"), use.get("name", ""))]
        if kind == "contentBlockDelta":
            delta = common.as_dict(body.get("delta"))
            if isinstance(delta.get("text"), str) and delta["text"]:
                return [common.delta_chunk({"content": delta["text"]})]
            reasoning = common.as_dict(delta.get("reasoningContent")).get("text")
            if isinstance(reasoning, str) and reasoning:
                return [common.delta_chunk({"reasoning_content": reasoning})]
            use = delta.get("toolUse")
            if isinstance(use, dict) and isinstance(use.get("input"), str) and use["input"]:
                known = self._tool_index.get(common.int_field(body, "contentBlockIndex"))
                if known is None:
                    raise UnreadableResponse(f"{self.provider} stream has arguments for an unknown tool call")
                call = {"index": known, "function": {"arguments": use["input"]}}
                return [common.delta_chunk({"tool_calls": [call]})]
            return []
        if kind == "messageStop":
            self._stopped = True
            reason = body.get("stopReason")
            return [common.delta_chunk({}, STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop")]
        if kind == "metadata":
            self.usage = _usage(body.get("usage"))
        return []
