"""POST /v1/chat/completions: BYOK-first routing with shared-capacity fallback."""

from __future__ import annotations

from gateway.apis.chat import service as chat
from gateway.apis.chat.schema import ChatRequest
from gateway.http.resolver import authenticate, create_app, handler, json_body, parse_model, request_id
from gateway.http.router import Response
from gateway.http.streaming import StreamedResponse
from gateway.routing import signals as health

app = create_app()


@app.post("/v1/chat/completions")
def chat_completions() -> Response | StreamedResponse:
    health.state().prefetch()  # a thawed instance re-reads shared health while the caller is authenticated
    snapshot = authenticate(app, recorded_as="chat")
    request = parse_model(json_body(app), ChatRequest, status=400)
    result = chat.complete(snapshot, request, request_id())
    headers = dict(result.headers)
    if result.ignored_params:
        headers["x-gateway-ignored-params"] = ",".join(result.ignored_params)
    if isinstance(result.body, str):
        return Response(status_code=result.status, content_type=result.content_type, body=result.body, headers=headers)
    return StreamedResponse(result.status, {"content-type": result.content_type, **headers}, result.body)


lambda_handler = handler(app)
