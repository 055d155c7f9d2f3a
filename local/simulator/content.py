"""The deterministic answer every provider format wraps in its own shape.

Each format reduces its request to a `Prompt`; `compose` turns it into an `Answer` that is the same
whatever the wire format, so tests can predict text, tool calls, token counts and stop reasons.

The answer honours the request the way a model would: with a response schema the text is JSON satisfying it
(`json_mode`: a JSON object shaped by the JSON Schema the prompt itself carries, as clients write one into it for
JSON mode, else `{"answer": ...}`); tool-call arguments satisfy the tool's parameter schema; after a tool result
the model answers in text instead of calling again (unless a tool is forced: then the last declared one, which
is where a gateway puts its structured-output tool); with thinking asked for, a reasoning text comes first and
counts as completion tokens. A system prompt of at least `CACHE_MIN_WORDS` words seen before by this process is
reported as read from the prompt cache, as providers cache long repeated prefixes.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from local.simulator.schema_values import value_for

if TYPE_CHECKING:
    from local.simulator.pacing import Pacer, PacingHandle

ECHO_LIMIT = 200
TOOL_TRIGGER = "weather"
TOOL_ARGUMENTS: dict[str, Any] = {"location": "Paris"}
CACHE_MIN_WORDS = 64
REASONING_PREFIX = "Thinking it over:"


class Finish(Enum):
    STOP = "stop"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"
    TOOL = "tool"


@dataclass
class Prompt:
    provider: str
    model: str
    texts: list[str] = field(default_factory=list)  # every piece of text sent (system, messages, tool results)
    last_user_text: str = ""
    tools: list[str] = field(default_factory=list)
    forced_tool: str | None = None  # a tool name, or "" for "any tool"
    tools_disabled: bool = False
    max_tokens: int | None = None
    stop_sequences: list[str] = field(default_factory=list)
    tool_schemas: dict[str, Any] = field(default_factory=dict)  # tool name -> its parameters' JSON Schema
    after_tool_result: bool = False  # the conversation ends with a tool result
    response_schema: Any = None  # answer with JSON satisfying this schema
    json_mode: bool = False  # answer with a JSON object
    reasoning: bool = False  # thinking / reasoning was asked for
    reasoning_shown: bool = True  # its text is returned (Gemini only with includeThoughts)
    system_text: str = ""  # the cacheable prefix


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass
class Answer:
    text: str
    tool_call: ToolCall | None
    finish: Finish
    stop_sequence: str | None
    prompt_tokens: int
    completion_tokens: int  # reasoning tokens included
    reasoning: str = ""
    cached_tokens: int = 0
    pacer: Pacer | None = None

    def pace(self, index: int) -> None:
        """Called by each format before it produces content chunk ``index`` of a stream."""
        if self.pacer is not None:
            self.pacer.before(index)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def reasoning_tokens(self) -> int:
        return count_words(self.reasoning)

    @property
    def answer_tokens(self) -> int:
        return self.completion_tokens - self.reasoning_tokens

    def reasoning_pieces(self) -> list[str]:
        words = self.reasoning.split(" ")
        return [words[0], *(f" {word}" for word in words[1:])] if self.reasoning else []

    def text_pieces(self) -> list[str]:
        """The answer word by word, each word but the first keeping its leading space, for streaming."""
        words = self.text.split(" ")
        return [words[0], *(f" {word}" for word in words[1:])] if self.text else []


def count_words(text: str) -> int:
    return len(text.split())


class PromptCache:
    """Which long system prompts this process has seen, per provider and model."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def cached_tokens(self, prompt: Prompt) -> int:
        words = count_words(prompt.system_text)
        if words < CACHE_MIN_WORDS:
            return 0
        key = (prompt.provider, prompt.model, prompt.system_text)
        with self._lock:
            hit = key in self._seen
            self._seen.add(key)
        return words if hit else 0


PROMPT_CACHE = PromptCache()


def json_mode_object(prompt: Prompt) -> dict[str, Any]:
    """JSON mode's answer: shaped by the last JSON Schema written into the prompt, when there is one."""
    for text in reversed(prompt.texts):
        schema = embedded_schema(text)
        if schema is not None:
            value = value_for(schema)
            if isinstance(value, dict):
                return value
    return {"answer": prompt.last_user_text[:ECHO_LIMIT]}


def embedded_schema(text: str) -> dict[str, Any] | None:
    """The last JSON object in ``text`` that reads as an object schema (``properties``, or ``$ref`` / ``$defs``)."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    position = text.find("{")
    while 0 <= position < len(text):
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict) and ("properties" in value or "$ref" in value):
            found = value
        position = text.find("{", end)
    return found


def arguments_for(prompt: Prompt, tool: str) -> dict[str, Any]:
    schema = prompt.tool_schemas.get(tool)
    if isinstance(schema, dict) and schema.get("additionalProperties") is True and not schema.get("properties"):
        return json_mode_object(prompt)  # "any JSON object" (how JSON mode is emulated with a tool)
    if not isinstance(schema, dict) or not (schema.get("properties") or schema.get("$ref") or schema.get("anyOf")):
        return dict(TOOL_ARGUMENTS)  # a schema that says nothing: the classic weather call
    value = value_for(schema)
    return value if isinstance(value, dict) else dict(TOOL_ARGUMENTS)


def compose(prompt: Prompt) -> Answer:
    prompt_tokens = max(1, sum(count_words(text) for text in prompt.texts))
    cached = min(PROMPT_CACHE.cached_tokens(prompt), prompt_tokens)
    reasoning = ""
    if prompt.reasoning:
        reasoning = f"{REASONING_PREFIX} {prompt.last_user_text[:ECHO_LIMIT]}".rstrip()
    thought = count_words(reasoning)
    tool = _chosen_tool(prompt)
    if tool is not None:
        call = ToolCall(name=tool, arguments=arguments_for(prompt, tool))
        tokens = count_words(call.arguments_json) + thought
        return Answer("", call, Finish.TOOL, None, prompt_tokens, tokens, reasoning, cached)

    if prompt.response_schema is not None:
        text = json.dumps(value_for(prompt.response_schema))
    elif prompt.json_mode:
        text = json.dumps(json_mode_object(prompt))
    else:
        text = f"Hello from {prompt.provider} ({prompt.model}): {prompt.last_user_text[:ECHO_LIMIT]}".rstrip()
    finish, matched = Finish.STOP, None
    for sequence in prompt.stop_sequences:
        if sequence and sequence in text:
            text, finish, matched = text[: text.index(sequence)], Finish.STOP_SEQUENCE, sequence
            break
    words = text.split()
    room = None if prompt.max_tokens is None else max(prompt.max_tokens - thought, 0)
    if room is not None and len(words) > room:
        words, finish, matched = words[:room], Finish.LENGTH, None
    return Answer(" ".join(words), None, finish, matched, prompt_tokens, len(words) + thought, reasoning, cached)


def paced(answer: Answer, handle: PacingHandle | None) -> Answer:
    """``answer`` under an armed pacing: exactly ``chunks`` words of text when set, the ``prompt_tokens`` it
    reports when set, and its stream paced."""
    if handle is None:
        return answer
    chunks = handle.pacing.chunks
    if chunks is not None and answer.tool_call is None:
        words = answer.text.split()
        words = (words + [f"w{i}" for i in range(len(words), chunks)])[:chunks]
        answer.text, answer.completion_tokens = " ".join(words), chunks + answer.reasoning_tokens
    if handle.pacing.prompt_tokens is not None:
        answer.prompt_tokens, answer.cached_tokens = handle.pacing.prompt_tokens, 0
    answer.pacer = handle.pacer()
    return answer


def _chosen_tool(prompt: Prompt) -> str | None:
    if not prompt.tools or prompt.tools_disabled:
        return None
    if prompt.forced_tool is not None:
        if prompt.forced_tool in prompt.tools:
            return prompt.forced_tool
        return prompt.tools[-1] if prompt.after_tool_result else prompt.tools[0]
    if prompt.after_tool_result:
        return None  # the tool's answer is in: reply with text
    return prompt.tools[0] if TOOL_TRIGGER in prompt.last_user_text.lower() else None


def split_in_two(text: str) -> list[str]:
    """Tool-call arguments are streamed as two partial JSON fragments, as providers do."""
    middle = len(text) // 2
    return [text[:middle], text[middle:]]
