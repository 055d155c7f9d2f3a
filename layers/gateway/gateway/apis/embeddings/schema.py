"""The embeddings request: OpenAI's body plus the gateway's ``provider`` routing object and ``task_type``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.apis.chat.schema import ModelId, ProviderPreferences, _Strict

Tokens = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class EmbeddingsRequest(_Strict):
    model: ModelId
    # A string, a list of strings, one token array, or a list of token arrays (OpenAI's four shapes).
    input: str | Annotated[list[str], Field(min_length=1)] | Tokens | Annotated[list[Tokens], Field(min_length=1)]
    dimensions: Annotated[int, Field(ge=1)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: Annotated[str, Field(max_length=512)] | None = None
    provider: ProviderPreferences | None = None
    # Gemini's task type (RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, SEMANTIC_SIMILARITY, ...), sent to Google as is;
    # a hint elsewhere (dropped and named in x-gateway-ignored-params).
    task_type: Annotated[str, Field(pattern=r"^[A-Z_]{1,64}$")] | None = None

    # What the routing core reads of every request (``gateway.routing.engine.RoutedRequest``): no fallback models, never
    # streamed.
    @property
    def models(self) -> None:
        return None

    @property
    def stream(self) -> bool:
        return False

    def model_chain(self) -> list[str]:
        return [self.model]

    def inputs(self) -> list[str] | list[list[int]]:
        """The inputs, one per vector of the answer, in order."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if isinstance(value[0], int):
            return [value]  # one token array
        return value

    @property
    def tokens(self) -> bool:
        """The input is token arrays (only providers that take token ids can serve it)."""
        return not isinstance(self.input, str) and not isinstance(self.input[0], str)
