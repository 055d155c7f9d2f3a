"""/v1/responses: OpenAI's Responses API on the gateway's routing, and its stored responses."""

from __future__ import annotations

from gateway.apis.responses import service
from gateway.apis.responses.schema import ResponsesCall, ResponsesRequest
from gateway.core.errors import BadRequest
from gateway.http.resolver import (
    authenticate,
    create_app,
    handler,
    json_body,
    json_response,
    parse_model,
    request_id,
)
from gateway.http.router import Response
from gateway.http.streaming import StreamedResponse
from gateway.routing import signals as health

app = create_app()


@app.post("/v1/responses")
def create_response() -> Response | StreamedResponse:
    health.state().prefetch()  # a thawed instance re-reads shared health while the caller is authenticated
    snapshot = authenticate(app, recorded_as="responses")
    body = json_body(app)
    call = ResponsesCall(parse_model(body, ResponsesRequest, status=400), body)
    result = service.create(snapshot, call, request_id())
    if isinstance(result.body, str):
        return Response(status_code=200, content_type=result.content_type, body=result.body, headers=result.headers)
    headers = {"content-type": result.content_type, **result.headers}
    return StreamedResponse(status_code=200, headers=headers, body=result.body)


@app.get("/v1/responses/<response_id>")
def retrieve_response(response_id: str) -> Response:
    snapshot = authenticate(app)
    return json_response(200, service.retrieve(snapshot.account.account_id, response_id))


@app.delete("/v1/responses/<response_id>")
def delete_response(response_id: str) -> Response:
    snapshot = authenticate(app)
    return json_response(200, service.delete(snapshot.account.account_id, response_id))


@app.get("/v1/responses/<response_id>/input_items")
def list_input_items(response_id: str) -> Response:
    snapshot = authenticate(app)
    query = app.current_event.query_string_parameters or {}
    limit = query.get("limit", "20")
    if not limit.isdigit():
        raise BadRequest("limit must be an integer", param="limit")
    page = service.input_items(
        snapshot.account.account_id,
        response_id,
        limit=int(limit),
        order=query.get("order", "desc"),
        after=query.get("after"),
    )
    return json_response(200, page)


lambda_handler = handler(app)
