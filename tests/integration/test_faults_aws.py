"""AWS-side faults: KMS refusing to decrypt, DynamoDB throttling reads and writes, an unreachable endpoint.

The stack and per-test customer fixtures are the ones of ``test_faults.py``. Throttling is injected where the
layer meets boto3 (the table objects), as the exception boto3 raises once botocore's own retries are spent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import botocore.client
import httpx
import openai
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from gateway.data import accounts as store
from gateway.data import holds
from gateway.data import request_log as logs
from gateway.security import credential_cache
from local.seed import PLATFORM_API_KEYS
from tests.conftest import Gateway
from tests.integration import test_faults as matrix
from tests.integration.helpers import add_key, credential_id, get_log
from tests.integration.test_faults import balance, create, customer_credentials

# The module-scoped stack and per-test customer of the upstream fault matrix.
stack, api, gateway, openai_client = matrix.stack, matrix.api, matrix.gateway, matrix.openai_client

KMS_DENIED = "AccessDeniedException"


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"simulated {code}"}}, operation)


class FailingTable:
    """A boto3 Table whose ``failing`` operations raise ``error``; every other call goes to the real table."""

    def __init__(self, table: Any, error: Exception, *failing: str) -> None:
        self._table = table
        self._error = error
        self._failing = failing

    def __getattr__(self, name: str) -> Any:
        if name in self._failing:

            def fail(**_: Any) -> Any:
                raise self._error

            return fail
        return getattr(self._table, name)


def deny_kms_decrypt(monkeypatch: pytest.MonkeyPatch, when: Callable[[dict[str, Any]], bool]) -> list[str]:
    """KMS answers AccessDenied to Decrypt calls whose parameters match ``when``; returns the denied contexts."""
    real = botocore.client.BaseClient._make_api_call
    denied: list[str] = []

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "Decrypt" and when(params):
            denied.append(json.dumps(params.get("EncryptionContext", {}), sort_keys=True))
            raise client_error(KMS_DENIED, operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return denied


def metric_names(lines: list[dict[str, Any]]) -> list[str]:
    return [
        metric["Name"]
        for line in lines
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    ]


# --- KMS ------------------------------------------------------------------------------------------------------


def test_byok_key_kms_will_not_decrypt_is_logged_and_shared_answers(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the customer's ciphertexts are denied (a revoked grant on their data, say): platform keys still work.
    credentials = customer_credentials(gateway.sim, "anthropic")
    key = add_key(api.url, gateway.api_key, "anthropic", credentials)
    denied = deny_kms_decrypt(
        monkeypatch, lambda params: params.get("EncryptionContext", {}).get("customer") == gateway.customer.account_id
    )

    raw = create(openai_client, "anthropic/claude-sonnet-4.5", provider={"only": ["anthropic"]})

    assert raw.parse().usage.model_extra["is_byok"] is False
    assert denied, "the BYOK key went to KMS and was refused"
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    byok, shared = record["attempts"]
    assert (byok["credential"], byok["key_id"], byok["outcome"], byok["status_code"]) == (
        "byok",
        key["id"],
        "error",
        None,
    )
    assert "could not be decrypted" in byok["error"]
    assert (shared["credential"], shared["outcome"]) == ("shared", "success")
    assert [r.credential for r in gateway.sim.requests] == [PLATFORM_API_KEYS["anthropic"]]


def test_nothing_decrypts_gives_502_never_500_and_no_secret(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The KMS key itself is unusable (disabled, pending deletion, policy broken): every cold decrypt fails.
    credentials = customer_credentials(gateway.sim, "openai")
    key = add_key(api.url, gateway.api_key, "openai", credentials)
    credential_cache.clear()  # a cold process: platform keys are not in the decrypt cache either
    deny_kms_decrypt(monkeypatch, lambda _: True)

    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=20,
    )

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "all_attempts_failed"
    assert "openai byok error" in error["message"] and "openai shared error" in error["message"]
    for secret in (credentials, PLATFORM_API_KEYS["openai"], KMS_DENIED, "Traceback"):
        assert secret not in response.text
    assert gateway.sim.requests == []
    record = get_log(api.url, gateway.api_key, response.headers["x-request-id"])
    assert (record["status"], record["http_status"]) == ("error", 502)
    assert [(a["credential"], a["key_id"], a["outcome"]) for a in record["attempts"]] == [
        ("byok", key["id"], "error"),
        ("shared", None, "error"),
    ]
    assert all("could not be decrypted" in a["error"] for a in record["attempts"])


# --- DynamoDB reads --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException", "Query"),
        client_error("ThrottlingException", "Query"),
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
    ids=["provisioned_throughput_exceeded", "throttling", "endpoint_unreachable"],
)
def test_accounts_read_throttled_is_a_clean_retryable_503(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    real_table = store._table
    monkeypatch.setattr(store, "_table", lambda: FailingTable(real_table(), error, "query"))

    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=20,
    )

    assert response.status_code == 503
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert (body["error"]["type"], body["error"]["code"]) == ("service_unavailable", "service_unavailable")
    assert "Traceback" not in response.text and "simulated" not in response.text
    assert gateway.sim.requests == []


def test_the_sdk_retries_a_throttled_read_and_succeeds(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_table = store._table
    throttled = {"left": 1}

    def table() -> Any:
        if throttled["left"]:
            throttled["left"] -= 1
            return FailingTable(real_table(), client_error("ThrottlingException", "Query"), "query")
        return real_table()

    monkeypatch.setattr(store, "_table", table)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=1, timeout=20)

    completion = client.chat.completions.create(model="openai/gpt-5-mini", messages=[{"role": "user", "content": "hi"}])

    assert completion.model_extra is not None and completion.model_extra["provider"] == "openai"


def test_a_non_retryable_aws_error_is_still_a_plain_500(
    api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_table = store._table
    denied = client_error("AccessDeniedException", "Query")
    monkeypatch.setattr(store, "_table", lambda: FailingTable(real_table(), denied, "query"))

    response = httpx.get(f"{api.url}/v1/logs", headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=20)

    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal error"
    assert "AccessDenied" not in response.text and "Traceback" not in response.text


# --- DynamoDB writes -------------------------------------------------------------------------------------------


def test_logs_write_throttled_keeps_the_answer_and_prints_the_whole_record(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    stdout_lines: Any,
) -> None:
    credentials = customer_credentials(gateway.sim, "deepseek")
    key = add_key(api.url, gateway.api_key, "deepseek", credentials)
    gateway.sim.fail("deepseek", status=503, credential=credential_id(credentials))
    real_table = logs._table
    throttled = client_error("ProvisionedThroughputExceededException", "PutItem")
    monkeypatch.setattr(logs, "_table", lambda: FailingTable(real_table(), throttled, "put_item"))
    stdout_lines()  # drop what the fixtures printed

    raw = create(openai_client, "deepseek/deepseek-v3.2", provider={"only": ["deepseek"]})

    completion = raw.parse()
    assert completion.model_extra["provider"] == "deepseek"
    lines = stdout_lines()
    [lost] = [line for line in lines if line.get("message") == "request record (table write failed)"]
    assert lost["level"] == "ERROR" and lost["error_type"] == "ClientError"
    record = lost["record"]
    assert (record["request_id"], record["account_id"], record["status"], record["http_status"]) == (
        raw.headers["x-request-id"],
        gateway.customer.account_id,
        "success",
        200,
    )
    assert Decimal(record["cost"]) == Decimal(str(completion.usage.model_extra["cost"]))
    assert [(a["credential"], a["key_id"], a["status_code"]) for a in record["attempts"]] == [
        ("byok", key["id"], 503),
        ("shared", None, 200),
    ]
    assert "LogWriteFailures" in metric_names(lines)
    attempt_lines = [line for line in lines if line.get("message") == "upstream attempt"]
    assert [line["credential"] for line in attempt_lines] == ["byok", "shared"]


def test_credit_settlement_throttled_keeps_the_answer_and_logs_the_uncharged_cost(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    stdout_lines: Any,
) -> None:
    # Given the hold goes through, but the settlement after the answer is throttled
    before = balance(gateway.customer.account_id)
    real_table = store._table
    throttled = client_error("ProvisionedThroughputExceededException", "UpdateItem")
    real_hold = holds.hold_credits

    def hold_then_throttle(*args: Any) -> bool:
        held = real_hold(*args)
        monkeypatch.setattr(store, "_table", lambda: FailingTable(real_table(), throttled, "update_item"))
        return held

    monkeypatch.setattr(holds, "hold_credits", hold_then_throttle)
    stdout_lines()

    raw = create(openai_client, "openai/gpt-5-mini")

    cost = Decimal(str(raw.parse().usage.model_extra["cost"]))
    assert cost > 0
    [settlement] = [line for line in stdout_lines() if line.get("message") == "credit settlement failed"]
    assert settlement["level"] == "ERROR"
    assert settlement["account_id"] == gateway.customer.account_id
    assert settlement["actual_nanos"] == pytest.approx(float(cost) * 1e9, abs=1)
    held = Decimal(settlement["held_nanos"]) / store.NANOS_PER_USD
    monkeypatch.setattr(store, "_table", real_table)
    assert balance(gateway.customer.account_id) == before - held  # the hold stands until it expires
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert Decimal(str(record["cost"])) == cost, "the record keeps what should have been charged"


def test_credit_reservation_throttled_is_a_503_and_charges_nothing(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = balance(gateway.customer.account_id)
    real_table = store._table
    throttled = client_error("ProvisionedThroughputExceededException", "UpdateItem")
    monkeypatch.setattr(store, "_table", lambda: FailingTable(real_table(), throttled, "update_item"))

    with pytest.raises(openai.InternalServerError) as raised:
        create(openai_client, "openai/gpt-5-mini")

    assert raised.value.status_code == 503
    monkeypatch.setattr(store, "_table", real_table)
    assert balance(gateway.customer.account_id) == before
