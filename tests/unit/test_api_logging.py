"""Log keys are per invocation: a warm process never labels a request with the previous caller's account."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.core.observability import logger
from gateway.http.resolver import authenticate, create_app, handler
from tests.conftest import CurrentStdout, Gateway


def event(api_key: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return {
        "resource": "/probe",
        "path": "/probe",
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": "apigw", "stage": "test", "resourcePath": "/probe", "httpMethod": "GET"},
        "body": None,
        "isBase64Encoded": False,
    }


def test_log_keys_do_not_leak_from_one_invocation_to_the_next(
    gateway: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    app = create_app()

    @app.get("/probe")
    def probe() -> dict[str, str]:
        try:
            authenticate(app)
        finally:
            logger.info("probe")
        return {"ok": "yes"}

    lambda_handler = handler(app)
    first = lambda_handler(event(gateway.api_key), None)
    second = lambda_handler(event(None), None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"probe"' in line]

    assert [line["message"] for line in lines] == ["probe", "probe"]
    assert lines[0]["account_id"] == gateway.customer.account_id
    assert "account_id" not in lines[1]
    assert lines[0]["correlation_id"] == first["multiValueHeaders"]["x-request-id"][0]
    assert lines[1]["correlation_id"] == second["multiValueHeaders"]["x-request-id"][0]
    assert second["statusCode"] == 401


def test_a_secret_pasted_as_a_field_name_is_not_repeated_in_the_error() -> None:
    from pydantic import BaseModel, ConfigDict, ValidationError

    from gateway.http.resolver import validation_message

    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = ""

    pasted = "sk-proj-Qx81hZlJv0Tt2mJdS4YbE3fWkLr9"
    try:
        Body.model_validate({pasted: 1, "nmae": "typo"})
    except ValidationError as exc:
        message, param = validation_message(exc)
    assert pasted not in message and pasted != param
    assert "nmae" in message and "(unnamed field)" in message


def test_a_streamed_body_logs_under_its_own_request(stdout_lines: Any) -> None:
    # Given a route whose answer is streamed: its body runs after the handler has returned
    from gateway.http.streaming import StreamedResponse

    app = create_app()

    def body() -> Any:
        logger.info("streaming")
        yield b"data: 1\n\n"

    app.get("/probe")(lambda: StreamedResponse(200, {}, body()))
    streamed = handler(app)(event(None), None)
    assert isinstance(streamed, StreamedResponse)

    # When the body is sent
    list(streamed.body)

    # Then its log line carries the request's correlation id, the one its answer carries
    (line,) = [line for line in stdout_lines() if line.get("message") == "streaming"]
    assert line["correlation_id"] == streamed.headers["x-request-id"]
