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

from gateway.apis.chat.schema import ChatRequest, NamedToolChoice, ResponseFormatJsonObject, ResponseFormatJsonSchema
from gateway.core.catalog import Offer
from gateway.core.errors import BadRequest
from gateway.routing.capability_table import (
    DIALECT_LABELS,
    DIALECTS,
    ROW_FIELDS,
    TABLE,
    Dialect,
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
