"""Identifiers. Request ids sort by creation time so a log Query can read newest first."""

from __future__ import annotations

import secrets
import time


def new_request_id() -> str:
    return f"req_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def new_key_id() -> str:
    return f"key_{secrets.token_hex(12)}"


def new_account_id() -> str:
    return f"acct_{secrets.token_hex(8)}"
