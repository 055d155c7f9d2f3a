"""Reading a JSON object from text another party wrote (a request header, an upstream's body or stream event)."""

from __future__ import annotations

import json
from typing import Any


def load_object(text: str | bytes, error: type[Exception], not_json: str, not_object: str) -> dict[str, Any]:
    """``text`` as a JSON object; otherwise ``error`` with the message that says which it was not (never the
    text itself: it may carry what a log must not show)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise error(not_json) from None
    if not isinstance(value, dict):
        raise error(not_object)
    return value
