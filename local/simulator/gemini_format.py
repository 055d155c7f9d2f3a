"""Gemini `generateContent` / `streamGenerateContent`, shared by Google AI Studio and Vertex AI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from local.simulator import documents
from local.simulator.content import Answer, Finish, Prompt, compose, paced
from local.simulator.pacing import PacingHandle
from local.simulator.wire import Reply, json_reply, new_id, sse_event

FINISH_REASONS = {
    Finish.STOP: "STOP",
    Finish.STOP_SEQUENCE: "STOP",
    Finish.LENGTH: "MAX_TOKENS",
    Finish.TOOL: "STOP",
}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_reply(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"),
    }
    if details:
        error["details"] = details
    return json_reply(status, {"error": error})


def handle_generate(
    body: Any, provider: str, model: str, stream: bool, sse: bool, pacing: PacingHandle | None = None
) -> Reply:
    """`sse`: `alt=sse` was asked for; without it a stream is one JSON array sent piece by piece."""
    if not isinstance(body, dict):
        return error_reply(400, "Invalid JSON payload received.")
    prompt = _prompt(body, provider, model)
    if isinstance(prompt, Reply):
        return prompt
    answer = paced(compose(prompt), pacing)
    response_id = new_id(length=22)
    count = (body.get("generationConfig") or {}).get("candidateCount", 1)
    count = count if isinstance(count, int) and count >= 1 else 1
    if not stream:
        parts = _parts(answer, prompt.reasoning_shown)
        return json_reply(200, _response(answer, parts, final=True, model=model, response_id=response_id, count=count))
    chunks = _stream_chunks(answer, model, response_id, prompt.reasoning_shown, count)
    if sse:
        events = (sse_event(chunk, newline="\r\n") for chunk in chunks)
        return Reply(status=200, content_type="text/event-stream", stream=events)
    return Reply(status=200, content_type="application/json; charset=UTF-8", stream=_json_array(chunks))


def _prompt(body: dict[str, Any], provider: str, model: str) -> Prompt | Reply:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return error_reply(400, "* GenerateContentRequest.contents: contents is not specified")
    prompt = Prompt(provider=provider, model=model)
    system = body.get("systemInstruction")
    if isinstance(system, dict):
        prompt.texts.append(_parts_text(system.get("parts")))
        prompt.system_text = _parts_text(system.get("parts"))
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role", "user") not in {"user", "model", "function"}:
            return error_reply(400, f"* GenerateContentRequest.contents[{index}].role: invalid role")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return error_reply(
                400, f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty."
            )
        for position, part in enumerate(parts):
            inline = documents.gemini_inline(part) if isinstance(part, dict) else None
            problem = inline and documents.gemini_problem(inline, f"contents[{index}].parts[{position}]")
            if problem:
                return error_reply(400, problem)
        text = _parts_text(parts)
        prompt.texts.append(text)
        if content.get("role", "user") == "user" and any(isinstance(p, dict) and "text" in p for p in parts):
            prompt.last_user_text = text
    last_parts = contents[-1].get("parts") if isinstance(contents[-1], dict) else None
    prompt.after_tool_result = any(isinstance(p, dict) and "functionResponse" in p for p in last_parts or [])
    for tool in body.get("tools") or []:
        for declaration in (tool.get("functionDeclarations") or []) if isinstance(tool, dict) else []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                prompt.tools.append(declaration["name"])
                schema = declaration.get("parametersJsonSchema", declaration.get("parameters"))
                prompt.tool_schemas[declaration["name"]] = schema
    calling = ((body.get("toolConfig") or {}).get("functionCallingConfig")) or {}
    if calling.get("mode") == "ANY":
        allowed = calling.get("allowedFunctionNames") or [""]
        prompt.forced_tool = str(allowed[0])
    elif calling.get("mode") == "NONE":
        prompt.tools_disabled = True
    config = body.get("generationConfig") or {}
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return error_reply(400, "* GenerateContentRequest.generation_config.max_output_tokens: must be positive")
    prompt.max_tokens = max_tokens
    prompt.stop_sequences = [s for s in config.get("stopSequences") or [] if isinstance(s, str)]
    if config.get("responseMimeType") == "application/json":
        prompt.response_schema = config.get("responseJsonSchema", config.get("responseSchema"))
        prompt.json_mode = prompt.response_schema is None
    thinking = config.get("thinkingConfig")
    if isinstance(thinking, dict):
        if "thinkingLevel" in thinking and "thinkingBudget" in thinking:
            return error_reply(400, "thinking_budget and thinking_level are not supported together.")
        if "thinkingLevel" in thinking and not model.startswith("gemini-3"):
            return error_reply(400, "Thinking level is not supported for this model.")
        thinks = thinking.get("thinkingBudget", -1) != 0
        prompt.reasoning = thinks
        prompt.reasoning_shown = bool(thinking.get("includeThoughts"))
    return prompt


def _parts_text(parts: Any) -> str:
    pieces: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif isinstance(part.get("functionResponse"), dict):
            pieces.append(json.dumps(part["functionResponse"].get("response")))
        elif documents.gemini_inline(part) is not None and documents.gemini_text(documents.gemini_inline(part) or {}):
            pieces.append(documents.gemini_text(documents.gemini_inline(part) or {}))
    return " ".join(pieces)


def _parts(answer: Answer, thoughts: bool = True) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": answer.reasoning, "thought": True}] if thoughts and answer.reasoning else []
    if answer.tool_call is not None:
        return [*parts, {"functionCall": {"name": answer.tool_call.name, "args": answer.tool_call.arguments}}]
    return [*parts, {"text": answer.text}]


def _response(
    answer: Answer,
    parts: list[dict[str, Any]],
    *,
    final: bool,
    model: str,
    response_id: str,
    emitted: int = -1,
    count: int = 1,
) -> dict[str, Any]:
    """``count``: ``candidateCount``, the same candidate that many times (each billed)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    completion = (answer.answer_tokens if emitted < 0 else emitted) * count
    if final:
        candidate["finishReason"] = FINISH_REASONS[answer.finish]
    usage: dict[str, Any] = {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": completion,
        "totalTokenCount": answer.prompt_tokens + completion + answer.reasoning_tokens,
    }
    if answer.reasoning_tokens:
        usage["thoughtsTokenCount"] = answer.reasoning_tokens
    if answer.cached_tokens:
        usage["cachedContentTokenCount"] = answer.cached_tokens
    return {
        "candidates": [{**candidate, "index": i} for i in range(count)],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def _stream_chunks(
    answer: Answer, model: str, response_id: str, thoughts: bool, count: int = 1
) -> Iterator[dict[str, Any]]:
    if thoughts and answer.reasoning:
        thought = [{"text": answer.reasoning, "thought": True}]
        yield _response(answer, thought, final=False, model=model, response_id=response_id, emitted=0, count=count)
    if answer.tool_call is not None:
        answer.pace(0)
        yield _response(answer, _parts(answer, False), final=True, model=model, response_id=response_id, count=count)
        return
    pieces = answer.text_pieces() or [""]
    for index, piece in enumerate(pieces, start=1):
        answer.pace(index - 1)
        final = index == len(pieces)
        emitted = answer.answer_tokens if final else index  # one word per piece
        text = [{"text": piece}]
        yield _response(answer, text, final=final, model=model, response_id=response_id, emitted=emitted, count=count)


def _json_array(chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    separator = "["
    for chunk in chunks:
        yield (separator + json.dumps(chunk)).encode()
        separator = ",\r\n"
    yield b"]" if separator != "[" else b"[]"
