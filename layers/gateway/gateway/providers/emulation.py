"""What every adapter does the same way around its own transform: honour the parameter table.

``TableAdapter`` wraps a provider adapter. Before building it checks the request against
``gateway.routing.capabilities`` (an unsupported parameter is a 400 naming it, never silently lost). Where the table
says ``response_format`` is emulated, it rewrites the request so the answer comes as a forced tool call (the
format's schema as the tool's parameters) and turns that call back into the message content with ``finish_reason``
``stop``, in whole answers and in streams alike. The caller's own tools stay callable: with them the model must call
some tool, and a call to one of the caller's tools comes back as a tool call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.apis.chat.schema import (
    ChatRequest,
    FunctionDefinition,
    NamedFunction,
    NamedToolChoice,
    ResponseFormatJsonSchema,
    Tool,
)
from gateway.providers.base import Adapter, DecoderOver, StreamDecoder, Target
from gateway.providers.transport import UpstreamRequest
from gateway.routing import capabilities

JSON_OBJECT_TOOL = "json_response"
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
TOOL_DESCRIPTION = "Give the final answer as this tool's input; it must satisfy the schema exactly."


def format_tool_name(request: ChatRequest) -> str:
    response_format = request.response_format
    name = response_format.json_schema.name if isinstance(response_format, ResponseFormatJsonSchema) else ""
    name = name or JSON_OBJECT_TOOL
    taken = {tool.function.name for tool in request.tools or []}
    while name in taken:  # the caller's own tool keeps its name
        name = f"{name}_"[:64]
    return name


def as_forced_tool(request: ChatRequest) -> tuple[ChatRequest, str]:
    """The request with ``response_format`` replaced by a tool the model is made to call, and that tool's name."""
    response_format = request.response_format
    name = format_tool_name(request)
    if isinstance(response_format, ResponseFormatJsonSchema):
        schema = response_format.json_schema.schema_ or ANY_OBJECT
        description = response_format.json_schema.description or TOOL_DESCRIPTION
    else:
        schema, description = ANY_OBJECT, TOOL_DESCRIPTION
    tool = Tool(type="function", function=FunctionDefinition(name=name, description=description, parameters=schema))
    own_tools = list(request.tools or [])
    choice = request.tool_choice
    forced: Any
    if isinstance(choice, NamedToolChoice):
        forced = choice  # the caller forced one of their own tools for this turn
    elif own_tools and choice != "none":
        forced = "required"  # answer, or call one of the caller's tools
    else:
        forced = NamedToolChoice(type="function", function=NamedFunction(name=name))
    rewritten = request.model_copy(update={"response_format": None, "tools": [*own_tools, tool], "tool_choice": forced})
    return rewritten, name


def _unwrap_completion(completion: dict[str, Any], name: str) -> dict[str, Any]:
    for choice in completion.get("choices") or []:
        message = choice.get("message") or {}
        calls = message.get("tool_calls") or []
        answer = [c for c in calls if c.get("function", {}).get("name") == name]
        if not answer:
            continue
        others = [c for c in calls if c not in answer]
        message["content"] = answer[0]["function"].get("arguments") or "{}"
        if others:
            message["tool_calls"] = others
        else:
            message.pop("tool_calls", None)
            choice["finish_reason"] = "stop"
    return completion


@dataclass
class UnwrappingDecoder(DecoderOver):
    """Stream deltas of the format tool's arguments become content deltas; other tool calls pass through."""

    inner: StreamDecoder
    name: str
    _format_index: int | None = None
    _other_calls: bool = False

    def _chunks(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            calls = delta.pop("tool_calls", None)
            if calls:
                kept = []
                pieces: list[str] = []
                for call in calls:
                    if call.get("function", {}).get("name") == self.name:
                        self._format_index = call.get("index")
                    if self._format_index is not None and call.get("index") == self._format_index:
                        pieces.append(call.get("function", {}).get("arguments") or "")
                    else:
                        self._other_calls = True
                        kept.append(call)
                if kept:
                    delta["tool_calls"] = kept
                if "".join(pieces):
                    delta["content"] = (delta.get("content") or "") + "".join(pieces)
            if choice.get("finish_reason") == "tool_calls" and not self._other_calls:
                choice["finish_reason"] = "stop"
        return [chunk]


@dataclass(frozen=True)
class TableAdapter:
    inner: Adapter

    def _prepared(self, request: ChatRequest, target: Target) -> tuple[ChatRequest, str | None]:
        if capabilities.emulates_response_format(request, target.offer):
            return as_forced_tool(request)
        return request, None

    def build_request(self, request: ChatRequest, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        capabilities.require_supported(request, target.offer)
        prepared, _ = self._prepared(request, target)
        return self.inner.build_request(prepared, target, stream=stream, timeout=timeout)

    def parse_response(self, request: ChatRequest, target: Target, body: bytes) -> dict[str, Any]:
        prepared, name = self._prepared(request, target)
        completion = self.inner.parse_response(prepared, target, body)
        return _unwrap_completion(completion, name) if name else completion

    def stream_decoder(self, request: ChatRequest, target: Target) -> StreamDecoder:
        prepared, name = self._prepared(request, target)
        decoder = self.inner.stream_decoder(prepared, target)
        return UnwrappingDecoder(decoder, name) if name else decoder

    def error_message(self, status: int, body: bytes) -> str:
        return self.inner.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return self.inner.classify(status, body)
