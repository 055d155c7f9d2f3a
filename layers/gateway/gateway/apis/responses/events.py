"""Chat deltas -> Responses semantic stream events for a translated model (``EventEncoder``), one output item at a
time, as they arrive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.apis.messages.answers import chunk_deltas
from gateway.apis.responses.items import (
    function_call_item,
    item_id,
    message_item,
    output_text_part,
    reasoning_item,
    status_of,
    text_or,
)
from gateway.providers import common


@dataclass
class _Open:
    """One output item being streamed."""

    kind: str  # "reasoning", "message" or "function_call"
    index: int
    item: dict[str, Any]
    text: str = ""


@dataclass
class EventEncoder:
    """Chat deltas -> Responses semantic events, one output item at a time, as they arrive. The events carry no
    ``sequence_number`` and their ``response`` objects only what the chat answer knows: the stream body numbers
    them and completes the response object (id, model, usage)."""

    spaces: dict[str, str] = field(default_factory=dict)  # function name -> its namespace (``namespaces``)
    _started: bool = False
    _items: list[_Open] = field(default_factory=list)
    _open: _Open | None = None
    _tools: dict[int, _Open] = field(default_factory=dict)  # chat tool-call index -> its item
    _finish: Any = None

    def chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._start()
        for delta in chunk_deltas(chunk):
            if delta.kind == "reasoning":
                events += self._text("reasoning", delta.text)
            elif delta.kind == "text":
                events += self._text("message", delta.text)
            elif delta.kind == "tool_call":
                events += self._tool_delta(delta.call)
            else:
                self._finish = delta.text
        return events

    def finish(self, usage: dict[str, int] | None) -> list[dict[str, Any]]:
        events = self._start() + self._close()
        status, details = status_of(self._finish)
        response = {
            "status": status,
            "incomplete_details": details,
            "output": [item.item for item in self._items],
            "usage": usage,
        }
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*events, {"type": kind, "response": response}]

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        shell: dict[str, Any] = {"status": "in_progress", "output": [], "usage": None}
        return [{"type": "response.created", "response": shell}, {"type": "response.in_progress", "response": shell}]

    def _text(self, kind: str, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        current = self._open
        if current is None or current.kind != kind:
            events += self._close()
            current = self._begin(kind, reasoning_item(item_id("rs_"), "") if kind == "reasoning" else None)
            events += self._added(current)
        current.text += text
        ids = {"item_id": current.item["id"], "output_index": current.index}
        if kind == "reasoning":
            events.append({"type": "response.reasoning_summary_text.delta", **ids, "summary_index": 0, "delta": text})
        else:
            events.append(
                {"type": "response.output_text.delta", **ids, "content_index": 0, "delta": text, "logprobs": []}
            )
        return events

    def _begin(self, kind: str, item: dict[str, Any] | None) -> _Open:
        if item is None:
            item = message_item(item_id("msg_"), "", "in_progress")
        opened = _Open(kind, len(self._items), item)
        self._items.append(opened)
        self._open = opened
        return opened

    def _added(self, opened: _Open) -> list[dict[str, Any]]:
        events = [{"type": "response.output_item.added", "output_index": opened.index, "item": dict(opened.item)}]
        ids = {"item_id": opened.item["id"], "output_index": opened.index}
        if opened.kind == "reasoning":
            part = {"type": "summary_text", "text": ""}
            events.append({"type": "response.reasoning_summary_part.added", **ids, "summary_index": 0, "part": part})
        elif opened.kind == "message":
            events.append(
                {"type": "response.content_part.added", **ids, "content_index": 0, "part": output_text_part("")}
            )
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = common.int_field(call, "index")
        function = common.as_dict(call.get("function"))
        opened = self._tools.get(position)
        if opened is None:
            events += self._close()
            call_id = text_or(call.get("id"), item_id("call_"))
            name = text_or(function.get("name"), "")
            item = function_call_item(item_id("fc_"), call_id, name, "", "in_progress", self.spaces.get(name))
            opened = self._begin("function_call", item)
            self._tools[position] = opened
            events += self._added(opened)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            opened.text += arguments
            events.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": opened.item["id"],
                    "output_index": opened.index,
                    "delta": arguments,
                }
            )
        return events

    def _close(self) -> list[dict[str, Any]]:
        """End the open item: its done events, and its final form kept for ``response.completed``."""
        current = self._open
        if current is None:
            return []
        self._open = None
        ids = {"item_id": current.item["id"], "output_index": current.index}
        events: list[dict[str, Any]] = []
        if current.kind == "reasoning":
            current.item = reasoning_item(current.item["id"], current.text)
            part = {"type": "summary_text", "text": current.text}
            events.append(
                {"type": "response.reasoning_summary_text.done", **ids, "summary_index": 0, "text": current.text}
            )
            events.append({"type": "response.reasoning_summary_part.done", **ids, "summary_index": 0, "part": part})
        elif current.kind == "message":
            current.item = message_item(current.item["id"], current.text)
            done = {"type": "response.output_text.done", **ids, "content_index": 0, "text": current.text}
            events.append({**done, "logprobs": []})
            part_done = {"type": "response.content_part.done", **ids, "content_index": 0}
            events.append({**part_done, "part": output_text_part(current.text)})
        else:
            item = current.item
            arguments = current.text or "{}"
            current.item = {**item, "status": "completed", "arguments": arguments}
            events.append(
                {"type": "response.function_call_arguments.done", **ids, "name": item["name"], "arguments": arguments}
            )
        events.append({"type": "response.output_item.done", "output_index": current.index, "item": current.item})
        return events
