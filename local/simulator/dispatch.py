"""From a routed call to what the simulator does: inject a fault, reject, or answer as the provider."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from local.simulator import (
    anthropic_format,
    bedrock_format,
    claude_hosts,
    embeddings,
    gemini_format,
    google_oauth,
    openai_format,
    responses_format,
)
from local.simulator.auth import authenticate, claimed_credential
from local.simulator.credentials import CredentialStore
from local.simulator.errors import provider_error
from local.simulator.faults import Fault, FaultBook, spelled
from local.simulator.inflight import CallsInFlight
from local.simulator.pacing import PacingBook, PacingHandle
from local.simulator.routes import Endpoint, Route
from local.simulator.wire import Call, Reply

DEDICATED_HEADER = "x-vertex-ai-llm-request-type"
ECHOED_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "x-amz-security-token")
GARBAGE_BODY = b'{"id": "chatcmpl-broken", "choices": [ <<upstream truncated'
HTML_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"


class Delivery(Enum):
    ANSWER = "answer"
    RESET = "reset"  # close with a TCP reset, nothing sent
    CLOSE = "close"  # close cleanly, nothing sent
    CUT = "cut"  # send the headers and part of the body, then close


@dataclass
class Outcome:
    reply: Reply | None
    credential: str | None
    delivery: Delivery = Delivery.ANSWER
    pacing: PacingHandle | None = None


@dataclass
class Dispatcher:
    store: CredentialStore
    faults: FaultBook
    pacings: PacingBook
    token_uri: str
    parking: CallsInFlight

    def dispatch(self, route: Route, call: Call) -> Outcome:
        if route.endpoint is None:
            return Outcome(provider_error(route.provider, 404, f"Not found: {call.method} {call.path}"), None)
        if route.provider == "google-ai-studio" and "key" in call.query:
            message = "API keys are not accepted as a query parameter by this simulator: send x-goog-api-key."
            return Outcome(gemini_format.error_reply(400, message), None)
        claimed = claimed_credential(route.provider, call, self.store)
        dedicated = (call.header(DEDICATED_HEADER) or "").lower() == "dedicated"
        fault = self.faults.take(route.provider, claimed, dedicated)
        if fault is None:
            return self._answer(route, call)
        if fault.delay:
            self.parking.park(fault.delay)
        return self._inject(fault, route, call, claimed)

    def _inject(self, fault: Fault, route: Route, call: Call, claimed: str | None) -> Outcome:
        if fault.mode in ("timeout", "slow"):
            return self._answer(route, call)
        if fault.mode == "refuse":
            return Outcome(None, claimed, Delivery.RESET)
        if fault.mode == "drop":
            return Outcome(None, claimed, Delivery.CLOSE)
        if fault.mode == "drop_mid_body":
            outcome = self._answer(route, call)
            outcome.delivery = Delivery.CUT
            return outcome
        if fault.mode == "garbage":
            return Outcome(Reply(status=200, body=GARBAGE_BODY), claimed)
        if fault.mode == "wrong_content_type":
            return Outcome(Reply(status=200, content_type="text/html; charset=utf-8", body=HTML_PAGE), claimed)
        reply = provider_error(route.provider, fault.answer_status, _fault_message(fault, call))
        if fault.body is not None:
            reply.body = fault.body.encode()
        if fault.retry_after is not None:
            reply.headers["retry-after"] = fault.retry_after
        return Outcome(reply, claimed)

    def _answer(self, route: Route, call: Call) -> Outcome:
        if route.endpoint is Endpoint.GOOGLE_TOKEN:
            token = google_oauth.handle_token_request(call, self.store, self.token_uri)
            return Outcome(token.reply, token.client_email if token.reply.status == 200 else None)
        auth = authenticate(route.provider, call, self.store)
        if auth.error is not None:
            return Outcome(auth.error, None)
        pacing = self.pacings.take(route.provider, auth.credential)
        reply = self._model_reply(route, call, pacing)
        return Outcome(reply, auth.credential, pacing=pacing if reply.stream is not None else None)

    def _model_reply(self, route: Route, call: Call, pacing: PacingHandle | None) -> Reply:
        model = route.model or ""
        if route.endpoint is Endpoint.OPENAI_CHAT:
            return openai_format.handle_chat(call.json, route.provider, pacing)
        if route.endpoint is Endpoint.OPENAI_RESPONSES:
            return responses_format.handle_responses(call.json, pacing)
        if route.endpoint is Endpoint.ANTHROPIC_MESSAGES:
            if not call.header("anthropic-version"):
                return anthropic_format.error_reply(400, "anthropic-version: header is required")
            return anthropic_format.handle_messages(call.json, route.provider, pacing=pacing)
        if route.endpoint is Endpoint.ANTHROPIC_COUNT_TOKENS:
            if not call.header("anthropic-version"):
                return anthropic_format.error_reply(400, "anthropic-version: header is required")
            return claude_hosts.handle_count_tokens(call.json, route.provider)
        if route.endpoint is Endpoint.VERTEX_ANTHROPIC and model == "count-tokens":
            return claude_hosts.handle_count_tokens(call.json, route.provider)
        if route.endpoint is Endpoint.VERTEX_ANTHROPIC:
            return anthropic_format.handle_messages(call.json, route.provider, model, route.stream, pacing)
        if route.endpoint is Endpoint.OPENAI_EMBEDDINGS:
            return embeddings.handle_openai(call.json)
        if route.endpoint is Endpoint.GEMINI_EMBED and route.method == "embedContent":
            return embeddings.handle_gemini_single(call.json, model)
        if route.endpoint is Endpoint.GEMINI_EMBED:
            return embeddings.handle_gemini_batch(call.json, model)
        if route.endpoint is Endpoint.VERTEX_PREDICT:
            return embeddings.handle_vertex_predict(call.json, model)
        if route.endpoint is Endpoint.BEDROCK_INVOKE and model.startswith("amazon.titan-embed"):
            return embeddings.handle_titan(call.json)
        if route.endpoint is Endpoint.BEDROCK_INVOKE and model.startswith("cohere.embed"):
            return embeddings.handle_cohere(call.json)
        if route.endpoint is Endpoint.BEDROCK_INVOKE:
            return claude_hosts.handle_bedrock_invoke(call.json, model, route.stream, pacing)
        if route.endpoint is Endpoint.BEDROCK_COUNT_TOKENS:
            return claude_hosts.handle_bedrock_count_tokens(call.json, model)
        if route.endpoint is Endpoint.GEMINI:
            sse = call.query.get("alt") == "sse"
            return gemini_format.handle_generate(call.json, route.provider, model, route.stream, sse, pacing)
        return bedrock_format.handle_converse(call.json, model, route.stream, pacing)


def _fault_message(fault: Fault, call: Call) -> str:
    if fault.message is not None:
        message = fault.message
    elif fault.dedicated_only:
        message = "Provisioned throughput exhausted for this request (X-Vertex-AI-LLM-Request-Type: dedicated)."
    else:
        message = f"Simulated upstream failure ({fault.answer_status})."
    if fault.echo_credentials:
        sent = [f"{name}: {spelled(value, fault.echo_form)}" for name in ECHOED_HEADERS if (value := call.header(name))]
        message += " Credentials received: " + "; ".join(sent)
    return message
