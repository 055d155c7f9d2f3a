"""gateway.billing.hourly_usage and UsageFunction: which stream records count, into which hour, what a failure resends.

Given moto with the template's tables, the handler gets DynamoDB stream events shaped as Lambda delivers them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from gateway.billing import hourly_usage
from local.handlers import LambdaContext, load_handler
from tests.conftest import Gateway

_serializer = TypeSerializer()


def _record(item: dict[str, Any], event_name: str = "INSERT", sequence: str = "1") -> dict[str, Any]:
    image = {name: _serializer.serialize(value) for name, value in item.items()}
    return {
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image, "SequenceNumber": sequence},
    }


def _request(
    account: str, created_at: str, *, is_byok: bool, status: str = "success", cost: str = "0"
) -> dict[str, Any]:
    return {
        "pk": account,
        "sk": "req_01a2332378c556f73ce2e827af69",
        "created_at": created_at,
        "is_byok": is_byok,
        "status": status,
        "cost": Decimal(cost),
    }


def test_from_record_reads_requests_and_ignores_everything_else() -> None:
    moment = "2026-12-01T19:42:53.123Z"
    found = hourly_usage.from_record(_request("acct_1", moment, is_byok=False, status="error", cost="0.0000125"))

    assert found == hourly_usage.RequestUsage(
        account_id="acct_1",
        hour=datetime(2026, 12, 1, 19, tzinfo=UTC),
        credential="shared",
        error=True,
        cost_nano=12_500,
    )
    assert hourly_usage.from_record({"pk": "usage#acct_1", "sk": "2026-12-01T19", "created_at": moment}) is None
    assert hourly_usage.from_record({"pk": "acct_1", "sk": "KEY#x", "created_at": moment}) is None
    assert hourly_usage.from_record({"pk": "acct_1", "sk": "req_x", "created_at": "yesterday"}) is None


def test_handler_adds_inserts_into_their_hour_and_skips_other_events(gateway: Gateway) -> None:
    # Given two BYOK requests and one shared request of this hour, plus a MODIFY and another account's request
    account = gateway.customer.account_id
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    records = [
        _record(_request(account, stamp, is_byok=True)),
        _record(_request(account, stamp, is_byok=True, status="error")),
        _record(_request(account, stamp, is_byok=False, cost="0.002")),
        _record(_request(account, stamp, is_byok=False, cost="9"), event_name="MODIFY"),
        _record(_request("acct_someone_else", stamp, is_byok=False, cost="1")),
    ]

    # When the stream delivers them
    answer = load_handler("functions/usage")({"Records": records}, LambdaContext("UsageFunction", 60))

    # Then this hour holds exactly them, and nothing is reported for a retry
    assert answer == {"batchItemFailures": []}
    current = hourly_usage.last_hours(account, now=now)[-1]
    assert current["byok"] == {"requests": 2, "errors": 1, "cost": 0.0}
    assert current["shared"] == {"requests": 1, "errors": 0, "cost": 0.002}
    earlier = hourly_usage.last_hours(account, now=now + timedelta(hours=1))
    assert earlier[-2] == current and earlier[-1]["shared"]["requests"] == 0


def test_a_failed_update_reports_that_record_and_every_later_one(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = gateway.customer.account_id
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    records = [_record(_request(account, stamp, is_byok=True), sequence=str(n)) for n in (11, 12, 13)]
    calls: list[hourly_usage.RequestUsage] = []
    real_add = hourly_usage.add_request

    def flaky(found: hourly_usage.RequestUsage) -> None:
        calls.append(found)
        if len(calls) == 2:
            raise RuntimeError("throttled")
        real_add(found)

    monkeypatch.setattr(hourly_usage, "add_request", flaky)
    answer = load_handler("functions/usage")({"Records": records}, LambdaContext("UsageFunction", 60))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "12"}, {"itemIdentifier": "13"}]}
    assert hourly_usage.last_hours(account)[-1]["byok"]["requests"] == 1
