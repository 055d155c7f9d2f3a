"""Anthropic Messages API, direct (`/v1/messages`) and on Vertex (`:rawPredict` / `:streamRawPredict`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from local.simulator import documents
from local.simulator.content import Answer, Finish, Prompt, compose, paced, split_in_two
from local.simulator.pacing import PacingHandle
from local.simulator.wire import Reply, json_reply, new_id, sse_event

VERTEX_VERSION = "vertex-2023-10-16"
# Anthropic's top-level request fields (the Messages API reference, with the hosts' version and beta fields): an
# unknown one is a 400 naming it, as Anthropic answers a typo.
FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_k",
        "top_p",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_config",
        "output_format",
        "inference_geo",
        "speed",
        "diagnostics",
        "cache_control",
        "anthropic_version",
        "anthropic_beta",
    }
)
# Models that take ``role: "system"`` turns inside ``messages`` (Claude Opus 4.8 and every Claude 5 model).
SYSTEM_TURNS = re.compile(r"claude-[a-z]+-(?:4-[89]|[5-9])(?:\b|[-@.])")
MIN_THINKING_BUDGET = 1024
SIGNATURE = "c2ltdWxhdGVkLXRoaW5raW5nLXNpZ25hdHVyZQ=="
STOP_REASONS = {
    Finish.STOP: "end_turn",
    Finish.STOP_SEQUENCE: "stop_sequence",
    Finish.LENGTH: "max_tokens",
    Finish.TOOL: "tool_use",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_reply(status: int, message: str) -> Reply:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json_reply(status, {"type": "error", "error": {"type": kind, "message": message}})


def handle_messages(
    body: Any,
    provider: str,
    model: str | None = None,
    stream: bool | None = None,
    pacing: PacingHandle | None = None,
) -> Reply:
    """`model` None: the direct API (model in the body). Vertex passes the model from the URL and the
    endpoint decides streaming (`stream` True/False)."""
    if not isinstance(body, dict):
        return error_reply(400, "Request body must be a JSON object.")
    if model is None:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return error_reply(400, "model: Field required")
    else:
        if "model" in body:
            return error_reply(400, "model: Extra inputs are not permitted")
        if body.get("anthropic_version") != VERTEX_VERSION:
            return error_reply(400, f"anthropic_version: must be {VERTEX_VERSION!r}")
    prompt = _prompt(body, provider, model)
    if isinstance(prompt, Reply):
        return prompt
    answer = paced(compose(prompt), pacing)
    message_id = new_id("msg_")
    if stream if stream is not None else body.get("stream") is True:
        return Reply(
            status=200,
            content_type="text/event-stream; charset=utf-8",
            stream=_stream(answer, message_id, model),
        )
    return json_reply(200, _message(answer, message_id, model))


def _prompt(body: dict[str, Any], provider: str, model: str) -> Prompt | Reply:
    max_tokens, messages = body.get("max_tokens"), body.get("messages")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return error_reply(400, "max_tokens: Field required (an integer >= 1)")
    if not isinstance(messages, list) or not messages:
        return error_reply(400, "messages: at least one message is required")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        return error_reply(400, f"{unknown[0]}: Extra inputs are not permitted")
    prompt = Prompt(provider=provider, model=model, max_tokens=max_tokens)
    system = body.get("system")
    if system is not None:
        prompt.texts.append(_text(system))
        prompt.system_text = _text(system)
    for index, message in enumerate(messages):
        roles = {"user", "assistant", "system"} if SYSTEM_TURNS.search(model) else {"user", "assistant"}
        if not isinstance(message, dict) or message.get("role") not in roles:
            return error_reply(400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
        malformed = _documents_problem(message.get("content"), f"messages.{index}.content")
        if malformed is not None:
            return error_reply(400, malformed)
        text = _text(message.get("content"))
        prompt.texts.append(text)
        if message["role"] == "user":
            prompt.last_user_text = text
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    blocks = last.get("content")
    prompt.after_tool_result = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks
    )
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return error_reply(400, f"tools.{index}.name: Field required")
        prompt.tools.append(tool["name"])
        prompt.tool_schemas[tool["name"]] = tool.get("input_schema")
    problem = _thinking_and_format(body, prompt, max_tokens)
    if problem is not None:
        return problem
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "any":
            prompt.forced_tool = ""
        elif choice.get("type") == "tool":
            prompt.forced_tool = str(choice.get("name", ""))
        elif choice.get("type") == "none":
            prompt.tools_disabled = True
    prompt.stop_sequences = [s for s in body.get("stop_sequences") or [] if isinstance(s, str)]
    return prompt


def _thinking_and_format(body: dict[str, Any], prompt: Prompt, max_tokens: int) -> Reply | None:
    """Extended thinking and structured outputs, with the constraints Anthropic enforces."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
            return error_reply(400, f"thinking.budget_tokens: must be at least {MIN_THINKING_BUDGET}")
        if budget >= max_tokens:
            return error_reply(400, "`max_tokens` must be greater than `thinking.budget_tokens`")
        if body.get("temperature") not in (None, 1):
            return error_reply(400, "`temperature` may only be set to 1 when thinking is enabled")
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            return error_reply(400, "Thinking may not be enabled when tool_choice forces tool use.")
        prompt.reasoning = True
    output_config = body.get("output_config")
    response_format = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(response_format, dict):
        if response_format.get("type") != "json_schema" or not isinstance(response_format.get("schema"), dict):
            return error_reply(400, "output_config.format: expected {type: json_schema, schema: {...}}")
        prompt.response_schema = response_format["schema"]
    return None


def _documents_problem(content: Any, where: str) -> str | None:
    for index, block in enumerate(content if isinstance(content, list) else []):
        if isinstance(block, dict) and block.get("type") == "document":
            problem = documents.anthropic_problem(block, f"{where}.{index}.document")
            if problem is not None:
                return problem
    return None


def _text(content: Any) -> str:
    """Text of a string or of content blocks (text blocks and tool_result contents)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            pieces.append(block["text"])
        elif block.get("type") == "tool_result":
            pieces.append(_text(block.get("content")))
        elif block.get("type") == "document":
            pieces.append(documents.anthropic_text(block))
    return " ".join(piece for piece in pieces if piece)


def _usage(answer: Answer, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": answer.prompt_tokens - answer.cached_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": answer.cached_tokens,
        "output_tokens": output_tokens,
    }


def _message(answer: Answer, message_id: str, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]]
    if answer.tool_call is not None:
        tool_block = {"type": "tool_use", "id": new_id("toolu_"), "name": answer.tool_call.name}
        content = [tool_block | {"input": answer.tool_call.arguments}]
    else:
        content = [{"type": "text", "text": answer.text}]
    if answer.reasoning:
        content.insert(0, {"type": "thinking", "thinking": answer.reasoning, "signature": SIGNATURE})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS[answer.finish],
        "stop_sequence": answer.stop_sequence,
        "usage": _usage(answer, answer.completion_tokens),
    }


def _stream(answer: Answer, message_id: str, model: str) -> Iterator[bytes]:
    start = _message(answer, message_id, model) | {"content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = _usage(answer, 1)
    yield sse_event({"type": "message_start", "message": start}, event="message_start")
    index = 0
    if answer.reasoning:
        thinking_block = {"type": "thinking", "thinking": "", "signature": ""}
        yield sse_event(
            {"type": "content_block_start", "index": 0, "content_block": thinking_block}, event="content_block_start"
        )
        for piece in answer.reasoning_pieces():
            delta = {"type": "thinking_delta", "thinking": piece}
            yield sse_event({"type": "content_block_delta", "index": 0, "delta": delta}, event="content_block_delta")
        signature = {"type": "signature_delta", "signature": SIGNATURE}
        yield sse_event({"type": "content_block_delta", "index": 0, "delta": signature}, event="content_block_delta")
        yield sse_event({"type": "content_block_stop", "index": 0}, event="content_block_stop")
        index = 1
    if answer.tool_call is not None:
        block: dict[str, Any] = {"type": "tool_use", "id": new_id("toolu_"), "name": answer.tool_call.name}
        block["input"] = {}
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in split_in_two(answer.tool_call.arguments_json)
        ]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in answer.text_pieces()]
    start_block = {"type": "content_block_start", "index": index, "content_block": block}
    yield sse_event(start_block, event="content_block_start")
    yield sse_event({"type": "ping"}, event="ping")
    for position, delta in enumerate(deltas):
        answer.pace(position)
        yield sse_event({"type": "content_block_delta", "index": index, "delta": delta}, event="content_block_delta")
    yield sse_event({"type": "content_block_stop", "index": index}, event="content_block_stop")
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": STOP_REASONS[answer.finish], "stop_sequence": answer.stop_sequence},
        "usage": {"output_tokens": answer.completion_tokens},
    }
    yield sse_event(message_delta, event="message_delta")
    yield sse_event({"type": "message_stop"}, event="message_stop")
