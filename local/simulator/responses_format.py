"""OpenAI's Responses API (`POST /v1/responses`), JSON and SSE.

Shapes follow openai-python's `types/responses`: the `response` object (`id`, `object`, `created_at`,
`status`, `model`, `output`, `usage` with `input_tokens_details.cached_tokens` and
`output_tokens_details.reasoning_tokens`), output items (`message` with `output_text` parts, `function_call`,
`reasoning` with `summary` and, with `include: ["reasoning.encrypted_content"]`, `encrypted_content`) and the
semantic stream events, each with its `sequence_number`. The simulator keeps no responses: a
`previous_response_id` it never issued is a 400, as OpenAI answers an unknown one (a gateway must send the
conversation itself).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

from local.simulator.content import Answer, Finish, Prompt, compose, paced, split_in_two
from local.simulator.openai_format import error_reply
from local.simulator.pacing import PacingHandle
from local.simulator.wire import Reply, json_reply, new_id, sse_event

ENCRYPTED_PREFIX = "gAAAA-simulated-"


def handle_responses(body: Any, pacing: PacingHandle | None = None) -> Reply:
    if not isinstance(body, dict):
        return error_reply(400, "We could not parse the JSON body of your request.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error_reply(400, "Missing required parameter: 'model'.", param="model")
    previous = body.get("previous_response_id")
    if previous is not None:
        return error_reply(400, f"Previous response with id '{previous}' not found.", param="previous_response_id")
    prompt = _prompt(body, model)
    if isinstance(prompt, Reply):
        return prompt
    answer = paced(compose(prompt), pacing)
    response = _Response(body, model, answer)
    if body.get("stream") is True:
        return Reply(status=200, content_type="text/event-stream; charset=utf-8", stream=response.events())
    return json_reply(200, response.final())


def _prompt(body: dict[str, Any], model: str) -> Prompt | Reply:
    prompt = Prompt(provider="openai", model=model)
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        prompt.texts.append(instructions)
        prompt.system_text = instructions
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        return error_reply(400, "Missing required parameter: 'input'.", param="input")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return error_reply(400, f"Invalid type for 'input[{index}]'.", param=f"input[{index}]")
        problem = _item(prompt, index, item)
        if problem is not None:
            return problem
    last = items[-1]
    prompt.after_tool_result = isinstance(last, dict) and last.get("type") == "function_call_output"
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict):
            return error_reply(400, f"Invalid type for 'tools[{index}]'.", param=f"tools[{index}]")
        if tool.get("type") == "function":
            if not isinstance(tool.get("name"), str):
                return error_reply(400, f"Missing required parameter: 'tools[{index}].name'.", param="tools")
            prompt.tools.append(tool["name"])
            prompt.tool_schemas[tool["name"]] = tool.get("parameters")
    text = body.get("text")
    form = text.get("format") if isinstance(text, dict) else None
    if isinstance(form, dict) and form.get("type") == "json_schema":
        if not isinstance(form.get("name"), str) or not isinstance(form.get("schema"), dict):
            return error_reply(400, "Missing required parameter: 'text.format.name'.", param="text.format")
        prompt.response_schema = form["schema"]
    elif isinstance(form, dict) and form.get("type") == "json_object":
        prompt.json_mode = True
    reasoning = body.get("reasoning")
    prompt.reasoning = isinstance(reasoning, dict) and reasoning.get("effort") not in (None, "none")
    choice = body.get("tool_choice")
    if choice == "none":
        prompt.tools_disabled = True
    elif choice == "required":
        prompt.forced_tool = ""
    elif isinstance(choice, dict) and choice.get("type") == "function":
        prompt.forced_tool = str(choice.get("name", ""))
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or limit < 16):
        message = "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16."
        return error_reply(400, message, param="max_output_tokens")
    prompt.max_tokens = limit
    return prompt


def _item(prompt: Prompt, index: int, item: dict[str, Any]) -> Reply | None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            return error_reply(400, f"Invalid value for 'input[{index}].role'.", param=f"input[{index}].role")
        text = _text(item.get("content"))
        prompt.texts.append(text)
        if role == "user":
            prompt.last_user_text = text
        elif role in ("system", "developer"):
            prompt.system_text += text
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            return error_reply(400, f"Missing required parameter: 'input[{index}].call_id'.", param="input")
        output = item.get("output")
        prompt.texts.append(output if isinstance(output, str) else _text(output))
    elif kind == "function_call":
        if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
            return error_reply(400, f"Missing required parameter: 'input[{index}].call_id'.", param="input")
    elif kind == "reasoning":
        encrypted = item.get("encrypted_content")
        if encrypted is not None and not (isinstance(encrypted, str) and encrypted.startswith(ENCRYPTED_PREFIX)):
            return error_reply(400, "The encrypted content could not be verified.", param=f"input[{index}]")
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return " ".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))


class _Response:
    """One answer as the Responses API shapes it: the final object and the stream of events leading to it."""

    def __init__(self, body: dict[str, Any], model: str, answer: Answer) -> None:
        self.body = body
        self.model = model
        self.answer = answer
        self.id = new_id("resp_", 48)
        self.created_at = int(time.time())
        include = body.get("include") or []
        self.encrypted = isinstance(include, list) and "reasoning.encrypted_content" in include
        reasoning = body.get("reasoning")
        self.summary = isinstance(reasoning, dict) and reasoning.get("summary") is not None
        self.reasoning_id = new_id("rs_", 48)
        self.item_id = new_id("fc_" if answer.tool_call is not None else "msg_", 48)
        self.call_id = new_id("call_")
        self._sequence = 0

    @property
    def incomplete(self) -> bool:
        return self.answer.finish is Finish.LENGTH

    def _shell(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        body = self.body
        text = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": text,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": usage,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def _usage(self) -> dict[str, Any]:
        answer = self.answer
        return {
            "input_tokens": answer.prompt_tokens,
            "input_tokens_details": {"cached_tokens": answer.cached_tokens},
            "output_tokens": answer.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
            "total_tokens": answer.total_tokens,
        }

    def _reasoning_item(self, summary_text: str, status: str = "completed") -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.reasoning_id, "type": "reasoning", "summary": []}
        if self.summary and summary_text:
            item["summary"] = [{"type": "summary_text", "text": summary_text}]
        if self.encrypted:
            secret = base64.b64encode(self.answer.reasoning.encode()).decode()
            item["encrypted_content"] = ENCRYPTED_PREFIX + secret
        return item

    def _main_item(self, status: str, text: str, arguments: str) -> dict[str, Any]:
        call = self.answer.tool_call
        if call is not None:
            return {
                "id": self.item_id,
                "type": "function_call",
                "status": status,
                "arguments": arguments,
                "call_id": self.call_id,
                "name": call.name,
            }
        content = [_output_text(text)] if status == "completed" else []
        return {"id": self.item_id, "type": "message", "status": status, "content": content, "role": "assistant"}

    def output(self) -> list[dict[str, Any]]:
        items = [self._reasoning_item(self.answer.reasoning)] if self.answer.reasoning else []
        arguments = self.answer.tool_call.arguments_json if self.answer.tool_call is not None else ""
        return [*items, self._main_item("completed", self.answer.text, arguments)]

    def final(self) -> dict[str, Any]:
        return self._shell("incomplete" if self.incomplete else "completed", self.output(), self._usage())

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse_event(payload, event=kind)

    def events(self) -> Iterator[bytes]:
        yield self._event("response.created", response=self._shell("in_progress", [], None))
        yield self._event("response.in_progress", response=self._shell("in_progress", [], None))
        index = 0
        answer = self.answer
        if answer.reasoning:
            yield from self._reasoning_events(index)
            index += 1
        yield self._event("response.output_item.added", output_index=index, item=self._main_item("in_progress", "", ""))
        if answer.tool_call is not None:
            arguments = answer.tool_call.arguments_json
            for position, piece in enumerate(split_in_two(arguments)):
                answer.pace(position)
                yield self._event(
                    "response.function_call_arguments.delta", item_id=self.item_id, output_index=index, delta=piece
                )
            yield self._event(
                "response.function_call_arguments.done",
                item_id=self.item_id,
                output_index=index,
                name=answer.tool_call.name,
                arguments=arguments,
            )
        else:
            part = {"item_id": self.item_id, "output_index": index, "content_index": 0}
            yield self._event("response.content_part.added", **part, part=_output_text(""))
            for position, piece in enumerate(answer.text_pieces()):
                answer.pace(position)
                yield self._event("response.output_text.delta", **part, delta=piece, logprobs=[])
            yield self._event("response.output_text.done", **part, text=answer.text, logprobs=[])
            yield self._event("response.content_part.done", **part, part=_output_text(answer.text))
        yield self._event("response.output_item.done", output_index=index, item=self.output()[-1])
        final = self.final()
        yield self._event("response.incomplete" if self.incomplete else "response.completed", response=final)

    def _reasoning_events(self, index: int) -> Iterator[bytes]:
        ids = {"item_id": self.reasoning_id, "output_index": index}
        yield self._event("response.output_item.added", output_index=index, item=self._reasoning_item(""))
        if self.summary:
            part = {"type": "summary_text", "text": ""}
            yield self._event("response.reasoning_summary_part.added", **ids, summary_index=0, part=part)
            for piece in self.answer.reasoning_pieces():
                yield self._event("response.reasoning_summary_text.delta", **ids, summary_index=0, delta=piece)
            text = self.answer.reasoning
            yield self._event("response.reasoning_summary_text.done", **ids, summary_index=0, text=text)
            done = {"type": "summary_text", "text": text}
            yield self._event("response.reasoning_summary_part.done", **ids, summary_index=0, part=done)
        yield self._event(
            "response.output_item.done", output_index=index, item=self._reasoning_item(self.answer.reasoning)
        )


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
