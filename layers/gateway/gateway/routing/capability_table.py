"""The per-provider parameter table, as data: for each OpenAI request parameter and each wire format
("dialect"), whether it is translated (and into what), forwarded, a hint dropped there, or unsupported.
``gateway.routing.capabilities`` reads it; the API reference's table is rendered from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


_THINKING_BUDGET = (
    "extended thinking: `thinking.budget_tokens` by effort (minimal 1024 to xhigh 32768), "
    "`max_tokens` raised above the budget; `none` sends no thinking"
)


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
