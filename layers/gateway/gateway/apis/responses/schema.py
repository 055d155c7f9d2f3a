"""The inbound Responses request (``POST /v1/responses``), typed and bounded, and what routing reads of it.

Known fields are typed and a wrong JSON type is a 400 naming the field, never coerced. A top-level field the
gateway does not know is kept, not refused: the Responses API grows often and its own clients send fields ahead
of its documentation (Codex sends ``client_metadata``); OpenAI receives it as sent (and judges it), a translated
provider drops it and names it in ``x-gateway-ignored-params``. Input items and tools are kept as the client
wrote them (OpenAI targets receive them as is, so
reasoning items, ``encrypted_content`` and built-in tools survive); ``translate`` reads the ones a translated
provider needs and names any it cannot take. Every list and string is bounded; the body cap is the outer bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.apis.chat.schema import (
    MAX_ID,
    MAX_MESSAGES,
    MAX_OUTPUT_TOKENS,
    MAX_TEXT,
    MAX_TOOLS,
    MetadataKey,
    MetadataValue,
    ModelId,
    ProviderPreferences,
    ReasoningEffort,
    RoutingFields,
)

Item = dict[str, Any]
# Fields the gateway reads for routing and storage; OpenAI gets the body without them.
GATEWAY_FIELDS = ("provider", "models", "fallback_models", "previous_response_id")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TextFormatText(_Strict):
    type: Literal["text"]


class TextFormatJsonObject(_Strict):
    type: Literal["json_object"]


class TextFormatJsonSchema(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)
    type: Literal["json_schema"]
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    schema_: dict[str, Any] = Field(alias="schema")
    description: Annotated[str, Field(max_length=16_384)] | None = None
    strict: bool | None = None


TextFormat = Annotated[TextFormatText | TextFormatJsonObject | TextFormatJsonSchema, Field(discriminator="type")]


class TextConfig(_Strict):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class Reasoning(_Strict):
    effort: ReasoningEffort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None  # its older name


class ResponsesRequest(RoutingFields):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    model: ModelId
    input: Annotated[str, Field(max_length=MAX_TEXT)] | Annotated[list[Item], Field(max_length=MAX_MESSAGES)] = []
    instructions: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    tools: Annotated[list[Item], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["none", "auto", "required"] | Item | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: Annotated[int, Field(ge=1)] | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    stream: bool = False
    stream_options: Item | None = None
    store: bool | None = None
    previous_response_id: Annotated[str, Field(min_length=1, max_length=MAX_ID)] | None = None
    include: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=32)] | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    user: Annotated[str, Field(max_length=512)] | None = None
    safety_identifier: Annotated[str, Field(max_length=512)] | None = None
    prompt_cache_key: Annotated[str, Field(max_length=1024)] | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    # OpenAI-only features: forwarded to OpenAI, refused (not a candidate) elsewhere.
    background: bool | None = None
    conversation: Annotated[str, Field(max_length=MAX_ID)] | Item | None = None
    prompt: Item | None = None
    context_management: Annotated[list[Item], Field(max_length=16)] | None = None
    prompt_cache_options: Item | None = None
    moderation: Item | None = None

    @field_validator("input")
    @classmethod
    def _items_are_typed(cls, value: str | list[Item]) -> str | list[Item]:
        if isinstance(value, list):
            for item in value:
                kind = item.get("type", "message")
                if not isinstance(kind, str) or ("role" not in item and kind == "message"):
                    raise ValueError("each input item needs a type (or a role, for a message)")
        return value

    @field_validator("tools")
    @classmethod
    def _tools_are_typed(cls, value: list[Item] | None) -> list[Item] | None:
        for tool in value or []:
            if not isinstance(tool.get("type"), str):
                raise ValueError("each tool needs a type")
        return value


@dataclass(frozen=True)
class ResponsesCall:
    """One Responses request as routing and the adapters see it: the validated request, the client's body,
    and the conversation so far (``previous_response_id``'s input and output, read once before routing)."""

    request: ResponsesRequest
    body: dict[str, Any]
    history: list[Item] = field(default_factory=list)
    # Derived once per request and reused by every attempt (``translate.to_chat``'s chat request).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def model(self) -> str:
        return self.request.model

    @property
    def models(self) -> list[str] | None:
        return self.request.models

    @property
    def provider(self) -> ProviderPreferences | None:
        return self.request.provider

    @property
    def stream(self) -> bool:
        return self.request.stream

    def model_chain(self) -> list[str]:
        return self.request.model_chain()

    def output_limit(self) -> int | None:
        return self.request.max_output_tokens

    def unknown_fields(self) -> tuple[str, ...]:
        """Top-level fields the gateway does not know (forwarded to OpenAI, dropped elsewhere)."""
        return tuple(sorted(self.request.model_extra or {}))

    def input_items(self) -> list[Item]:
        """This request's own input as items (a string input is one user message)."""
        given = self.request.input
        if isinstance(given, str):
            return [{"type": "message", "role": "user", "content": given}]
        return list(given)

    def conversation(self) -> list[Item]:
        """What the model is sent: the earlier turns, then this request's input."""
        return [*self.history, *self.input_items()]
