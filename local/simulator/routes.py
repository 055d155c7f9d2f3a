"""Which provider and endpoint a simulator URL addresses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote


class Endpoint(Enum):
    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    VERTEX_ANTHROPIC = "vertex_anthropic"
    GEMINI = "gemini"
    BEDROCK_CONVERSE = "bedrock_converse"
    BEDROCK_INVOKE = "bedrock_invoke"
    BEDROCK_COUNT_TOKENS = "bedrock_count_tokens"
    ANTHROPIC_COUNT_TOKENS = "anthropic_count_tokens"
    OPENAI_EMBEDDINGS = "openai_embeddings"
    GEMINI_EMBED = "gemini_embed"  # batchEmbedContents / embedContent
    VERTEX_PREDICT = "vertex_predict"
    GOOGLE_TOKEN = "google_token"  # noqa: S105 - an endpoint name, not a secret


@dataclass(frozen=True)
class Route:
    provider: str
    endpoint: Endpoint | None  # None: the provider's prefix with a path it does not serve (404)
    model: str | None = None
    stream: bool = False
    method: str | None = None  # the verb after the model id's ":" (Gemini's embedContent or batchEmbedContents)


PREFIXES = {
    "openai": "openai",
    "deepseek": "deepseek",
    "anthropic": "anthropic",
    "google-ai-studio": "google-ai-studio",
    "bedrock": "amazon-bedrock",
    "vertex": "google-vertex",
    "google": "google-oauth",
}
_VERTEX_BASE = r"^/vertex/v1/projects/[^/]+/locations/[a-z0-9-]+"
_GEMINI_METHOD = r":(?P<method>generateContent|streamGenerateContent)$"
_PATTERNS: list[tuple[re.Pattern[str], str, Endpoint]] = [
    (re.compile(r"^/openai/v1/chat/completions$"), "openai", Endpoint.OPENAI_CHAT),
    (re.compile(r"^/openai/v1/embeddings$"), "openai", Endpoint.OPENAI_EMBEDDINGS),
    (
        re.compile(r"^/google-ai-studio/v1beta/models/(?P<model>[^/:]+):(?P<method>batchEmbedContents|embedContent)$"),
        "google-ai-studio",
        Endpoint.GEMINI_EMBED,
    ),
    (
        re.compile(_VERTEX_BASE + r"/publishers/google/models/(?P<model>[^/:]+):(?P<method>predict)$"),
        "google-vertex",
        Endpoint.VERTEX_PREDICT,
    ),
    (re.compile(r"^/openai/v1/responses$"), "openai", Endpoint.OPENAI_RESPONSES),
    (re.compile(r"^/deepseek(/v1)?/chat/completions$"), "deepseek", Endpoint.OPENAI_CHAT),
    (re.compile(r"^/anthropic/v1/messages$"), "anthropic", Endpoint.ANTHROPIC_MESSAGES),
    (re.compile(r"^/anthropic/v1/messages/count_tokens$"), "anthropic", Endpoint.ANTHROPIC_COUNT_TOKENS),
    (
        re.compile(r"^/google-ai-studio/v1beta/models/(?P<model>[^/:]+)" + _GEMINI_METHOD),
        "google-ai-studio",
        Endpoint.GEMINI,
    ),
    (
        re.compile(_VERTEX_BASE + r"/publishers/google/models/(?P<model>[^/:]+)" + _GEMINI_METHOD),
        "google-vertex",
        Endpoint.GEMINI,
    ),
    (
        re.compile(
            _VERTEX_BASE + r"/publishers/anthropic/models/(?P<model>[^/:]+):(?P<method>rawPredict|streamRawPredict)$"
        ),
        "google-vertex",
        Endpoint.VERTEX_ANTHROPIC,
    ),
    (
        re.compile(_VERTEX_BASE + r"/endpoints/openapi/chat/completions$"),
        "google-vertex",
        Endpoint.OPENAI_CHAT,
    ),
    (re.compile(r"^/google/token$"), "google-oauth", Endpoint.GOOGLE_TOKEN),
]
# Bedrock model ids are matched before decoding: an ARN's encoded slashes must stay inside the segment.
_BEDROCK = re.compile(
    r"^/bedrock/model/(?P<model>[^/]+)/(?P<method>converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$"
)
_BEDROCK_ENDPOINTS = {
    "converse": Endpoint.BEDROCK_CONVERSE,
    "converse-stream": Endpoint.BEDROCK_CONVERSE,
    "invoke": Endpoint.BEDROCK_INVOKE,
    "invoke-with-response-stream": Endpoint.BEDROCK_INVOKE,
    "count-tokens": Endpoint.BEDROCK_COUNT_TOKENS,
}


def match_route(method: str, raw_path: str) -> Route | None:
    """The route for a POST to `raw_path` (still percent-encoded); None when no provider prefix matches."""
    provider = PREFIXES.get(raw_path.strip("/").split("/", 1)[0])
    if provider is None:
        return None
    if method != "POST":
        return Route(provider, None)
    bedrock = _BEDROCK.match(raw_path)
    if bedrock:
        return Route(
            provider,
            _BEDROCK_ENDPOINTS[bedrock["method"]],
            unquote(bedrock["model"]),
            bedrock["method"] in {"converse-stream", "invoke-with-response-stream"},
        )
    path = unquote(raw_path)
    for pattern, pattern_provider, endpoint in _PATTERNS:
        found = pattern.match(path)
        if found:
            groups = found.groupdict()
            stream = groups.get("method") in {"streamGenerateContent", "streamRawPredict"}
            return Route(pattern_provider, endpoint, groups.get("model"), stream, groups.get("method"))
    return Route(provider, None)
