"""Helpers every adapter shares: OpenAI result shapes, message text, data URLs, error texts."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.apis.chat.schema import (
    AssistantMessage,
    ChatRequest,
    FilePart,
    ImagePart,
    TextPart,
    ToolMessage,
    UserMessage,
)
from gateway.core.errors import BadRequest
from gateway.core.json_object import load_object
from gateway.providers.base import UnreadableResponse

IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

_DATA_URL_RE = re.compile(r"^data:(?P<mime>[a-z]+/[a-z0-9.+-]+);base64,(?P<data>[A-Za-z0-9+/=\s]+)$")


@functools.cache
def _file_types() -> mimetypes.MimeTypes:
    """Python's own table (never the host's /etc/mime.types, so every host reads a filename alike), plus the
    document types it lacks. Built on first use: creating it makes ``mimetypes`` read the host's files into its
    module-level table, which nothing here reads (~2 ms of a cold start)."""
    types = mimetypes.MimeTypes()
    types.add_type("text/markdown", ".md", strict=False)
    types.add_type("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx", strict=False)
    types.add_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx", strict=False)
    return types


def unsupported(provider: str, param: str, detail: str = "") -> BadRequest:
    suffix = f" ({detail})" if detail else ""
    return BadRequest(f"{param} is not supported by {provider}{suffix}", param=param)


def usage_dict(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> dict[str, int]:
    """Usage in one flat shape for every provider: ``prompt_tokens`` counts every prompt token (cached and
    cache-written ones included), ``completion_tokens`` every generated one (reasoning included); the details
    say how many of them were read from or written to the cache, or spent reasoning."""
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    for key, value in (
        ("cached_tokens", cached_tokens),
        ("cache_write_tokens", cache_write_tokens),
        ("reasoning_tokens", reasoning_tokens),
    ):
        if value:
            usage[key] = value
    return usage


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def tool_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def chat_completion(
    request: ChatRequest,
    *,
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish_reason: str,
    usage: dict[str, int],
    upstream_id: str | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning  # the field OpenAI-compatible clients read (DeepSeek's name)
    if tool_calls:
        message["tool_calls"] = tool_calls
    choice = {"index": 0, "message": message, "finish_reason": finish_reason}
    return completion_of_choices(request, [choice], usage, upstream_id)


def completion_of_choices(
    request: ChatRequest, choices: list[dict[str, Any]], usage: dict[str, int], upstream_id: Any = None
) -> dict[str, Any]:
    """A chat completion of choices already in OpenAI's shape (``n`` > 1: every one, by its index)."""
    return {
        "id": upstream_id if isinstance(upstream_id, str) and upstream_id else completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": choices,
        "usage": usage,
    }


@dataclass
class AnswerParts:
    """What an answer's content blocks add up to (Anthropic's and Converse's alike): text, reasoning and tool
    calls, in the order they came."""

    provider: str
    texts: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    def tool_call(self, call_id: Any, name: Any, arguments: Any, block: str) -> None:
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise UnreadableResponse(f"{self.provider} response has a malformed {block} block")
        self.tool_calls.append(function_tool_call(call_id, name, json.dumps(arguments or {}, separators=(",", ":"))))

    def completion(
        self, request: ChatRequest, finish_reason: str, usage: dict[str, int], upstream_id: Any = None
    ) -> dict[str, Any]:
        return chat_completion(
            request,
            content="".join(self.texts) if self.texts or not self.tool_calls else None,
            tool_calls=self.tool_calls,
            finish_reason=finish_reason,
            usage=usage,
            upstream_id=upstream_id,
            reasoning="".join(self.thoughts) or None,
        )


def add_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], key: str = "content") -> None:
    """A turn's blocks, merged into the last turn when it has the same role (the upstream wants roles to
    alternate); a turn without blocks adds nothing."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def function_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_call_started(positions: dict[int, int], block_index: int, call_id: Any, name: Any) -> dict[str, Any]:
    """The first delta of a tool call the upstream started in its content block ``block_index``; ``positions``
    numbers the calls in the order they appear (block index -> call index)."""
    position = positions[block_index] = len(positions)
    call = {
        "index": position,
        "id": call_id or tool_call_id(),
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    return delta_chunk({"tool_calls": [call]})


def delta_chunk(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> dict[str, Any]:
    """One chunk's delta for choice ``index`` (above 0 only with ``n`` > 1)."""
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}]}


def text_of(content: str | list[TextPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def parse_arguments(arguments: str, param: str) -> dict[str, Any]:
    """Tool-call arguments as the JSON object a provider's native tool-use block needs."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        raise BadRequest(f"{param} must be a JSON object", param=param) from None
    if not isinstance(value, dict):
        raise BadRequest(f"{param} must be a JSON object", param=param)
    return value


def data_url_image(url: str, provider: str, param: str) -> tuple[str, str]:
    """(mime type, base64 data) of a ``data:`` image URL; remote URLs are refused, never fetched."""
    match = _DATA_URL_RE.fullmatch(url)
    if match is None:
        if url.startswith(("http://", "https://")):
            raise BadRequest(
                f"{param}: {provider} accepts images only as base64 data: URLs, not remote http(s) URLs",
                param=param,
            )
        raise BadRequest(f"{param} must be a base64 data: URL", param=param)
    mime = match["mime"]
    if mime not in IMAGE_MIME_TYPES:
        raise BadRequest(f"{param}: image type {mime} is not supported by {provider}", param=param)
    return mime, _base64(match["data"], param)


def _base64(data: str, param: str) -> str:
    """``data`` without white space, checked to be base64 (a provider would refuse it less clearly)."""
    data = re.sub(r"\s+", "", data)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{param} is not valid base64", param=param) from None
    return data


@dataclass(frozen=True)
class InlineFile:
    """A file sent inline (a chat ``file`` part, a Responses ``input_file``): its media type, base64 data, name."""

    mime: str
    data: str
    filename: str | None

    def text(self, param: str) -> str:
        """The file's content as text (for a provider that takes a plain-text document as text)."""
        try:
            return base64.b64decode(self.data).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{param}: a {self.mime} file must be UTF-8 text", param=param) from None


def inline_file(part: FilePart, provider: str, param: str) -> InlineFile:
    """The inline file of a ``file`` part: ``file_data`` a base64 ``data:`` URL, or bare base64 whose
    ``filename`` extension says its type. A ``file_id`` names a file in OpenAI's Files store, which no other
    provider can read: a 400 naming it."""
    given = part.file
    if given.file_data is None:
        if given.file_id is not None:
            raise BadRequest(
                f"{param}.file_id: {provider} cannot read a file uploaded to OpenAI (a file id is OpenAI's Files "
                "store, only OpenAI models read it); send the file inline as file_data",
                param=f"{param}.file_id",
            )
        raise BadRequest(f"{param}.file_data is required", param=f"{param}.file_data")
    where = f"{param}.file_data"
    match = _DATA_URL_RE.fullmatch(given.file_data)
    if match is not None:
        return InlineFile(match["mime"], _base64(match["data"], where), given.filename)
    guessed = _file_types().guess_type(given.filename or "", strict=False)[0]
    if guessed is None or given.file_data.startswith("data:"):
        raise BadRequest(
            f"{where}: a base64 data: URL (data:<media type>;base64,...) is required, or a filename whose extension "
            "says the file's type",
            param=where,
        )
    return InlineFile(guessed, _base64(given.file_data, where), given.filename)


def load_json_object(body: bytes, provider: str) -> dict[str, Any]:
    not_json = f"{provider} answered with a body that is not JSON"
    return load_object(body, UnreadableResponse, not_json, f"{provider} answered with JSON that is not an object")


def error_text(status: int, body: bytes, *paths: tuple[str, ...]) -> str:
    """The provider's error message found at the first matching key path, else the status. Not yet redacted:
    ``routing.run_attempt`` passes it through ``scrub.redact`` (which cuts it only after redacting: cutting
    first could leave part of a quoted key behind)."""
    try:
        value: Any = json.loads(body)
    except ValueError:
        value = None
    if isinstance(value, list) and value:
        value = value[0]
    for path in paths:
        node: Any = value
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and node.strip():
            return node.strip()
    return f"upstream returned HTTP {status}"


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (upstream shapes are never trusted)."""
    return value if isinstance(value, dict) else {}


def int_field(data: Any, key: str) -> int:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class BlockShapes:
    """How one wire format with typed content blocks (Anthropic's Messages, Bedrock's Converse) writes a turn:
    text (an empty text is no block), an inline image, an inline document, a tool call and a tool result."""

    text: Callable[[str], dict[str, Any]]
    image: Callable[[str, str], dict[str, Any]]  # (mime type, base64 data)
    document: Callable[[InlineFile, str], dict[str, Any]]  # (the file, its parameter path for a 400)
    tool_use: Callable[[str, str, Any], dict[str, Any]]  # (call id, function name, parsed arguments)
    tool_result: Callable[[str, str], dict[str, Any]]  # (call id, result text)

    def texts(self, text: str) -> list[dict[str, Any]]:
        return [self.text(text)] if text else []


def turn_blocks(index: int, message: Any, provider: str, shapes: BlockShapes) -> tuple[str, list[dict[str, Any]]]:
    """One chat message as (role, content blocks) in ``shapes``' format; images and files must be inline."""
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return "user", shapes.texts(message.content)
        blocks: list[dict[str, Any]] = []
        for j, part in enumerate(message.content):
            if isinstance(part, ImagePart):
                where = f"messages[{index}].content[{j}].image_url.url"
                blocks.append(shapes.image(*data_url_image(part.image_url.url, provider, where)))
            elif isinstance(part, FilePart):
                where = f"messages[{index}].content[{j}].file"
                blocks.append(shapes.document(inline_file(part, provider, where), where))
            else:
                blocks.extend(shapes.texts(part.text))
        return "user", blocks
    if isinstance(message, AssistantMessage):
        blocks = shapes.texts(text_of(message.content))
        for j, call in enumerate(message.tool_calls or []):
            arguments = parse_arguments(
                call.function.arguments, f"messages[{index}].tool_calls[{j}].function.arguments"
            )
            blocks.append(shapes.tool_use(call.id, call.function.name, arguments))
        return "assistant", blocks
    if isinstance(message, ToolMessage):
        return "user", [shapes.tool_result(message.tool_call_id, text_of(message.content))]
    raise AssertionError(f"unhandled message type {type(message).__name__}")
