"""POST /v1/embeddings: OpenAI's embeddings API on the gateway's BYOK-first routing."""

from __future__ import annotations

from gateway.apis.embeddings import service
from gateway.apis.embeddings.schema import EmbeddingsRequest
from gateway.http.resolver import authenticate, create_app, handler, json_body, parse_model, request_id
from gateway.http.router import Response
from gateway.routing import signals as health

app = create_app()


@app.post("/v1/embeddings")
def create_embeddings() -> Response:
    health.state().prefetch()  # a thawed instance re-reads shared health while the caller is authenticated
    snapshot = authenticate(app, recorded_as="embeddings")
    request = parse_model(json_body(app), EmbeddingsRequest, status=400)
    result = service.create(snapshot, request, request_id())
    return Response(status_code=200, content_type="application/json", body=result.body, headers=result.headers)


lambda_handler = handler(app)
