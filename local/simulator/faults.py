"""Injected upstream failures: which requests they hit and how many times."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

# "slow" and "timeout" both answer normally after `delay`: a slow provider, or (with a delay past the client's
# timeout) one that never answers in time.
MODES = frozenset({"status", "timeout", "slow", "refuse", "drop", "drop_mid_body", "garbage", "wrong_content_type"})
PROVIDERS = frozenset(
    {"openai", "deepseek", "anthropic", "google-ai-studio", "amazon-bedrock", "google-vertex", "google-oauth"}
)
# How an upstream may quote a secret: whole, its first 70%, upper- or lower-cased, base64 or URL-encoded.
EchoForm = Literal["as_is", "partial", "upper", "lower", "base64", "url"]
DEFAULT_STATUS = 500
DEDICATED_DEFAULT_STATUS = 429  # provisioned throughput exhausted


class Fault(BaseModel):
    """The keyword arguments of `ProviderSimulator.fail`, validated (the control API posts the same JSON)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    status: int | None = Field(default=None, ge=100, le=599)
    mode: str = "status"
    credential: str | None = None
    times: int | None = Field(default=None, ge=1)
    delay: float = Field(default=0.0, ge=0.0)
    body: str | None = None
    # The error message, in the provider's own error shape (``body`` replaces the whole body instead).
    message: str | None = None
    # Quote the credentials the request carried (its auth header values) back in the error message, as some
    # providers quote a rejected key: what the gateway must scrub from everything it keeps.
    echo_credentials: bool = False
    # How the echoed values are spelled (see ``spelled``): a redactor must catch every form of a secret.
    echo_form: EchoForm = "as_is"
    retry_after: str | None = Field(default=None, max_length=64)  # sent as the error answer's retry-after
    dedicated_only: bool = False

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; expected one of {sorted(PROVIDERS)}")
        return value

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; expected one of {sorted(MODES)}")
        return value

    @property
    def answer_status(self) -> int:
        if self.status is not None:
            return self.status
        return DEDICATED_DEFAULT_STATUS if self.dedicated_only else DEFAULT_STATUS


@dataclass
class _Armed:
    fault: Fault
    remaining: int | None


class FaultBook:
    """Thread-safe list of armed faults; the most recently armed matching fault wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [armed.fault.model_dump() | {"remaining": armed.remaining} for armed in self._armed]

    def take(self, provider: str, credential: str | None, dedicated: bool) -> Fault | None:
        """The fault this request hits, counting it against `times`."""
        with self._lock:
            for armed in reversed(self._armed):
                fault = armed.fault
                if fault.provider != provider or (fault.dedicated_only and not dedicated):
                    continue
                if fault.credential is not None and fault.credential != credential:
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                return fault
            return None


def spelled(value: str, form: EchoForm) -> str:
    """``value`` as an upstream quoting it in ``form`` would write it (see ``EchoForm``)."""
    if form == "partial":
        return value[: len(value) * 7 // 10]
    if form == "upper":
        return value.upper()
    if form == "lower":
        return value.lower()
    if form == "base64":
        return base64.b64encode(value.encode()).decode("ascii")
    if form == "url":
        return quote(value, safe="")
    return value
