"""OpenAI Chat Completions: OpenAI itself, DeepSeek and Vertex partner models (`endpoints/openapi`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from local.simulator.content import Answer, Finish, Prompt, compose, paced, split_in_two
from local.simulator.pacing import PacingHandle
from local.simulator.wire import Reply, json_reply, new_id, sse_event

FINISH_REASONS = {
    Finish.STOP: "stop",
    Finish.STOP_SEQUENCE: "stop",
    Finish.LENGTH: "length",
    Finish.TOOL: "tool_calls",
}
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def error_reply(status: int, message: str, param: str | None = None) -> Reply:
    kind, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return json_reply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


def handle_chat(body: Any, provider: str, pacing: PacingHandle | None = None) -> Reply:
    if not isinstance(body, dict):
        return error_reply(400, "We could not parse the JSON body of your request.")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        return error_reply(400, "you must provide a model parameter", param="model")
    if not isinstance(messages, list) or not messages:
        return error_reply(400, "'messages' must be a non-empty array.", param="messages")
    prompt = _prompt(body, provider, model, messages)
    if isinstance(prompt, Reply):
        return prompt
    answer = paced(compose(prompt), pacing)
    completion_id, created = new_id("chatcmpl-"), int(time.time())
    top = body.get("top_logprobs")
    n = body.get("n")
    choices = n if provider == "openai" and isinstance(n, int) and n > 1 else 1
    style = _Style(provider, body.get("logprobs") is True, top if isinstance(top, int) else 0, choices)
    if body.get("stream") is True:
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = _stream(answer, completion_id, created, model, include_usage, style)
        return Reply(status=200, content_type="text/event-stream; charset=utf-8", stream=chunks)
    return json_reply(200, _completion(answer, completion_id, created, model, style))


@dataclass(frozen=True)
class _Style:
    """What differs between hosts: DeepSeek returns its reasoning text and names cache hits its own way."""

    provider: str
    logprobs: bool
    top_logprobs: int = 0  # alternatives listed per token
    choices: int = 1  # ``n``: the same answer, once per choice (billed as such)

    @property
    def shows_reasoning(self) -> bool:
        return self.provider == "deepseek"


def _reasoning_asked(body: dict[str, Any], provider: str) -> bool:
    if provider == "deepseek":
        thinking = body.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") == "enabled"
    return body.get("reasoning_effort") not in (None, "none")


def _prompt(body: dict[str, Any], provider: str, model: str, messages: list[Any]) -> Prompt | Reply:
    prompt = Prompt(provider=provider, model=model)
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
        }:
            return error_reply(400, f"Invalid value for 'messages[{index}].role'.", param=f"messages[{index}]")
        text = _message_text(message.get("content"))
        prompt.texts.append(text)
        if message["role"] == "user":
            prompt.last_user_text = text
        if message["role"] in ("system", "developer"):
            prompt.system_text += text
    prompt.after_tool_result = isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return error_reply(400, "Missing required parameter: 'tools[0].function.name'.", param="tools")
        prompt.tools.append(function["name"])
        prompt.tool_schemas[function["name"]] = function.get("parameters")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        if provider == "deepseek":
            return error_reply(400, "This response_format type is unavailable now", param="response_format")
        spec = response_format.get("json_schema")
        prompt.response_schema = spec.get("schema") if isinstance(spec, dict) else None
        prompt.json_mode = prompt.response_schema is None
    elif isinstance(response_format, dict) and response_format.get("type") == "json_object":
        prompt.json_mode = True
    prompt.reasoning = _reasoning_asked(body, provider)
    choice = body.get("tool_choice")
    if choice == "none":
        prompt.tools_disabled = True
    elif choice == "required":
        prompt.forced_tool = ""
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        prompt.forced_tool = str(choice["function"].get("name", ""))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return error_reply(400, "Invalid 'max_tokens': integer below minimum value.", param="max_tokens")
    prompt.max_tokens = max_tokens
    stop = body.get("stop")
    prompt.stop_sequences = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    return prompt


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _usage(answer: Answer, style: _Style) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens * style.choices,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens * style.choices,
        "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
    }
    if style.provider == "deepseek":
        usage["prompt_cache_hit_tokens"] = answer.cached_tokens
        usage["prompt_cache_miss_tokens"] = answer.prompt_tokens - answer.cached_tokens
    return usage


def _logprobs(pieces: list[str], top: int) -> dict[str, Any]:
    """Each piece's log probability, with ``top`` alternatives (the piece itself first, as OpenAI lists them)."""

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    def alternatives(piece: str) -> list[dict[str, Any]]:
        return [entry(piece, -0.25), *(entry(f"{piece.strip()}~{k}", -1.0 - k) for k in range(1, top))][:top]

    return {
        "content": [{**entry(piece, -0.25), "top_logprobs": alternatives(piece)} for piece in pieces],
        "refusal": None,
    }


def _tool_call_id() -> str:
    return new_id("call_")


def _completion(answer: Answer, completion_id: str, created: int, model: str, style: _Style) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if style.shows_reasoning and answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    logprobs = _logprobs(answer.text_pieces(), style.top_logprobs) if style.logprobs and not answer.tool_call else None
    if answer.tool_call is not None:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": _tool_call_id(),
                "type": "function",
                "function": {"name": answer.tool_call.name, "arguments": answer.tool_call.arguments_json},
            }
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": i, "message": message, "logprobs": logprobs, "finish_reason": FINISH_REASONS[answer.finish]}
            for i in range(style.choices)
        ],
        "usage": _usage(answer, style),
        "system_fingerprint": "fp_simulator",
    }


def _stream(
    answer: Answer, completion_id: str, created: int, model: str, include_usage: bool, style: _Style
) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        content = delta.get("content")
        logprobs = _logprobs([content], style.top_logprobs) if style.logprobs and content else None
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_simulator",
            "choices": [
                {"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
                for i in range(style.choices)
            ],
        }
        if include_usage:
            payload["usage"] = None
        return sse_event(payload)

    if style.shows_reasoning:
        for piece in answer.reasoning_pieces():
            yield chunk({"role": "assistant", "content": None, "reasoning_content": piece})
    if answer.tool_call is not None:
        call = answer.tool_call
        yield chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": _tool_call_id(),
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ],
            }
        )
        for index, piece in enumerate(split_in_two(call.arguments_json)):
            answer.pace(index)
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for index, piece in enumerate(answer.text_pieces()):
            answer.pace(index)
            yield chunk({"content": piece})
    yield chunk({}, FINISH_REASONS[answer.finish])
    if include_usage:
        final = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_simulator",
            "choices": [],
            "usage": _usage(answer, style),
        }
        yield sse_event(final)
    yield sse_event("[DONE]")
