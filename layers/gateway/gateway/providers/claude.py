"""Claude with the Anthropic body kept intact: Anthropic's Messages API, Bedrock InvokeModel, Vertex rawPredict.

A Messages request for a Claude model is not translated: the client's body goes upstream as written (minus the
gateway's routing fields), so ``cache_control``, thinking blocks and their signatures, tools and betas survive.
Each host only places the model and the version differently:

- ``anthropic``: ``POST {base}/messages`` with ``model`` in the body, ``anthropic-version`` and ``anthropic-beta``
  headers.
- ``amazon-bedrock``: ``POST {base}/model/{id}/invoke`` (or ``invoke-with-response-stream``), no ``model`` or
  ``stream`` in the body, ``anthropic_version: bedrock-2023-05-31`` and betas as ``anthropic_beta`` in the body;
  the stream is AWS event-stream frames whose ``chunk`` events carry base64 Anthropic events.
- ``google-vertex``: ``.../publishers/anthropic/models/{id}:rawPredict`` (or ``:streamRawPredict``), no ``model``
  in the body, ``anthropic_version: vertex-2023-10-16``.

Fields and content blocks the gateway does not know go upstream as written (Anthropic judges them). ``system``-role
turns stay in ``messages`` for models that take them (``Offer.system_turns``: Claude Opus 4.8 and later) and are
folded into the top-level ``system`` for the others, in order.

Answers come back as Anthropic shapes (the ``message`` object, the event stream's events as dicts); the decoders
only check them, note usage and drop host-specific extras.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.apis.messages.schema import GATEWAY_FIELDS, MessagesCall
from gateway.core.catalog import Offer
from gateway.providers import common, endpoints
from gateway.providers.anthropic import ANTHROPIC_VERSION, VERTEX_ANTHROPIC_VERSION, AnthropicAdapter
from gateway.providers.base import AttemptFailed, Target, UnreadableResponse
from gateway.providers.transport import UpstreamRequest
from gateway.providers.wire.anthropic_events import AnthropicEvents
from gateway.security.credentials import ApiKeyCredentials, AwsCredentials, ServiceAccountCredentials

if TYPE_CHECKING:  # Bedrock's module is imported by the requests that go there, not by every Messages cold start
    from gateway.providers.bedrock import BedrockAdapter

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
BETA_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,99}$")
# Cross-region inference profiles prefix a foundation model id; CountTokens takes the foundation model.
BEDROCK_PROFILE_PREFIX = re.compile(r"^(?:global|us|eu|apac|jp|au|ca|us-gov)\.(?=anthropic\.)")


def is_claude(target: Target) -> bool:
    """Whether ``target`` serves a Claude model that takes the Anthropic body as is."""
    return is_claude_offer(target.offer)


def is_claude_offer(offer: Offer) -> bool:
    if offer.family == "anthropic":
        return True
    model = offer.model_id
    return offer.slug == "amazon-bedrock" and (model.startswith("anthropic.") or ".anthropic." in model)


def parse_betas(header: str | None) -> tuple[str, ...]:
    """The ``anthropic-beta`` header's flags; a malformed flag is refused rather than forwarded."""
    if not header:
        return ()
    flags = tuple(flag.strip() for flag in header.split(",") if flag.strip())
    for flag in flags:
        if not BETA_RE.fullmatch(flag):
            from gateway.core.errors import BadRequest

            raise BadRequest(
                "anthropic-beta: each flag must be a lowercase name such as 'interleaved-thinking-2025-05-14'"
            )
    return flags


def _vertex_url(target: Target, verb: str, model: str) -> str:
    credentials = target.credentials
    if not isinstance(credentials, ServiceAccountCredentials):
        raise AttemptFailed("google-vertex needs a service-account credential")
    base = endpoints.vertex_project_path(credentials.project_id, target.region)
    return f"{base}/publishers/anthropic/models/{model}:{verb}"


def _vertex_token(target: Target, timeout: float) -> str:
    from gateway.providers import google_oauth

    assert isinstance(target.credentials, ServiceAccountCredentials)
    return google_oauth.access_token(target.credentials, timeout, owner=target.owner)


def _bedrock_auth(url: str, content: bytes, headers: dict[str, str], target: Target) -> dict[str, str]:
    credentials = target.credentials
    if isinstance(credentials, ApiKeyCredentials):
        return {**headers, "authorization": f"Bearer {credentials.api_key.get_secret_value()}"}
    if isinstance(credentials, AwsCredentials):
        from gateway.providers import bedrock

        return bedrock._sigv4(url, content, headers, credentials, target.region or "")
    raise AttemptFailed("amazon-bedrock needs an API key or AWS credentials")


def _anthropic_headers(target: Target, betas: tuple[str, ...], stream: bool) -> dict[str, str]:
    if not isinstance(target.credentials, ApiKeyCredentials):
        raise AttemptFailed("anthropic needs an API key credential")
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "x-api-key": target.credentials.api_key.get_secret_value(),
        "anthropic-version": ANTHROPIC_VERSION,
    }
    if betas:
        headers["anthropic-beta"] = ",".join(betas)
    return headers


def upstream_body(call: MessagesCall, offer: Offer) -> dict[str, Any]:
    """The client's body for a Claude host: without the gateway's fields and ``model`` (each host places the
    model itself), ``system``-role turns folded into ``system`` unless the model takes them."""
    body = {k: v for k, v in call.body.items() if k not in GATEWAY_FIELDS and k != "model"}
    turns = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "system"]
    if not turns or offer.system_turns:
        return body
    system = _text_blocks(body.get("system"))
    for turn in turns:
        system += _text_blocks(turn.get("content"))
    body["system"] = system
    body["messages"] = [m for m in body["messages"] if not (isinstance(m, dict) and m.get("role") == "system")]
    return body


def _text_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [block for block in content or [] if isinstance(block, dict) and block.get("type") == "text"]


def build_request(call: MessagesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
    body = upstream_body(call, target.offer)
    if target.provider == "anthropic":
        endpoints.model_segment(target.offer.model_id)
        content = {"model": target.offer.model_id, **body, **({"stream": True} if stream else {})}
        url = f"{endpoints.base_url('anthropic')}/messages"
        return UpstreamRequest("POST", url, _anthropic_headers(target, call.betas, stream), _json(content))
    if target.provider == "google-vertex":
        model = endpoints.vertex_model_segment(target.offer.model_id)
        url = _vertex_url(target, "streamRawPredict" if stream else "rawPredict", model)
        content = {**body, "anthropic_version": VERTEX_ANTHROPIC_VERSION, **({"stream": True} if stream else {})}
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "authorization": f"Bearer {_vertex_token(target, timeout)}",
        }
        if call.betas:
            headers["anthropic-beta"] = ",".join(call.betas)
        return UpstreamRequest("POST", url, headers, _json(content))
    if target.provider == "amazon-bedrock":
        base = endpoints.bedrock_base(target.region)
        model = endpoints.model_segment(target.offer.model_id)
        url = f"{base}/model/{model}/{'invoke-with-response-stream' if stream else 'invoke'}"
        content = {**body, "anthropic_version": BEDROCK_ANTHROPIC_VERSION}
        if call.betas:
            content["anthropic_beta"] = list(call.betas)
        raw = _json(content)
        headers = {
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream" if stream else "application/json",
        }
        return UpstreamRequest("POST", url, _bedrock_auth(url, raw, headers, target), raw)
    raise AttemptFailed(f"{target.provider} cannot serve Claude with the Anthropic body")


def build_count_request(call: MessagesCall, target: Target, *, timeout: float) -> UpstreamRequest:
    """Token counting for ``call`` on ``target``: Anthropic's and Vertex's count_tokens, Bedrock's CountTokens."""
    body = upstream_body(call, target.offer)
    if target.provider == "anthropic":
        endpoints.model_segment(target.offer.model_id)
        url = f"{endpoints.base_url('anthropic')}/messages/count_tokens"
        content = {"model": target.offer.model_id, **body}
        return UpstreamRequest("POST", url, _anthropic_headers(target, call.betas, False), _json(content))
    if target.provider == "google-vertex":
        endpoints.model_segment(target.offer.model_id)
        url = _vertex_url(target, "rawPredict", "count-tokens")
        content = {**body, "anthropic_version": VERTEX_ANTHROPIC_VERSION, "model": target.offer.model_id}
        headers = {"content-type": "application/json", "authorization": f"Bearer {_vertex_token(target, timeout)}"}
        return UpstreamRequest("POST", url, headers, _json(content))
    if target.provider == "amazon-bedrock":
        base = endpoints.bedrock_base(target.region)
        foundation = BEDROCK_PROFILE_PREFIX.sub("", target.offer.model_id)
        model = endpoints.model_segment(foundation)
        url = f"{base}/model/{model}/count-tokens"
        # CountTokens takes the InvokeModel body (max_tokens included), base64-encoded as a blob.
        invoke = {"max_tokens": 1, **body, "anthropic_version": BEDROCK_ANTHROPIC_VERSION}
        encoded = base64.b64encode(_json(invoke)).decode("ascii")
        raw = _json({"input": {"invokeModel": {"body": encoded}}})
        headers = {"content-type": "application/json", "accept": "application/json"}
        return UpstreamRequest("POST", url, _bedrock_auth(url, raw, headers, target), raw)
    raise AttemptFailed(f"{target.provider} cannot count tokens for Claude")


def parse_count(target: Target, body: bytes) -> int:
    data = common.load_json_object(body, target.provider)
    key = "inputTokens" if target.provider == "amazon-bedrock" else "input_tokens"
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnreadableResponse(f"{target.provider} token count has no {key}")
    return value


def parse_message(target: Target, body: bytes) -> dict[str, Any]:
    data = common.load_json_object(body, target.provider)
    if data.get("type") != "message" or not isinstance(data.get("content"), list):
        raise UnreadableResponse(f"{target.provider} response is not an Anthropic message")
    if any(not isinstance(block, dict) or not isinstance(block.get("type"), str) for block in data["content"]):
        raise UnreadableResponse(f"{target.provider} response has a malformed content block")
    return data


@dataclass(frozen=True)
class ClaudeAdapter:
    """The Adapter surface of the routing loop for a Messages request to a Claude target on ``provider``."""

    provider: str

    def build_request(self, call: MessagesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        return build_request(call, target, stream=stream, timeout=timeout)

    def parse_response(self, call: MessagesCall, target: Target, body: bytes) -> dict[str, Any]:
        return parse_message(target, body)

    def stream_decoder(self, call: MessagesCall, target: Target) -> AnthropicEvents:
        return AnthropicEvents(target.provider, bedrock=target.provider == "amazon-bedrock")

    def error_message(self, status: int, body: bytes) -> str:
        return self._errors().error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return self._errors().classify(status, body)

    def _errors(self) -> AnthropicAdapter | BedrockAdapter:
        if self.provider == "amazon-bedrock":
            from gateway.providers.bedrock import BedrockAdapter

            return BedrockAdapter()
        return AnthropicAdapter(vertex=self.provider == "google-vertex")


@dataclass(frozen=True)
class CountTokensAdapter(ClaudeAdapter):
    """Token counting on a Claude host as an attempt of the routing core: the host's count request in,
    ``{"input_tokens"}`` out; error answers read as the host's Messages errors."""

    def build_request(self, call: MessagesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        return build_count_request(call, target, timeout=timeout)

    def parse_response(self, call: MessagesCall, target: Target, body: bytes) -> dict[str, Any]:
        return {"input_tokens": parse_count(target, body)}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
