"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API on the gateway's routing."""

from __future__ import annotations

import json

from gateway.apis.messages import service as messages
from gateway.apis.messages.schema import CountTokensRequest, MessagesCall, MessagesRequest
from gateway.http.resolver import authenticate, create_app, handler, json_body, parse_model, request_id
from gateway.http.router import Response
from gateway.http.streaming import StreamedResponse
from gateway.providers.claude import parse_betas
from gateway.routing import signals

app = create_app(error_shape=messages.error_body)


def _call(model: type[MessagesRequest] | type[CountTokensRequest]) -> MessagesCall:
    body = json_body(app)
    request = parse_model(body, model, status=400)
    return MessagesCall(request, body, parse_betas(app.current_event.headers.get("anthropic-beta")))


@app.post("/v1/messages")
def create_message() -> Response | StreamedResponse:
    signals.state().prefetch()  # a thawed instance re-reads shared health while the caller is authenticated
    snapshot = authenticate(app, api_key_header="x-api-key", recorded_as="messages")
    result = messages.create(snapshot, _call(MessagesRequest), request_id())
    if isinstance(result.body, str):
        return Response(status_code=200, content_type=result.content_type, body=result.body, headers=result.headers)
    headers = {"content-type": result.content_type, **result.headers}
    return StreamedResponse(status_code=200, headers=headers, body=result.body)


@app.post("/v1/messages/count_tokens")
def count_tokens() -> Response:
    snapshot = authenticate(app, api_key_header="x-api-key", recorded_as="messages")
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps(messages.count_tokens(snapshot, _call(CountTokensRequest), request_id())),
    )


lambda_handler = handler(app)
