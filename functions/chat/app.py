"""POST /v1/chat/completions: BYOK-first routing with shared-capacity fallback."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gateway import chat
from gateway.api import authenticate, create_app, handler, json_body, parse_model, request_id
from gateway.schemas import ChatRequest

app = create_app()


@app.post("/v1/chat/completions")
def chat_completions() -> Response:
    snapshot = authenticate(app)
    request = parse_model(json_body(app), ChatRequest, status=400)
    result = chat.complete(snapshot, request, request_id())
    headers = {"cache-control": "no-cache"} if result.content_type == "text/event-stream" else {}
    if result.ignored_params:
        headers["x-gateway-ignored-params"] = ",".join(result.ignored_params)
    return Response(status_code=result.status, content_type=result.content_type, body=result.body, headers=headers)


lambda_handler = handler(app)
