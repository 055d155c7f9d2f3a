"""The per-provider parameter table: what becomes of each OpenAI request parameter at each upstream.

Every parameter a caller sets is, for the wire format ("dialect") an attempt goes to, one of:

- ``translated``: rewritten into that provider's own field (``how`` says into what);
- ``forwarded``: sent as is;
- ``hint``: a preference with no field there, dropped and named in ``x-gateway-ignored-params``;
- ``unsupported``: the provider cannot honour it, so it is not a candidate for the request.

``TABLE`` is the one place that says so; the adapters read ``forwarded`` from it and implement the
translations it names, routing filters candidates with ``assess``, and the README's table is rendered from it
(a test keeps the two equal). Some answers depend on the value or the model (``n`` > 1, Claude-only thinking
on Bedrock, thinking's constraints on sampling); ``assess`` applies those on top of the static table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.apis.chat.schema import ChatRequest, NamedToolChoice, ResponseFormatJsonObject, ResponseFormatJsonSchema
from gateway.core.catalog import Offer
from gateway.core.errors import BadRequest

Support = Literal["translated", "forwarded", "hint", "unsupported"]
Dialect = Literal["openai", "deepseek", "vertex-openai", "anthropic", "gemini", "bedrock"]
DIALECTS: tuple[Dialect, ...] = ("openai", "deepseek", "vertex-openai", "anthropic", "gemini", "bedrock")
DIALECT_LABELS: dict[Dialect, str] = {
    "openai": "openai",
    "deepseek": "deepseek",
    "vertex-openai": "google-vertex (partner models, OpenAI-compatible)",
    "anthropic": "anthropic, google-vertex (Claude)",
    "gemini": "google-ai-studio, google-vertex (Gemini)",
    "bedrock": "amazon-bedrock (Converse)",
}
# The contract's hints: never block a request, dropped and named where the provider has no field.
HINTS = frozenset(
    {
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
        "parallel_tool_calls",
        "verbosity",
    }
)
# Claude models with native structured outputs (output_config.format / Converse outputConfig.textFormat).
STRUCTURED_OUTPUT_CLAUDE = (
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-opus-4-5",
    "claude-opus-4-1",
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
)
# Extended thinking refuses other sampling: temperature must stay 1, top_p at least 0.95, no forced tool.
THINKING_MIN_TOP_P = 0.95
# Anthropic's extended-thinking budget per reasoning_effort (its minimum is 1024; max_tokens must exceed it).
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768}
THINKING_MIN_BUDGET = 1024


@dataclass(frozen=True)
class Rule:
    support: Support
    how: str = ""


def _t(how: str) -> Rule:
    return Rule("translated", how)


FWD = Rule("forwarded")
HINT = Rule("hint", "dropped")


def _no(why: str) -> Rule:
    return Rule("unsupported", why)


def _same(rule: Rule, *dialects: Dialect) -> dict[Dialect, Rule]:
    return dict.fromkeys(dialects, rule)


_OPENAI_LIKE: tuple[Dialect, ...] = ("openai", "deepseek", "vertex-openai")
_NOT_OPENAI: tuple[Dialect, ...] = ("deepseek", "vertex-openai", "anthropic", "gemini", "bedrock")
_THINKING_BUDGET = "extended thinking: `thinking.budget_tokens` by effort (minimal 1024 to xhigh 32768), "
_THINKING_BUDGET += "`max_tokens` raised above the budget; `none` sends no thinking"

TABLE: dict[str, dict[Dialect, Rule]] = {
    "temperature": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _t("`temperature` (0 to 1; above 1 is unsupported)"),
        "gemini": _t("`generationConfig.temperature`"),
        "bedrock": _t("`inferenceConfig.temperature`"),
    },
    "top_p": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _t("`top_p`"),
        "gemini": _t("`generationConfig.topP`"),
        "bedrock": _t("`inferenceConfig.topP`"),
    },
    "max_tokens / max_completion_tokens": {
        "openai": _t("`max_completion_tokens` for reasoning models, else as given"),
        "deepseek": _t("`max_tokens`"),
        "vertex-openai": _t("`max_tokens`"),
        "anthropic": _t("`max_tokens` (4096 when not given; Anthropic requires it)"),
        "gemini": _t("`generationConfig.maxOutputTokens`"),
        "bedrock": _t("`inferenceConfig.maxTokens`"),
    },
    "stop": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _t("`stop_sequences`"),
        "gemini": _t("`generationConfig.stopSequences`"),
        "bedrock": _t("`inferenceConfig.stopSequences`"),
    },
    "tools": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _t("`tools[].input_schema`"),
        "gemini": _t("`tools[].functionDeclarations[].parametersJsonSchema`"),
        "bedrock": _t("`toolConfig.tools[].toolSpec.inputSchema.json`"),
    },
    "tool_choice": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _t("none/auto/required/named → `tool_choice` none/auto/any/tool"),
        "gemini": _t("none/auto/required/named → `functionCallingConfig.mode` NONE/AUTO/ANY (+`allowedFunctionNames`)"),
        "bedrock": _t("auto/required/named → `toolChoice` auto/any/tool; none → tools left out"),
    },
    "parallel_tool_calls": {
        "openai": FWD,
        "deepseek": HINT,
        "vertex-openai": HINT,
        "anthropic": _t("false → `tool_choice.disable_parallel_tool_use: true`"),
        "gemini": HINT,
        "bedrock": HINT,
    },
    "response_format": {
        "openai": FWD,
        "deepseek": _t("`json_object` forwarded; `json_schema` emulated by a forced tool whose input is the content"),
        "vertex-openai": FWD,
        "anthropic": _t(
            "`json_schema` with `strict: true` → `output_config.format` on Claude 4.5 and 5.5 models; "
            "otherwise a forced tool whose input is returned as the content (`finish_reason` `stop`)"
        ),
        "gemini": _t("`generationConfig.responseMimeType: application/json` + `responseJsonSchema`"),
        "bedrock": _t(
            "`json_schema` with `strict: true` on Claude → `outputConfig.textFormat`; otherwise a forced tool whose "
            "input is returned as the content"
        ),
    },
    "reasoning_effort": {
        "openai": FWD,
        "deepseek": _t("`thinking: {type: enabled|disabled}` plus `reasoning_effort`"),
        "vertex-openai": _no("no thinking control on Vertex's OpenAI-compatible endpoint"),
        "anthropic": _t(_THINKING_BUDGET),
        "gemini": _t(
            "`thinkingConfig`: `thinkingLevel` on Gemini 3 (none→minimal, xhigh→high), `thinkingBudget` on 2.5; "
            "`includeThoughts: true`"
        ),
        "bedrock": _t("Claude only: `additionalModelRequestFields.thinking` (as for anthropic)"),
    },
    "seed": {
        "openai": FWD,
        "deepseek": _no("DeepSeek has no seed"),
        "vertex-openai": FWD,
        "anthropic": _no("Anthropic has no seed"),
        "gemini": _t("`generationConfig.seed`"),
        "bedrock": _no("Converse has no seed"),
    },
    "presence_penalty": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _no("Anthropic has no penalties"),
        "gemini": _t("`generationConfig.presencePenalty`"),
        "bedrock": _no("Converse has no penalties"),
    },
    "frequency_penalty": {
        **_same(FWD, *_OPENAI_LIKE),
        "anthropic": _no("Anthropic has no penalties"),
        "gemini": _t("`generationConfig.frequencyPenalty`"),
        "bedrock": _no("Converse has no penalties"),
    },
    "logprobs": {
        "openai": FWD,
        "deepseek": FWD,
        **_same(_no("no token log probabilities"), "vertex-openai", "anthropic", "gemini", "bedrock"),
    },
    "top_logprobs": {
        "openai": FWD,
        "deepseek": FWD,
        **_same(_no("no token log probabilities"), "vertex-openai", "anthropic", "gemini", "bedrock"),
    },
    "logit_bias": {
        "openai": FWD,
        **_same(_no("no logit bias"), *_NOT_OPENAI),
    },
    "n": {
        "openai": FWD,
        "deepseek": _no("n > 1: DeepSeek returns one choice"),
        "vertex-openai": _no("n > 1: Vertex's OpenAI-compatible endpoint returns one choice for partner models"),
        "anthropic": _no("n > 1: Anthropic returns one message"),
        "gemini": _t("`generationConfig.candidateCount`"),
        "bedrock": _no("n > 1: Converse returns one message"),
    },
    "user": {
        "openai": FWD,
        "deepseek": HINT,
        "vertex-openai": HINT,
        "anthropic": _t("`metadata.user_id`"),
        "gemini": HINT,
        "bedrock": HINT,
    },
    "safety_identifier": {
        "openai": FWD,
        "deepseek": HINT,
        "vertex-openai": HINT,
        "anthropic": _t("`metadata.user_id` (wins over `user`)"),
        "gemini": HINT,
        "bedrock": HINT,
    },
    "metadata": {"openai": FWD, **_same(HINT, *_NOT_OPENAI)},
    "store": {"openai": FWD, **_same(HINT, *_NOT_OPENAI)},
    "service_tier": {"openai": FWD, **_same(HINT, *_NOT_OPENAI)},
    "prompt_cache_key": {
        "openai": FWD,
        **_same(HINT, *_NOT_OPENAI),
    },
    "verbosity": {"openai": FWD, **_same(HINT, *_NOT_OPENAI)},
    "prediction": {
        "openai": FWD,
        **_same(_no("no predicted outputs"), *_NOT_OPENAI),
    },
    "modalities": {
        "openai": FWD,
        **_same(_no('text output only (`["text"]` is accepted)'), *_NOT_OPENAI),
    },
    "audio": {
        "openai": FWD,
        **_same(_no("no audio output"), *_NOT_OPENAI),
    },
    "web_search_options": {
        "openai": FWD,
        **_same(_no("no web search through chat"), *_NOT_OPENAI),
    },
    "stream_options.include_usage": _same(
        _t("usage is always asked of the upstream; the last chunk carries it"), *DIALECTS
    ),
}
# The request fields each row covers (the rows are what a caller reads; the fields are what a request sets).
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "max_tokens / max_completion_tokens": ("max_tokens", "max_completion_tokens"),
    "stream_options.include_usage": (),
}


def dialect_of(offer: Offer) -> Dialect:
    if offer.family == "anthropic":
        return "anthropic"
    if offer.family == "gemini":
        return "gemini"
    if offer.family == "converse":
        return "bedrock"
    if offer.slug == "deepseek":
        return "deepseek"
    if offer.slug == "google-vertex":
        return "vertex-openai"
    return "openai"


def forwarded(dialect: Dialect) -> tuple[str, ...]:
    """The request fields a dialect takes as is (the OpenAI-compatible adapter copies exactly these)."""
    return _FORWARDED[dialect]


_FORWARDED: dict[Dialect, tuple[str, ...]] = {
    dialect: tuple(
        name
        for row, rules in TABLE.items()
        if rules[dialect].support == "forwarded"
        for name in ROW_FIELDS.get(row, (row,))
    )
    for dialect in DIALECTS
}


def given(request: ChatRequest) -> list[str]:
    """The table's parameters this request actually sets to something other than the default behaviour."""
    names: list[str] = []
    for row in TABLE:
        for name in ROW_FIELDS.get(row, (row,)):
            value = getattr(request, name)
            if value is None:
                continue
            if name == "n" and value == 1:
                continue
            if name == "modalities" and "audio" not in value:
                continue
            if name == "logprobs" and value is False:
                continue
            if name == "parallel_tool_calls" and (value is True or not request.tools):
                continue
            if name == "response_format" and value.type == "text":
                continue
            names.append(row)
            break
    return names


def thinking_requested(request: ChatRequest) -> bool:
    return request.reasoning_effort is not None and request.reasoning_effort != "none"


def claude_structured_output(offer: Offer) -> bool:
    return any(name in offer.model_id for name in STRUCTURED_OUTPUT_CLAUDE)


def native_json_schema(request: ChatRequest, offer: Offer) -> bool:
    """Whether ``response_format`` json_schema goes to the Claude model's native structured output (strict
    schemas only: the native decoder rejects the looser schemas a non-strict request may carry)."""
    response_format = request.response_format
    return (
        isinstance(response_format, ResponseFormatJsonSchema)
        and response_format.json_schema.strict is True
        and response_format.json_schema.schema_ is not None
        and claude_structured_output(offer)
    )


def emulates_response_format(request: ChatRequest, offer: Offer) -> bool:
    """Whether this attempt answers ``response_format`` with a forced tool whose input becomes the content."""
    response_format = request.response_format
    dialect = dialect_of(offer)
    if dialect in ("anthropic", "bedrock"):
        if isinstance(response_format, ResponseFormatJsonObject):
            return True
        return isinstance(response_format, ResponseFormatJsonSchema) and not native_json_schema(request, offer)
    return dialect == "deepseek" and isinstance(response_format, ResponseFormatJsonSchema)


def _claude_thinking_conflict(request: ChatRequest, offer: Offer) -> str | None:
    """Why extended thinking cannot run with the rest of this request, or None."""
    if request.temperature is not None and request.temperature != 1:
        return "extended thinking needs temperature 1 (or unset)"
    if request.top_p is not None and request.top_p < THINKING_MIN_TOP_P:
        return f"extended thinking needs top_p of at least {THINKING_MIN_TOP_P} (or unset)"
    forced = request.tool_choice == "required" or isinstance(request.tool_choice, NamedToolChoice)
    if request.tools and forced:
        return "extended thinking cannot run with a forced tool_choice"
    if emulates_response_format(request, offer):
        return "extended thinking cannot run with response_format emulated by a forced tool"
    limit = request.output_limit()
    if limit is not None and limit <= THINKING_MIN_BUDGET:
        return f"extended thinking needs max_tokens above its minimum budget of {THINKING_MIN_BUDGET}"
    return None


@dataclass(frozen=True)
class Assessment:
    """What one offer makes of one request: hints it drops, parameters it cannot honour (name → reason)."""

    ignored: tuple[str, ...] = ()
    unsupported: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.unsupported


def assess(request: ChatRequest, offer: Offer, names: list[str] | None = None) -> Assessment:
    """``names``: ``given(request)`` when the caller already has it (routing assesses every candidate)."""
    dialect = dialect_of(offer)
    ignored: list[str] = []
    unsupported: list[tuple[str, str]] = []
    for name in given(request) if names is None else names:
        rule = TABLE[name][dialect]
        if rule.support == "hint":
            ignored.append(name)
        elif rule.support == "unsupported":
            unsupported.append((name, rule.how))
    if dialect == "anthropic" and request.temperature is not None and request.temperature > 1:
        unsupported.append(("temperature", "above 1; Anthropic accepts 0 to 1"))
    if thinking_requested(request) and dialect in ("anthropic", "bedrock"):
        if dialect == "bedrock" and "anthropic." not in offer.model_id:
            unsupported.append(("reasoning_effort", "thinking through Converse is only mapped for Claude models"))
        else:
            conflict = _claude_thinking_conflict(request, offer)
            if conflict is not None:
                unsupported.append(("reasoning_effort", conflict))
    return Assessment(tuple(dict.fromkeys(ignored)), tuple(unsupported))


def require_supported(request: ChatRequest, offer: Offer) -> Assessment:
    """``assess``, raising the 400 for the first parameter the offer cannot honour (adapters call this, so a
    request that reaches one without routing's filter never loses a parameter silently)."""
    assessment = assess(request, offer)
    if assessment.unsupported:
        name, why = assessment.unsupported[0]
        raise BadRequest(f"{name} is not supported by {offer.slug} ({why})", param=name.split(" ")[0])
    return assessment


def honouring(request: ChatRequest, offers: list[Offer]) -> list[Offer]:
    """The offers that can honour every parameter of the request (hints too, with ``require_parameters``), in
    the given order. None left while some were given: a 400 naming the parameter and why each one refused."""
    strict = bool(request.provider and request.provider.require_parameters)
    names = given(request)
    kept: list[Offer] = []
    refusals: list[tuple[Offer, str, str]] = []
    for offer in offers:
        assessment = assess(request, offer, names)
        if assessment.unsupported:
            name, why = assessment.unsupported[0]
            refusals.append((offer, name, why))
        elif strict and assessment.ignored:
            name = assessment.ignored[0]
            refusals.append((offer, name, "no field for it, and provider.require_parameters is true"))
        else:
            kept.append(offer)
    if kept or not refusals:
        return kept
    param = refusals[0][1]
    reasons = "; ".join(f"{offer.slug}: {name}: {why}" for offer, name, why in refusals)
    raise BadRequest(
        f"{param} cannot be honoured by any provider of this model ({reasons})",
        param=param.split(" ")[0],
        code="unsupported_parameter",
    )


def table_markdown() -> str:
    """The table as the README shows it: one row per parameter, one column per dialect."""
    header = "| parameter | " + " | ".join(DIALECT_LABELS[d] for d in DIALECTS) + " |"
    lines = [header, "|" + "---|" * (len(DIALECTS) + 1)]
    for name, rules in TABLE.items():
        cells = []
        for dialect in DIALECTS:
            rule = rules[dialect]
            cells.append(rule.support + (f": {rule.how}" if rule.how and rule.support != "hint" else ""))
        lines.append(f"| `{name}` | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
