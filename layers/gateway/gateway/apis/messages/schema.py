"""The inbound Anthropic Messages request (``POST /v1/messages``, ``/v1/messages/count_tokens``), typed and bounded.

The envelope is strict: an unknown top-level field is a 400 naming it, a wrong JSON type is never coerced. Content
blocks and tools are checked on the fields the gateway reads (type, text, ids, sources) and keep every other
field Anthropic documents (``cache_control``, ``citations``, a server tool's settings): Claude targets receive the
body as the client wrote it, so prompt caching, thinking signatures and tools survive the trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gateway.apis.chat.schema import (
    MAX_ID,
    MAX_MESSAGES,
    MAX_PARTS,
    MAX_TEXT,
    MAX_TOOLS,
    MAX_URL,
    ProviderPreferences,
    RoutingFields,
)

MAX_STOP_SEQUENCES = 16
MAX_STOP_LEN = 512

ModelId = Annotated[str, Field(min_length=1, max_length=256)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Ident = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
ToolName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Block(BaseModel):
    """A content block: the fields the gateway reads are typed, Anthropic's other fields pass through."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class CacheControl(_Strict):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class TextBlock(_Block):
    type: Literal["text"]
    text: Text
    cache_control: CacheControl | None = None


class Base64Source(_Strict):
    type: Literal["base64"]
    media_type: Annotated[str, Field(min_length=1, max_length=128)]
    data: Annotated[str, Field(max_length=MAX_URL)]


class UrlSource(_Strict):
    type: Literal["url"]
    url: Annotated[str, Field(min_length=1, max_length=8192)]


class FileSource(_Strict):
    type: Literal["file"]
    file_id: Ident


class PlainTextSource(_Strict):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: Text


class ContentSource(_Strict):
    type: Literal["content"]
    content: Text | Annotated[list[dict[str, Any]], Field(max_length=MAX_PARTS)]


ImageSource = Annotated[Base64Source | UrlSource | FileSource, Field(discriminator="type")]
DocumentSource = Annotated[
    Base64Source | UrlSource | FileSource | PlainTextSource | ContentSource, Field(discriminator="type")
]


class ImageBlock(_Block):
    type: Literal["image"]
    source: ImageSource
    cache_control: CacheControl | None = None


class DocumentBlock(_Block):
    type: Literal["document"]
    source: DocumentSource
    cache_control: CacheControl | None = None


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: Ident
    name: ToolName
    input: dict[str, Any]
    cache_control: CacheControl | None = None


ToolResultPart = Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: Ident
    content: Text | Annotated[list[ToolResultPart], Field(max_length=MAX_PARTS)] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(_Block):
    type: Literal["thinking"]
    thinking: Text
    signature: Annotated[str, Field(max_length=MAX_TEXT)]


class RedactedThinkingBlock(_Block):
    type: Literal["redacted_thinking"]
    data: Annotated[str, Field(max_length=MAX_TEXT)]


class ServerToolBlock(_Block):
    """Blocks of Anthropic's server-side tools (web search, code execution...): only Claude targets take them."""

    type: Literal[
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "search_result",
        "container_upload",
        "mcp_tool_use",
        "mcp_tool_result",
    ]


ContentBlock = Annotated[
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ServerToolBlock,
    Field(discriminator="type"),
]


class Message(_Strict):
    role: Literal["user", "assistant"]
    content: Text | Annotated[list[ContentBlock], Field(max_length=MAX_PARTS)]


class Tool(BaseModel):
    """A client tool (``name``, ``input_schema``) or one of Anthropic's server tools (``type`` + its settings)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    type: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] | None = None
    name: ToolName
    description: Annotated[str, Field(max_length=16_384)] | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None

    @model_validator(mode="after")
    def _client_tool_has_schema(self) -> Tool:
        if self.is_client_tool and self.input_schema is None:
            raise ValueError("input_schema is required for a client tool")
        return self

    @property
    def is_client_tool(self) -> bool:
        return self.type in (None, "custom")


class ToolChoiceAuto(_Strict):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Strict):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Strict):
    type: Literal["tool"]
    name: ToolName
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Strict):
    type: Literal["none"]


ToolChoice = Annotated[ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")]


class ThinkingEnabled(_Strict):
    type: Literal["enabled"]
    budget_tokens: Annotated[int, Field(ge=1024)]
    display: Literal["summarized", "omitted"] | None = None


class ThinkingAdaptive(_Strict):
    type: Literal["adaptive"]
    display: Literal["summarized", "omitted"] | None = None


class ThinkingDisabled(_Strict):
    type: Literal["disabled"]


Thinking = Annotated[ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled, Field(discriminator="type")]


class Metadata(_Strict):
    user_id: Annotated[str, Field(max_length=256)] | None = None


class _MessagesBase(_Strict, RoutingFields):
    model: ModelId
    messages: Annotated[list[Message], Field(min_length=1, max_length=MAX_MESSAGES)]
    system: Text | Annotated[list[TextBlock], Field(max_length=MAX_PARTS)] | None = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    cache_control: CacheControl | None = None  # top level: marks the last cacheable block
    output_config: dict[str, Any] | None = None

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_needs_tools(cls, value: ToolChoice | None, info: ValidationInfo) -> ToolChoice | None:
        if value is not None and not isinstance(value, ToolChoiceNone) and not info.data.get("tools"):
            raise ValueError("tool_choice needs tools")
        return value


class MessagesRequest(_MessagesBase):
    max_tokens: Annotated[int, Field(ge=1)]
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    stop_sequences: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=MAX_STOP_LEN)]], Field(max_length=MAX_STOP_SEQUENCES)
        ]
        | None
    ) = None
    stream: bool = False
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    # Anthropic-only features, forwarded to Claude targets as given.
    container: Annotated[str, Field(max_length=MAX_ID)] | dict[str, Any] | None = None
    mcp_servers: Annotated[list[dict[str, Any]], Field(max_length=32)] | None = None
    context_management: dict[str, Any] | None = None
    diagnostics: dict[str, Any] | None = None
    inference_geo: Annotated[str, Field(max_length=64)] | None = None
    speed: Literal["standard", "fast"] | None = None

    @model_validator(mode="after")
    def _thinking_fits(self) -> MessagesRequest:
        if isinstance(self.thinking, ThinkingEnabled) and self.thinking.budget_tokens >= self.max_tokens:
            raise ValueError("thinking.budget_tokens must be less than max_tokens")
        return self


class CountTokensRequest(_MessagesBase):
    """``POST /v1/messages/count_tokens``: the Messages request without generation settings."""


# Fields the gateway reads for routing; every Claude upstream gets the body without them.
GATEWAY_FIELDS = ("provider", "models", "fallback_models", "stream")


@dataclass(frozen=True)
class MessagesCall:
    """One Messages request as the routing core and the adapters see it: the validated request, the client's
    body it was validated from (what Claude targets receive) and the ``anthropic-beta`` flags to forward."""

    request: MessagesRequest | CountTokensRequest
    body: dict[str, Any]
    betas: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        return self.request.model

    @property
    def provider(self) -> ProviderPreferences | None:
        return self.request.provider

    @property
    def stream(self) -> bool:
        return isinstance(self.request, MessagesRequest) and self.request.stream

    @property
    def models(self) -> list[str] | None:
        return self.request.models

    @property
    def fallback_models(self) -> list[str] | None:
        return self.request.fallback_models

    def model_chain(self) -> list[str]:
        """``model``, then the fallback models in order (as the chat request gives them)."""
        return self.request.model_chain()

    def output_limit(self) -> int | None:
        return self.request.max_tokens if isinstance(self.request, MessagesRequest) else None
