"""Amazon Bedrock Converse (`/model/{modelId}/converse`) and ConverseStream (`/converse-stream`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from local.simulator import documents
from local.simulator.content import Answer, Finish, Prompt, compose, paced, split_in_two
from local.simulator.eventstream import encode_event
from local.simulator.pacing import PacingHandle
from local.simulator.wire import Reply, json_reply, new_id

STOP_REASONS = {
    Finish.STOP: "end_turn",
    Finish.STOP_SEQUENCE: "stop_sequence",
    Finish.LENGTH: "max_tokens",
    Finish.TOOL: "tool_use",
}
ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
EVENT_STREAM_TYPE = "application/vnd.amazon.eventstream"
MIN_THINKING_BUDGET = 1024
SIGNATURE = "c2ltdWxhdGVkLXJlYXNvbmluZy1zaWduYXR1cmU="


def error_reply(status: int, message: str, error_type: str | None = None) -> Reply:
    kind = error_type or ERROR_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    return json_reply(status, {"message": message}, headers={"x-amzn-ErrorType": kind})


def handle_converse(body: Any, model_id: str, stream: bool, pacing: PacingHandle | None = None) -> Reply:
    if not isinstance(body, dict):
        return error_reply(400, "Malformed input request, please reformat your input and try again.")
    prompt = _prompt(body, model_id)
    if isinstance(prompt, Reply):
        return prompt
    answer = paced(compose(prompt), pacing)
    if stream:
        return Reply(status=200, content_type=EVENT_STREAM_TYPE, stream=_stream(answer))
    return json_reply(
        200,
        {
            "output": {"message": {"role": "assistant", "content": _content(answer)}},
            "stopReason": STOP_REASONS[answer.finish],
            "usage": _usage(answer),
            "metrics": {"latencyMs": 1},
        },
    )


def _prompt(body: dict[str, Any], model_id: str) -> Prompt | Reply:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_reply(
            400,
            "A conversation must start with a user message.",
        )
    prompt = Prompt(provider="amazon-bedrock", model=model_id)
    malformed = _documents_problem(messages)
    if malformed is not None:
        return error_reply(400, malformed)
    for block in body.get("system") or []:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            prompt.texts.append(block["text"])
            prompt.system_text += block["text"]
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {"user", "assistant"}:
            return error_reply(
                400,
                f"1 validation error detected: Value at 'messages.{index + 1}.member.role' failed to satisfy "
                "constraint: Member must satisfy enum value set: [user, assistant]",
            )
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return error_reply(
                400,
                f"1 validation error detected: Value at 'messages.{index + 1}.member.content' failed to "
                "satisfy constraint: Member must not be null",
            )
        text = _content_text(content)
        prompt.texts.append(text)
        if message["role"] == "user" and any(isinstance(block, dict) and "text" in block for block in content):
            prompt.last_user_text = text
    last = messages[-1].get("content") or []
    prompt.after_tool_result = any(isinstance(block, dict) and "toolResult" in block for block in last)
    tool_config = body.get("toolConfig") or {}
    for tool in tool_config.get("tools") or []:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            prompt.tools.append(spec["name"])
            prompt.tool_schemas[spec["name"]] = (spec.get("inputSchema") or {}).get("json")
    choice = tool_config.get("toolChoice") or {}
    if "any" in choice:
        prompt.forced_tool = ""
    elif isinstance(choice.get("tool"), dict):
        prompt.forced_tool = str(choice["tool"].get("name", ""))
    inference = body.get("inferenceConfig") or {}
    max_tokens = inference.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return error_reply(
            400,
            "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
        )
    prompt.max_tokens = max_tokens
    prompt.stop_sequences = [s for s in inference.get("stopSequences") or [] if isinstance(s, str)]
    return _thinking_and_format(body, prompt, inference) or prompt


def _thinking_and_format(body: dict[str, Any], prompt: Prompt, inference: dict[str, Any]) -> Reply | None:
    """Claude's thinking (in additionalModelRequestFields) and Converse structured output (outputConfig)."""
    extra = body.get("additionalModelRequestFields") or {}
    thinking = extra.get("thinking") if isinstance(extra, dict) else None
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget, limit = thinking.get("budget_tokens"), inference.get("maxTokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
            return error_reply(400, f"thinking.budget_tokens: must be at least {MIN_THINKING_BUDGET}")
        if not isinstance(limit, int) or budget >= limit:
            return error_reply(400, "The maximum tokens you requested must be greater than thinking.budget_tokens.")
        if inference.get("temperature") not in (None, 1):
            return error_reply(400, "temperature may only be set to 1 when thinking is enabled.")
        prompt.reasoning = True
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if isinstance(text_format, dict):
        definition = (text_format.get("structure") or {}).get("jsonSchema") or {}
        if text_format.get("type") != "json_schema" or not isinstance(definition.get("schema"), str):
            return error_reply(400, "outputConfig.textFormat: expected json_schema with a JSON string schema.")
        try:
            prompt.response_schema = json.loads(definition["schema"])
        except ValueError:
            return error_reply(400, "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON.")
    return None


def _documents_problem(messages: list[Any]) -> str | None:
    names: set[str] = set()  # document names met so far: Converse refuses a repeat in one request
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        for position, block in enumerate(content if isinstance(content, list) else []):
            if isinstance(block, dict) and "document" in block:
                where = f"messages.{index + 1}.member.content.{position + 1}.member.document"
                problem = documents.converse_problem(block["document"], where, names)
                if problem is not None:
                    return problem
    return None


def _content_text(content: list[Any]) -> str:
    pieces: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            pieces.append(block["text"])
        elif isinstance(block.get("toolResult"), dict):
            pieces.append(_content_text(block["toolResult"].get("content") or []))
        elif isinstance(block.get("document"), dict):
            pieces.append(documents.converse_text(block["document"]))
        elif isinstance(block.get("json"), dict | list):
            pieces.append(json.dumps(block["json"]))
    return " ".join(piece for piece in pieces if piece)


def _content(answer: Answer) -> list[dict[str, Any]]:
    reasoning: list[dict[str, Any]] = []
    if answer.reasoning:
        reasoning = [{"reasoningContent": {"reasoningText": {"text": answer.reasoning, "signature": SIGNATURE}}}]
    if answer.tool_call is not None:
        tool_use: dict[str, Any] = {"toolUseId": new_id("tooluse_", 22), "name": answer.tool_call.name}
        return [*reasoning, {"toolUse": tool_use | {"input": answer.tool_call.arguments}}]
    return [*reasoning, {"text": answer.text}]


def _usage(answer: Answer) -> dict[str, int]:
    usage = {
        "inputTokens": answer.prompt_tokens - answer.cached_tokens,
        "outputTokens": answer.completion_tokens,
        "totalTokens": answer.total_tokens,
    }
    if answer.cached_tokens:
        usage["cacheReadInputTokens"] = answer.cached_tokens
        usage["cacheWriteInputTokens"] = 0
    return usage


def _stream(answer: Answer) -> Iterator[bytes]:
    started = time.monotonic()
    yield encode_event("messageStart", {"role": "assistant"})
    index = 0
    if answer.reasoning:
        for piece in answer.reasoning_pieces():
            yield encode_event(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": piece}}}
            )
        signature = {"reasoningContent": {"signature": SIGNATURE}}
        yield encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": signature})
        yield encode_event("contentBlockStop", {"contentBlockIndex": 0})
        index = 1
    if answer.tool_call is not None:
        tool_use = {"toolUseId": new_id("tooluse_", 22), "name": answer.tool_call.name}
        yield encode_event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": tool_use}})
        deltas: list[dict[str, Any]] = [
            {"toolUse": {"input": piece}} for piece in split_in_two(answer.tool_call.arguments_json)
        ]
    else:
        deltas = [{"text": piece} for piece in answer.text_pieces()]
    for position, delta in enumerate(deltas):
        answer.pace(position)
        yield encode_event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
    yield encode_event("contentBlockStop", {"contentBlockIndex": index})
    yield encode_event("messageStop", {"stopReason": STOP_REASONS[answer.finish]})
    latency_ms = max(1, int((time.monotonic() - started) * 1000))
    yield encode_event("metadata", {"usage": _usage(answer), "metrics": {"latencyMs": latency_ms}})
