"""The inbound Anthropic Messages request (``POST /v1/messages``, ``/v1/messages/count_tokens``), typed.

A gateway, not a gatekeeper: the request is checked on the fields the gateway reads to route, bill and translate
(their JSON types, never coerced) and on nothing stricter than Anthropic's own rules. Every other field, at the top
level, in a content block or a tool, passes through: Claude targets receive the body as the client wrote it (so
prompt caching, thinking signatures, tools, betas and fields newer than this gateway survive the trip), and a
translated target drops what it cannot take, naming it in ``x-gateway-ignored-params``. The body as a whole is
bounded by ``MAX_BODY_BYTES`` (and JSON depth) before it gets here; no field has a length limit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from gateway.apis.chat.schema import ProviderPreferences, RoutingFields

ModelId = Annotated[str, Field(min_length=1, max_length=256)]
Ident = Annotated[str, Field(min_length=1)]


class _Open(BaseModel):
    """Typed on the fields the gateway reads; Anthropic's other fields (and newer ones) pass through."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class TextBlock(_Open):
    type: Literal["text"]
    text: str


class Base64Source(_Open):
    type: Literal["base64"]
    media_type: str
    data: str


class UrlSource(_Open):
    type: Literal["url"]
    url: Annotated[str, Field(min_length=1)]


class FileSource(_Open):
    type: Literal["file"]
    file_id: Ident


class PlainTextSource(_Open):
    type: Literal["text"]
    media_type: str
    data: str


class ContentSource(_Open):
    type: Literal["content"]
    content: str | list[dict[str, Any]]


ImageSource = Annotated[Base64Source | UrlSource | FileSource, Field(discriminator="type")]
DocumentSource = Annotated[
    Base64Source | UrlSource | FileSource | PlainTextSource | ContentSource, Field(discriminator="type")
]


class ImageBlock(_Open):
    type: Literal["image"]
    source: ImageSource


class DocumentBlock(_Open):
    type: Literal["document"]
    source: DocumentSource


class ToolUseBlock(_Open):
    type: Literal["tool_use"]
    id: Ident
    name: Ident
    input: dict[str, Any]


ToolResultPart = Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]


class ToolResultBlock(_Open):
    type: Literal["tool_result"]
    tool_use_id: Ident
    content: str | list[ToolResultPart] | None = None
    is_error: bool | None = None


class ThinkingBlock(_Open):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(_Open):
    type: Literal["redacted_thinking"]
    data: str


class OtherBlock(_Open):
    """Every other block Anthropic has (server tool uses and results, search results, container uploads, MCP
    blocks) or adds later: Claude targets take it as written; a translated target cannot, and says so."""

    type: Annotated[str, Field(min_length=1)]


_READ_BLOCKS = ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking")


def _block_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _READ_BLOCKS else "other"


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_block_kind),
]


class Message(_Open):
    # "system": a mid-conversation system turn (Claude Opus 4.8 and later take it as is; for other models the
    # gateway folds it into the top-level system prompt).
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


class Tool(_Open):
    """A client tool (``name``, ``input_schema``) or one of Anthropic's server tools (``type`` + its settings;
    an MCP toolset has no ``name``)."""

    type: str | None = None
    name: Ident | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _client_tool_has_schema(self) -> Tool:
        if self.is_client_tool and (self.name is None or self.input_schema is None):
            raise ValueError("a client tool needs name and input_schema")
        return self

    @property
    def is_client_tool(self) -> bool:
        return self.type in (None, "custom")


class ToolChoiceAuto(_Open):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Open):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Open):
    type: Literal["tool"]
    name: Ident
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Open):
    type: Literal["none"]


ToolChoice = Annotated[ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")]


class ThinkingEnabled(_Open):
    type: Literal["enabled"]
    budget_tokens: Annotated[int, Field(ge=1024)]  # Anthropic's minimum


class ThinkingAdaptive(_Open):
    type: Literal["adaptive"]


class ThinkingDisabled(_Open):
    type: Literal["disabled"]


Thinking = Annotated[ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled, Field(discriminator="type")]


class Metadata(_Open):
    user_id: Annotated[str, Field(max_length=256)] | None = None  # Anthropic's limit


class _MessagesBase(_Open, RoutingFields):
    model: ModelId
    messages: Annotated[list[Message], Field(min_length=1)]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_needs_tools(cls, value: ToolChoice | None, info: ValidationInfo) -> ToolChoice | None:
        if value is not None and not isinstance(value, ToolChoiceNone) and not info.data.get("tools"):
            raise ValueError("tool_choice needs tools")
        return value


class MessagesRequest(_MessagesBase):
    max_tokens: Annotated[int, Field(ge=1)]  # the hold's output bound: Anthropic requires it too
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    metadata: Metadata | None = None


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
