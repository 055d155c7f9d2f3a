"""The inbound OpenAI Chat Completions request, typed and bounded.

Unknown top-level fields are rejected (a typo should not be silently ignored: the contract's rule for chat). The
body size cap in settings bounds the whole request; inside it, a field has a limit only where OpenAI documents the
same one (128 tools, 4 stop sequences, ``n`` up to 128, 20 ``top_logprobs``, 16 metadata pairs, 64-character
function names) or where the gateway's own routing needs it; never a stricter one (a tool description has none).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gateway.core.settings import get_settings

MAX_MESSAGES = 2048
MAX_PARTS = 256
MAX_TEXT = 4_000_000  # characters; the body cap keeps real requests well below this
MAX_URL = 8_000_000  # data: URLs carry whole images and files
MAX_TOOLS = 128
MAX_TOOL_CALLS = 128
MAX_ID = 256
MAX_STOP = 4
MAX_STOP_LEN = 512
# Above any model's output limit (the catalog's largest is 128k); a larger value is a mistake, not a request.
MAX_OUTPUT_TOKENS = 1_000_000
# A seed is a signed 64-bit integer everywhere it is accepted.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1
MAX_FALLBACK_MODELS = 8

ToolName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Ident = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class _Strict(BaseModel):
    # strict: a wrong JSON type is a 400 naming the field, never coerced ("stream": "yes", "max_tokens": "10").
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: Text


class ImageUrl(_Strict):
    url: Annotated[str, Field(min_length=1, max_length=MAX_URL)]
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class FileData(_Strict):
    """OpenAI's ``file`` part: inline data (a base64 ``data:`` URL, or bare base64 with a ``filename`` that says
    its type) or the id of a file uploaded to OpenAI."""

    file_data: Annotated[str, Field(min_length=1, max_length=MAX_URL)] | None = None
    file_id: Ident | None = None
    filename: Annotated[str, Field(max_length=1024)] | None = None


class FilePart(_Strict):
    type: Literal["file"]
    file: FileData


UserPart = Annotated[TextPart | ImagePart | FilePart, Field(discriminator="type")]
TextParts = Annotated[list[TextPart], Field(max_length=MAX_PARTS)]


class SystemMessage(_Strict):
    role: Literal["system"]
    content: Text | TextParts
    name: Ident | None = None


class DeveloperMessage(_Strict):
    role: Literal["developer"]
    content: Text | TextParts
    name: Ident | None = None


class UserMessage(_Strict):
    role: Literal["user"]
    content: Text | Annotated[list[UserPart], Field(max_length=MAX_PARTS)]
    name: Ident | None = None


class FunctionCall(_Strict):
    name: ToolName
    arguments: Text


class ToolCall(_Strict):
    id: Ident
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: Text | TextParts | None = None
    tool_calls: Annotated[list[ToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    name: Ident | None = None
    refusal: Text | None = None  # echoed back by the OpenAI SDKs; never sent upstream
    reasoning_content: Text | None = None  # echoed back with the answer; DeepSeek needs it in tool loops


class ToolMessage(_Strict):
    role: Literal["tool"]
    tool_call_id: Ident
    content: Text | TextParts


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


class FunctionDefinition(_Strict):
    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Strict):
    name: ToolName


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class ResponseFormatText(_Strict):
    type: Literal["text"]


class ResponseFormatJsonObject(_Strict):
    type: Literal["json_object"]


class JsonSchemaSpec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJsonSchema(_Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema, Field(discriminator="type")
]


class StreamOptions(_Strict):
    include_usage: bool = False
    include_obfuscation: bool | None = None  # OpenAI's padding of stream events; the gateway never pads


class Prediction(_Strict):
    type: Literal["content"]
    content: Text | TextParts


class AudioOutput(_Strict):
    voice: Annotated[str, Field(min_length=1, max_length=64)] | dict[str, Any]
    format: Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]


class ApproximateLocation(_Strict):
    city: Annotated[str, Field(max_length=256)] | None = None
    country: Annotated[str, Field(max_length=2)] | None = None
    region: Annotated[str, Field(max_length=256)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None


class UserLocation(_Strict):
    type: Literal["approximate"]
    approximate: ApproximateLocation


class WebSearchOptions(_Strict):
    search_context_size: Literal["low", "medium", "high"] | None = None
    user_location: UserLocation | None = None


MetadataKey = Annotated[str, Field(min_length=1, max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
ModelId = Annotated[str, Field(min_length=1, max_length=256)]


class MaxPrice(_Strict):
    """The most a request may be routed at, in USD per million tokens (list price); unset means no limit."""

    prompt: Price | None = None
    completion: Price | None = None


class ProviderPreferences(_Strict):
    """The routing object: which providers to try and in what order."""

    order: Annotated[list[Ident], Field(max_length=32)] = []
    allow_fallbacks: bool = True
    only: Annotated[list[Ident], Field(max_length=32)] = []
    ignore: Annotated[list[Ident], Field(max_length=32)] = []
    sort: Literal["price", "latency", "throughput"] | None = None
    require_parameters: bool = False  # hints are strict too: a provider that would drop one is not a candidate
    # No first byte of the answer (a stream: its first content, tool-call or reasoning delta) this soon after an
    # attempt starts: it is abandoned. 0 = none; otherwise at least the operator's MIN_FIRST_BYTE_TIMEOUT_MS.
    first_byte_timeout_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    max_price: MaxPrice | None = None

    @field_validator("first_byte_timeout_ms")
    @classmethod
    def _not_below_the_floor(cls, value: int | None) -> int | None:
        """A request may wait longer than the operator's floor, or not at all (0), never cut an upstream sooner:
        0 only lets its own attempts wait to the deadline, so it steers nothing."""
        floor = get_settings().min_first_byte_timeout_ms
        if value and value < floor:
            raise ValueError(f"must be 0 (none) or at least {floor} (the operator's MIN_FIRST_BYTE_TIMEOUT_MS)")
        return value


class RoutingFields(BaseModel):
    """The gateway's own routing fields, the same on every front door (chat, messages, responses, embeddings);
    never sent upstream. A request model lists them last: ``class XRequest(_Strict, RoutingFields)``."""

    provider: ProviderPreferences | None = None
    # Models to try, in turn, once every attempt for ``model`` has failed (OpenRouter's ``models``; Infron
    # calls it ``fallback_models``). Either spelling, never both.
    models: Annotated[list[ModelId], Field(max_length=MAX_FALLBACK_MODELS)] | None = None
    fallback_models: Annotated[list[ModelId], Field(max_length=MAX_FALLBACK_MODELS)] | None = None

    @field_validator("fallback_models")
    @classmethod
    def _one_spelling(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is not None and info.data.get("models") is not None:
            raise ValueError("give the fallback models as either models or fallback_models, not both")
        return value

    def model_chain(self) -> list[str]:
        """``model``, then each fallback model in the order given."""
        model: str = getattr(self, "model")  # noqa: B009 - every request model declares ``model``
        return [model, *(self.models or self.fallback_models or [])]


class ChatRequest(_Strict, RoutingFields):
    model: ModelId
    messages: Annotated[list[Message], Field(min_length=1, max_length=MAX_MESSAGES)]
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)] | None = None
    stop: (
        Annotated[str, Field(max_length=MAX_STOP_LEN)]
        | Annotated[list[Annotated[str, Field(max_length=MAX_STOP_LEN)]], Field(max_length=MAX_STOP)]
        | None
    ) = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    seed: Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)] | None = None
    user: Annotated[str, Field(max_length=512)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: ReasoningEffort | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    logit_bias: (
        Annotated[
            dict[Annotated[str, Field(pattern=r"^[0-9]{1,10}$")], Annotated[int, Field(ge=-100, le=100)]],
            Field(max_length=1024),
        ]
        | None
    ) = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = None
    store: bool | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    prompt_cache_key: Annotated[str, Field(max_length=1024)] | None = None
    safety_identifier: Annotated[str, Field(max_length=512)] | None = None
    prediction: Prediction | None = None
    modalities: Annotated[list[Literal["text", "audio"]], Field(min_length=1, max_length=2)] | None = None
    audio: AudioOutput | None = None
    web_search_options: WebSearchOptions | None = None

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs_needs_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("logprobs") is not True:
            raise ValueError("top_logprobs needs logprobs: true")  # as OpenAI answers
        return value

    @field_validator("messages")
    @classmethod
    def _has_conversation(cls, value: list[Message]) -> list[Message]:
        if all(isinstance(m, SystemMessage | DeveloperMessage) for m in value):
            raise ValueError("needs at least one user, assistant or tool message besides system instructions")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_needs_tools(cls, value: ToolChoice | None, info: ValidationInfo) -> ToolChoice | None:
        if value is not None and not info.data.get("tools"):
            raise ValueError("tool_choice is only allowed when tools are given")  # as OpenAI answers
        return value

    def output_limit(self) -> int | None:
        """The caller's cap on generated tokens, whichever of the two spellings was used."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def end_user(self) -> str | None:
        """Who the end user is, for a provider's abuse-monitoring field: ``safety_identifier`` supersedes
        the older ``user``."""
        return self.safety_identifier if self.safety_identifier is not None else self.user

    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)
