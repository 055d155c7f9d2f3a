"""The batching front every embeddings wire format shares, and the shape its answer takes.

A ``Wire`` turns one slice of the batch (at most the offer's ``max_batch`` inputs) into one upstream request and
reads one answer back into its vectors and, where the provider reports it, its input tokens. ``BatchedAdapter``
splits the batch, and joins the answers in input order, with the usage summed.
"""

from __future__ import annotations

import base64
import binascii
import math
import sys
from array import array
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.core.errors import BadRequest
from gateway.providers import Target, UnreadableResponse
from gateway.providers.transport import UpstreamRequest

Inputs = list[str] | list[list[int]]
# One embedding: float32 ('f', as OpenAI's base64 carries it) or float64 ('d', from a JSON list of numbers).
# Arrays rather than lists of floats: built, checked and turned back into JSON or base64 in C.
Vector = array
# Bytes of text per token when a provider reports no token count: the usual English rate of BPE tokenizers.
ESTIMATED_BYTES_PER_TOKEN = 4


class Wire(Protocol):
    def build(self, inputs: Inputs, request: EmbeddingsRequest, target: Target, timeout: float) -> UpstreamRequest: ...

    def parse(self, body: bytes, count: int, target: Target) -> tuple[list[Vector], int | None]:
        """``count`` vectors, in the slice's order, and the input tokens the provider reported (None: none)."""
        ...

    def error_message(self, status: int, body: bytes) -> str: ...

    def classify(self, status: int, body: bytes) -> int: ...


@dataclass(frozen=True)
class BatchedAdapter:
    wire: Wire

    def slices(self, request: EmbeddingsRequest, target: Target) -> list[Inputs]:
        inputs = request.inputs()
        size = target.offer.max_batch or len(inputs)
        return [inputs[start : start + size] for start in range(0, len(inputs), size)]

    def build_requests(self, request: EmbeddingsRequest, target: Target, *, timeout: float) -> list[UpstreamRequest]:
        return [self.wire.build(chunk, request, target, timeout) for chunk in self.slices(request, target)]

    def parse_responses(self, request: EmbeddingsRequest, target: Target, bodies: list[bytes]) -> dict[str, Any]:
        """``{"vectors": [[float, ...], ...], "usage": {"prompt_tokens", "completion_tokens"}}`` in input order."""
        slices = self.slices(request, target)
        if len(bodies) != len(slices):
            raise UnreadableResponse(f"{target.provider} answered {len(bodies)} of {len(slices)} calls")
        vectors: list[Vector] = []
        tokens = 0
        for chunk, body in zip(slices, bodies, strict=True):
            found, reported = self.wire.parse(body, len(chunk), target)
            if len(found) != len(chunk):
                raise UnreadableResponse(f"{target.provider} answered {len(found)} vectors for {len(chunk)} inputs")
            vectors.extend(found)
            tokens += estimated_tokens(chunk) if reported is None else reported
        return {"vectors": vectors, "usage": {"prompt_tokens": tokens, "completion_tokens": 0}}

    def error_message(self, status: int, body: bytes) -> str:
        return self.wire.error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return self.wire.classify(status, body)


def estimated_tokens(inputs: Inputs) -> int:
    """Input tokens of a slice whose provider reports none (Gemini's batchEmbedContents): token arrays count
    themselves; text counts ``ESTIMATED_BYTES_PER_TOKEN`` UTF-8 bytes a token, at least one per input."""
    total = 0
    for item in inputs:
        if isinstance(item, str):
            total += max(1, math.ceil(len(item.encode()) / ESTIMATED_BYTES_PER_TOKEN))
        else:
            total += len(item)
    return total


def texts(inputs: Inputs, provider: str) -> list[str]:
    """The slice as text, for a provider that takes no token ids (the codec sends token arrays elsewhere)."""
    if not all(isinstance(item, str) for item in inputs):
        raise BadRequest(f"{provider} takes text input only, not token arrays", param="input")
    return [item for item in inputs if isinstance(item, str)]


def floats(value: Any, provider: str) -> Vector:
    """One vector from an upstream answer's JSON list, checked to hold only numbers."""
    if not isinstance(value, list):
        raise UnreadableResponse(f"{provider} answered an embedding that is not a list of numbers")
    try:
        return array("d", value)
    except TypeError:
        raise UnreadableResponse(f"{provider} answered an embedding that is not a list of numbers") from None


def from_base64(value: Any, provider: str) -> Vector:
    """One vector from OpenAI's ``base64`` encoding (little-endian float32)."""
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not raw or len(raw) % 4:
        raise UnreadableResponse(f"{provider} answered an embedding that is not base64 float32")
    vector = array("f", raw)
    if sys.byteorder == "big":
        vector.byteswap()
    return vector


def to_base64(vector: Vector) -> str:
    """OpenAI's ``base64`` encoding of ``vector``: little-endian float32."""
    single = vector if vector.typecode == "f" else array("f", vector)
    if sys.byteorder == "big":
        single = array("f", single)
        single.byteswap()
    return base64.b64encode(single.tobytes()).decode("ascii")
