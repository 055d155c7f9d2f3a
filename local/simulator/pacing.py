"""Stream pacing: how fast, how long and how reliably a simulated provider streams its answer.

Pacing counts *content chunks*, the pieces of generated text (one per word), whatever the wire format: a
stream's preamble (OpenAI's role chunk, Anthropic's ``message_start``, Bedrock's ``messageStart``) goes out at
once, then each content chunk passes ``Pacer.before(index)``, which can wait, hold or hang up.

- ``chunks``: the answer has exactly this many content chunks (filler words are appended, or words cut).
- ``first_chunk_delay``: silence, in seconds, after the preamble and before the first content chunk.
- ``delay``: seconds between two content chunks.
- ``drop_after``: hang up (no terminating chunk) after this many content chunks; 0 drops right after the
  preamble.
- ``prompt_tokens``: the usage the answer reports has this many prompt tokens, whatever the prompt (an upstream
  that fetched a document, ran a server tool or billed a long context reports far more than the body holds).
- ``sync``: hold each content chunk after the first until the test calls ``release()``, so a test of
  incremental delivery reads chunk N before the simulator even produces chunk N+1. A gateway that buffers
  then fails the test by the client's read timeout, never by a race. ``hold_timeout`` bounds each hold.

A pacing is armed per provider (and optionally per credential, for ``times`` requests) like a fault; the
most recently armed match wins. ``PacingHandle`` reports what its streams did (chunks sent, hang-ups seen).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from local.simulator.faults import PROVIDERS
from local.simulator.inflight import CallsInFlight

DEFAULT_HOLD_TIMEOUT_S = 10.0


class Pacing(BaseModel):
    """What ``ProviderSimulator.pace`` takes (the control API posts the same JSON to ``/_sim/pacing``)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    credential: str | None = None
    times: int | None = Field(default=None, ge=1)
    chunks: int | None = Field(default=None, ge=1, le=1_000_000)
    delay: float = Field(default=0.0, ge=0.0, le=60.0)
    first_chunk_delay: float = Field(default=0.0, ge=0.0, le=600.0)
    drop_after: int | None = Field(default=None, ge=0)
    sync: bool = False
    hold_timeout: float = Field(default=DEFAULT_HOLD_TIMEOUT_S, gt=0.0, le=600.0)
    prompt_tokens: int | None = Field(default=None, ge=1, le=100_000_000)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS - {"google-oauth"}:
            raise ValueError(f"unknown provider {value!r}; expected one of {sorted(PROVIDERS - {'google-oauth'})}")
        return value


class Dropped(Exception):
    """Raised inside a stream to make the server hang up without finishing the body."""


@dataclass
class PacingHandle:
    """One armed pacing: release held chunks, read what its streams did."""

    pacing: Pacing
    parking: CallsInFlight
    _released: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0  # content chunks handed to the wire, over every stream of this pacing
    streams: int = 0
    hung_up: int = 0  # streams the simulator ended on purpose (drop_after)
    client_gone: int = 0  # streams whose reader (the gateway) went away before the end
    finished: int = 0  # streams sent to the end

    def release(self, count: int = 1) -> None:
        """Let ``count`` more held chunks go out (sync mode)."""
        self._released.release(count)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.pacing.model_dump() | {
                "sent": self.sent,
                "streams": self.streams,
                "hung_up": self.hung_up,
                "client_gone": self.client_gone,
                "finished": self.finished,
            }

    def pacer(self) -> Pacer:
        with self._lock:
            self.streams += 1
        return Pacer(self)

    def stream_ended(self, how: str) -> None:
        """The server's report on one stream of this pacing: ``finished`` or ``client_gone``."""
        self._count(how)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


@dataclass
class Pacer:
    """The pacing of one stream."""

    handle: PacingHandle

    def before(self, index: int) -> None:
        """Called before content chunk ``index`` (0-based) is produced."""
        pacing, parking = self.handle.pacing, self.handle.parking
        if pacing.drop_after is not None and index >= pacing.drop_after:
            self.handle._count("hung_up")
            raise Dropped
        if index == 0:
            if pacing.first_chunk_delay:
                parking.park(pacing.first_chunk_delay)
        elif pacing.sync:
            self.handle._released.acquire(timeout=pacing.hold_timeout)
        elif pacing.delay:
            parking.park(pacing.delay)
        self.handle._count("sent")


class PacingBook:
    """Thread-safe list of armed pacings; the most recently armed match wins."""

    def __init__(self, parking: CallsInFlight) -> None:
        self._lock = threading.Lock()
        self._parking = parking
        self._armed: list[tuple[PacingHandle, list[int | None]]] = []
        self._issued: list[PacingHandle] = []  # every handle armed since the last clear, used up or not

    def arm(self, pacing: Pacing) -> PacingHandle:
        handle = PacingHandle(pacing, self._parking)
        with self._lock:
            self._armed.append((handle, [pacing.times]))
            self._issued.append(handle)
        return handle

    def clear(self) -> None:
        """Disarm every pacing; nothing stays held once disarmed."""
        with self._lock:
            self._armed.clear()
        self.release_all()
        with self._lock:
            self._issued.clear()

    def release_all(self) -> None:
        """Let every held chunk go, of the armed pacings and of those whose ``times`` are used up alike."""
        with self._lock:
            handles = list(self._issued)
        for handle in handles:
            handle.release(1_000_000)

    def handles(self, provider: str | None = None) -> list[PacingHandle]:
        with self._lock:
            return [h for h, _ in self._armed if provider is None or h.pacing.provider == provider]

    def take(self, provider: str, credential: str | None) -> PacingHandle | None:
        with self._lock:
            for entry in reversed(self._armed):
                handle, remaining = entry
                pacing = handle.pacing
                if pacing.provider != provider or (pacing.credential is not None and pacing.credential != credential):
                    continue
                if remaining[0] is not None:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        self._armed.remove(entry)
                return handle
            return None
