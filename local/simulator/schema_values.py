"""A deterministic JSON value that satisfies a JSON Schema: the simulator's structured answers and tool arguments.

Covers what clients send (pydantic's and zod's output, OpenAI strict schemas): ``$ref`` into ``$defs`` /
``definitions``, ``anyOf`` / ``oneOf`` / ``allOf``, ``enum`` / ``const``, objects (every required property, or
every property when none is required), arrays (``minItems``), strings (``format``, ``minLength``, ``pattern``-free
text), numbers within bounds, booleans and null. Property names steer the strings a little ("city" is Paris) so a
tool loop reads naturally.
"""

from __future__ import annotations

from typing import Any

PLACE_NAMES = frozenset({"location", "city", "place", "town"})
FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "12:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
MAX_DEPTH = 12


def value_for(schema: Any, root: Any = None, name: str = "", depth: int = 0) -> Any:
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        return value_for(_resolve(root, schema["$ref"]), root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or [] if isinstance(o, dict) and o.get("type") != "null"]
        if options:
            return value_for(options[0], root, name, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(_resolve(root, part["$ref"]) if "$ref" in part else part)
        return value_for(merged, root, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        wanted = schema.get("required") or list(properties)
        return {key: value_for(properties.get(key, {}), root, key, depth + 1) for key in wanted}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 0))
        return [value_for(schema.get("items") or {}, root, name, depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return int(_number(schema, 1))
    if kind == "number":
        return _number(schema, 1.5)
    if kind == "boolean":
        return True
    return None


def _resolve(root: Any, ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node = root
    for part in ref.removeprefix("#").strip("/").split("/"):
        node = node.get(part) if isinstance(node, dict) and part else node
    return node if isinstance(node, dict) else {}


def _string(schema: dict[str, Any], name: str) -> str:
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    text = "Paris" if name.lower() in PLACE_NAMES else (f"sample {name}" if name else "sample")
    minimum, maximum = int(schema.get("minLength") or 0), schema.get("maxLength")
    text = text.ljust(minimum, "x")
    return text[: int(maximum)] if isinstance(maximum, int) else text


def _number(schema: dict[str, Any], default: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = default
    if isinstance(low, int | float) and value <= low:
        value = low + (1 if "exclusiveMinimum" in schema else 0)
    if isinstance(high, int | float) and value >= high:
        value = high - (1 if "exclusiveMaximum" in schema else 0)
    return value
