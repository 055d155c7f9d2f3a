"""Request logs without AWS: attempt log lines and metrics, lost table writes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gateway.core.errors import BadRequest
from gateway.data import request_log as logs
from gateway.data.request_log import AttemptRecord, RequestRecord
from gateway.routing import telemetry
from gateway.security.redact import redact

REQUEST_ID = "req_019a2b3c4d5e0123456789abcdef"
ACCOUNT_ID = "acct_00000000000000aa"
OPENAI_KEY = "sk-proj-Xq7Lm2Pz9Rt4Vn8Kc3Wd6Hb1Jf5Gs0Ya2Ue7Io4"
AWS_ACCESS_KEY = "AKIA3EXAMPLE7Q2LZ5WX"


def emf_metrics(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """EMF blobs by metric name: namespace, unit, dimension names and values, and the value."""
    found: dict[str, dict[str, Any]] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                dimension_names = directive["Dimensions"][0]
                [value] = line[metric["Name"]]  # one value per blob: single_metric
                found[metric["Name"]] = {
                    "namespace": directive["Namespace"],
                    "unit": metric["Unit"],
                    "dimensions": {name: line[name] for name in dimension_names},
                    "value": value,
                }
    return found


def log_lines(lines: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == message]


def attempt(**fields: Any) -> AttemptRecord:
    values: dict[str, Any] = {
        "attempt": 1,
        "provider": "amazon-bedrock",
        "credential": "byok",
        "key_id": "key_0123456789abcdef01234567",
        "status_code": 200,
        "outcome": "success",
        "error": None,
        "latency_ms": 840,
        "model": "anthropic/claude-sonnet-4.5",
    }
    values.update(fields)
    return AttemptRecord(**values)


def request_record(**fields: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "request_id": REQUEST_ID,
        "account_id": ACCOUNT_ID,
        "created_at": "2026-02-03T04:05:06.789Z",
        "model": "anthropic/claude-sonnet-4.5",
        "provider": "anthropic",
        "is_byok": False,
        "status": "success",
        "http_status": 200,
        "latency_ms": 1234,
        "prompt_tokens": 17,
        "completion_tokens": 42,
        "cost": Decimal("0.000681"),
        "stream": True,
        "attempts": [
            attempt(
                outcome="error",
                status_code=403,
                # as run_attempt hands it over: redacted once, at the source
                error=redact(
                    "403 from https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse "
                    f"Credential={AWS_ACCESS_KEY}/20260203/us-east-1/bedrock/aws4_request"
                ),
                latency_ms=120,
            ),
            attempt(attempt=2, provider="anthropic", credential="shared", key_id=None, latency_ms=1100),
        ],
    }
    values.update(fields)
    return RequestRecord(**values)


# --- records ---------------------------------------------------------------------------------------------


def test_public_record_has_the_contract_shape() -> None:
    record = request_record()
    public = record.public()
    assert public["usage"] == {"prompt_tokens": 17, "completion_tokens": 42}
    assert public["cost"] == pytest.approx(0.000681)
    assert "account_id" not in public
    assert [a["credential"] for a in public["attempts"]] == ["byok", "shared"]
    assert public["attempts"][0]["key_id"] == "key_0123456789abcdef01234567"
    assert public["attempts"][1]["key_id"] is None
    assert AWS_ACCESS_KEY not in json.dumps(public)


def test_a_shared_attempt_never_exposes_a_key_id() -> None:
    assert attempt(credential="shared", key_id="PLATFORM-KEY").fields()["key_id"] is None


# --- emit_attempt ----------------------------------------------------------------------------------------


def test_emit_attempt_prints_a_log_line_and_metrics(stdout_lines: Any) -> None:
    # Given a failed BYOK attempt whose error quotes the key
    record = attempt(
        provider="openai",
        status_code=401,
        outcome="error",
        error=redact(f"Incorrect API key provided: {OPENAI_KEY}"),
        latency_ms=87,
        model="openai/gpt-5-mini",
    )
    # When it is emitted as the second attempt of a request
    telemetry.emit_attempt(REQUEST_ID, ACCOUNT_ID, "openai/gpt-5-mini", record, fallback=True)
    lines = stdout_lines()

    # Then one structured line describes it, correlated to the request, without the key
    [line] = log_lines(lines, "upstream attempt")
    assert line["correlation_id"] == REQUEST_ID
    assert line["level"] == "INFO"
    assert line["service"] == "byok-gateway"
    expected = {
        "request_id": REQUEST_ID,
        "account_id": ACCOUNT_ID,
        "model": "openai/gpt-5-mini",
        "attempt": 1,
        "provider": "openai",
        "credential": "byok",
        "key_id": "key_0123456789abcdef01234567",
        "status_code": 401,
        "outcome": "error",
        "latency_ms": 87,
    }
    assert {name: line[name] for name in expected} == expected
    assert line["error"].startswith("Incorrect API key provided")
    assert "sk-proj" not in json.dumps(lines)

    # And EMF metrics count it by provider and credential type, and the fallback by service only
    metrics = emf_metrics(lines)
    by_route = {"service": "byok-gateway", "provider": "openai", "credential": "byok"}
    assert metrics["Attempts"] == {"namespace": "ByokGateway", "unit": "Count", "dimensions": by_route, "value": 1}
    assert metrics["AttemptFailures"]["dimensions"] == by_route
    assert metrics["AttemptFailures"]["value"] == 1
    assert metrics["UpstreamLatency"] == {
        "namespace": "ByokGateway",
        "unit": "Milliseconds",
        "dimensions": by_route,
        "value": 87,
    }
    assert metrics["Fallbacks"]["dimensions"] == {"service": "byok-gateway"}
    assert metrics["Fallbacks"]["value"] == 1


def test_a_successful_first_attempt_is_no_failure_and_no_fallback(stdout_lines: Any) -> None:
    telemetry.emit_attempt(
        REQUEST_ID, ACCOUNT_ID, "google/gemini-3-flash", attempt(provider="google-vertex"), fallback=False
    )
    metrics = emf_metrics(stdout_lines())
    assert set(metrics) == {"Attempts", "UpstreamLatency"}
    assert metrics["Attempts"]["dimensions"]["provider"] == "google-vertex"


# --- save_request ----------------------------------------------------------------------------------------


class ThrottledTable:
    def put_item(self, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
            "PutItem",
        )


def test_a_failed_table_write_logs_the_whole_record(stdout_lines: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a logs table that throttles every write
    monkeypatch.setattr(logs, "_table", ThrottledTable)
    record = request_record(status="error", http_status=502, provider=None)

    # When the request record is saved, nothing is raised
    logs.save_request(record)
    lines = stdout_lines()

    # Then the complete record is one JSON line in CloudWatch Logs
    [line] = log_lines(lines, "request record (table write failed)")
    assert line["level"] == "ERROR"
    assert line["error_type"] == "ClientError"
    logged = line["record"]
    assert logged == {
        "request_id": REQUEST_ID,
        "account_id": ACCOUNT_ID,
        "created_at": "2026-02-03T04:05:06.789Z",
        "model": "anthropic/claude-sonnet-4.5",
        "provider": None,
        "is_byok": False,
        "status": "error",
        "http_status": 502,
        "latency_ms": 1234,
        "prompt_tokens": 17,
        "completion_tokens": 42,
        "cost": "0.000681",
        "stream": True,
        "time_to_first_token_ms": None,
        "api": "chat",
        "api_key_id": None,
        "attempts": [
            {
                "attempt": 1,
                "provider": "amazon-bedrock",
                "credential": "byok",
                "key_id": "key_0123456789abcdef01234567",
                "status_code": 403,
                "outcome": "error",
                "error": logged["attempts"][0]["error"],
                "latency_ms": 120,
                "model": "anthropic/claude-sonnet-4.5",
                "cost": "0",
            },
            {
                "attempt": 2,
                "provider": "anthropic",
                "credential": "shared",
                "key_id": None,
                "status_code": 200,
                "outcome": "success",
                "error": None,
                "latency_ms": 1100,
                "model": "anthropic/claude-sonnet-4.5",
                "cost": "0",
            },
        ],
    }
    assert logged["attempts"][0]["error"].startswith("403 from https://bedrock-runtime.us-east-1.amazonaws.com")
    assert AWS_ACCESS_KEY not in json.dumps(lines)

    # And the loss is counted, as is the request and its failure
    metrics = emf_metrics(lines)
    assert metrics["LogWriteFailures"] == {
        "namespace": "ByokGateway",
        "unit": "Count",
        "dimensions": {"service": "byok-gateway"},
        "value": 1,
    }
    assert metrics["Requests"]["value"] == 1
    assert metrics["RequestFailures"]["value"] == 1


def test_a_broken_table_client_is_survived_too(stdout_lines: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_table() -> Any:
        raise RuntimeError("no credentials")

    monkeypatch.setattr(logs, "_table", no_table)
    logs.save_request(request_record())
    lines = stdout_lines()
    [line] = log_lines(lines, "request record (table write failed)")
    assert line["record"]["request_id"] == REQUEST_ID
    assert "RequestFailures" not in emf_metrics(lines)


# --- cursors ---------------------------------------------------------------------------------------------


def test_a_cursor_round_trips_to_its_request_id() -> None:
    cursor = logs.encode_cursor(REQUEST_ID)
    assert REQUEST_ID not in cursor
    assert logs.decode_cursor(cursor) == REQUEST_ID


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "!!!!",
        "A",
        logs.encode_cursor(REQUEST_ID)[:-3],
        logs.encode_cursor(REQUEST_ID).replace("A", "B", 1),
        # the right shape with another version byte
        "Ag" + logs.encode_cursor(REQUEST_ID)[2:],
        "x" * 500,
    ],
)
def test_a_malformed_cursor_is_a_bad_request_naming_cursor(cursor: str) -> None:
    with pytest.raises(BadRequest) as raised:
        logs.decode_cursor(cursor)
    assert raised.value.param == "cursor"
