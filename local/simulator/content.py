"""The deterministic answer every provider format wraps in its own shape.

Each format reduces its request to a `Prompt`; `compose` turns it into an `Answer` that is the same
whatever the wire format, so tests can predict text, tool calls, token counts and stop reasons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

ECHO_LIMIT = 200
TOOL_TRIGGER = "weather"
TOOL_ARGUMENTS: dict[str, str] = {"location": "Paris"}


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


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, str]

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
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def text_pieces(self) -> list[str]:
        """The answer word by word, each word but the first keeping its leading space, for streaming."""
        words = self.text.split(" ")
        return [words[0], *(f" {word}" for word in words[1:])] if self.text else []


def count_words(text: str) -> int:
    return len(text.split())


def compose(prompt: Prompt) -> Answer:
    prompt_tokens = max(1, sum(count_words(text) for text in prompt.texts))
    tool = _chosen_tool(prompt)
    if tool is not None:
        call = ToolCall(name=tool, arguments=dict(TOOL_ARGUMENTS))
        return Answer("", call, Finish.TOOL, None, prompt_tokens, count_words(call.arguments_json))

    text = f"Hello from {prompt.provider} ({prompt.model}): {prompt.last_user_text[:ECHO_LIMIT]}".rstrip()
    finish, matched = Finish.STOP, None
    for sequence in prompt.stop_sequences:
        if sequence and sequence in text:
            text, finish, matched = text[: text.index(sequence)], Finish.STOP_SEQUENCE, sequence
            break
    words = text.split()
    if prompt.max_tokens is not None and len(words) > prompt.max_tokens:
        words, finish, matched = words[: prompt.max_tokens], Finish.LENGTH, None
    return Answer(" ".join(words), None, finish, matched, prompt_tokens, len(words))


def _chosen_tool(prompt: Prompt) -> str | None:
    if not prompt.tools or prompt.tools_disabled:
        return None
    if prompt.forced_tool is not None:
        return prompt.forced_tool if prompt.forced_tool in prompt.tools else prompt.tools[0]
    return prompt.tools[0] if TOOL_TRIGGER in prompt.last_user_text.lower() else None


def split_in_two(text: str) -> list[str]:
    """Tool-call arguments are streamed as two partial JSON fragments, as providers do."""
    middle = len(text) // 2
    return [text[:middle], text[middle:]]
