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
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog import Offer
from gateway.credentials import ApiKeyCredentials, AwsCredentials, ServiceAccountCredentials
from gateway.messages_schema import GATEWAY_FIELDS, MessagesCall
from gateway.providers import bedrock, common, endpoints
from gateway.providers.anthropic import ANTHROPIC_VERSION, VERTEX_ANTHROPIC_VERSION, AnthropicAdapter
from gateway.providers.base import AttemptFailed, Target, UnreadableResponse
from gateway.providers.sse import SseEvent, SseParser
from gateway.transport import UpstreamRequest

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
BETA_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,99}$")
# Cross-region inference profiles prefix a foundation model id; CountTokens takes the foundation model.
BEDROCK_PROFILE_PREFIX = re.compile(r"^(?:global|us|eu|apac|jp|au|ca|us-gov)\.(?=anthropic\.)")
BEDROCK_EXTRA_KEY = "amazon-bedrock-invocationMetrics"
EVENT_TYPES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
    }
)


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
            from gateway.errors import BadRequest

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


def tokens(usage: Any) -> dict[str, int]:
    """Anthropic usage as the routing core counts it: every input token is a prompt token, the ones read from
    and written to the cache named apart (they are priced apart)."""
    read = common.int_field(usage, "cache_read_input_tokens")
    written = common.int_field(usage, "cache_creation_input_tokens")
    prompt = common.int_field(usage, "input_tokens") + read + written
    return common.usage_dict(
        prompt, common.int_field(usage, "output_tokens"), cached_tokens=read, cache_write_tokens=written
    )


@dataclass
class ClaudeEvents:
    """Checks Anthropic stream events, keeps their usage, and tells when the message is complete."""

    provider: str
    usage: dict[str, int] | None = None
    anthropic_usage: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False

    def event(self, payload: Any) -> list[dict[str, Any]]:
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise UnreadableResponse(f"{self.provider} stream event is not an Anthropic event")
        kind = payload["type"]
        if kind == "error":
            error_type = common.as_dict(payload.get("error")).get("type")
            label = error_type if isinstance(error_type, str) and error_type.isidentifier() else "error"
            status = 429 if label == "rate_limit_error" else 529 if label == "overloaded_error" else 502
            raise AttemptFailed(f"{self.provider} reported {label} mid-stream", status_code=status)
        if kind not in EVENT_TYPES:
            return []  # an event type newer than this gateway: skipped, as the SDKs skip unknown events
        payload = {k: v for k, v in payload.items() if k != BEDROCK_EXTRA_KEY}
        if kind == "message_start":
            usage = common.as_dict(common.as_dict(payload.get("message")).get("usage"))
            self.anthropic_usage = dict(usage)
        elif kind == "message_delta":
            self.anthropic_usage.update(common.as_dict(payload.get("usage")))
        elif kind == "message_stop":
            self.stopped = True
        if kind in ("message_start", "message_delta"):
            self.usage = tokens(self.anthropic_usage)
        return [payload]

    def finish(self) -> None:
        if not self.stopped:
            raise UnreadableResponse(f"{self.provider} stream ended before message_stop")


@dataclass
class SseEventsDecoder:
    """Anthropic's and Vertex's ``text/event-stream`` -> Anthropic events."""

    provider: str
    _events: ClaudeEvents = field(init=False)
    _sse: SseParser = field(default_factory=SseParser)

    def __post_init__(self) -> None:
        self._events = ClaudeEvents(self.provider)

    @property
    def usage(self) -> dict[str, int] | None:
        return self._events.usage

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return [out for event in self._sse.feed(data) for out in self._event(event)]

    def close(self) -> list[dict[str, Any]]:
        events = [out for event in self._sse.close() for out in self._event(event)]
        self._events.finish()
        return events

    def _event(self, event: SseEvent) -> list[dict[str, Any]]:
        if not event.data.strip():
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            raise UnreadableResponse(f"{self.provider} stream event is not JSON") from None
        return self._events.event(payload)


@dataclass
class BedrockEventsDecoder:
    """InvokeModelWithResponseStream frames -> Anthropic events: each ``chunk`` event's ``bytes`` is one
    base64-encoded Anthropic event; exception frames fail the attempt with the status Bedrock gives them."""

    provider: str
    _events: ClaudeEvents = field(init=False)
    _buffer: Any = None

    def __post_init__(self) -> None:
        self._events = ClaudeEvents(self.provider)

    @property
    def usage(self) -> dict[str, int] | None:
        return self._events.usage

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        from botocore.eventstream import EventStreamBuffer, ParserError

        if self._buffer is None:
            self._buffer = EventStreamBuffer()
        self._buffer.add_data(data)
        events: list[dict[str, Any]] = []
        try:
            for message in self._buffer:
                events.extend(self._frame(message.headers, message.payload))
        except ParserError:
            raise UnreadableResponse(f"{self.provider} stream frame is corrupt") from None
        return events

    def close(self) -> list[dict[str, Any]]:
        if self._buffer is not None and bytes(getattr(self._buffer, "_data", b"")):
            raise UnreadableResponse(f"{self.provider} stream ended inside a frame")
        self._events.finish()
        return []

    def _frame(self, headers: dict[str, Any], payload: bytes) -> list[dict[str, Any]]:
        if headers.get(":message-type", "event") != "event":
            name = headers.get(":exception-type") or headers.get(":error-code") or "error"
            name = name if isinstance(name, str) and name.isidentifier() else "error"
            status = bedrock.EXCEPTION_STATUS.get(name, 502)
            raise AttemptFailed(f"{self.provider} stream {name}", status_code=status)
        if headers.get(":event-type") != "chunk":
            return []
        try:
            part = json.loads(payload)
            event = json.loads(base64.b64decode(common.as_dict(part).get("bytes") or "", validate=True))
        except (ValueError, binascii.Error):
            raise UnreadableResponse(f"{self.provider} stream chunk is not a base64 Anthropic event") from None
        return self._events.event(event)


@dataclass(frozen=True)
class ClaudeAdapter:
    """The Adapter surface of the routing loop for a Messages request to a Claude target on ``provider``."""

    provider: str

    def build_request(self, call: MessagesCall, target: Target, *, stream: bool, timeout: float) -> UpstreamRequest:
        return build_request(call, target, stream=stream, timeout=timeout)

    def parse_response(self, call: MessagesCall, target: Target, body: bytes) -> dict[str, Any]:
        return parse_message(target, body)

    def stream_decoder(self, call: MessagesCall, target: Target) -> SseEventsDecoder | BedrockEventsDecoder:
        if target.provider == "amazon-bedrock":
            return BedrockEventsDecoder(target.provider)
        return SseEventsDecoder(target.provider)

    def error_message(self, status: int, body: bytes) -> str:
        return self._errors().error_message(status, body)

    def classify(self, status: int, body: bytes) -> int:
        return self._errors().classify(status, body)

    def _errors(self) -> AnthropicAdapter | bedrock.BedrockAdapter:
        if self.provider == "amazon-bedrock":
            return bedrock.BedrockAdapter()
        return AnthropicAdapter(vertex=self.provider == "google-vertex")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
