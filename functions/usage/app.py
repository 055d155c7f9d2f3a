"""The logs table's DynamoDB stream: each new request record is added to its account's hourly usage bucket.

Runs off the request's critical path (the chat function only writes the record). Records are added one by one
and the first failure is reported with ``batchItemFailures``, so a retry resends only what was not counted yet.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from gateway.billing import hourly_usage
from gateway.core.observability import logger

_deserializer = TypeDeserializer()


def _new_image(record: dict[str, Any]) -> dict[str, Any] | None:
    if record.get("eventName") != "INSERT":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return None
    return {name: _deserializer.deserialize(value) for name, value in image.items()}


def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    records = event.get("Records") or []
    for index, record in enumerate(records):
        item = _new_image(record)
        request_usage = hourly_usage.from_record(item) if item is not None else None
        if request_usage is None:
            continue
        try:
            hourly_usage.add_request(request_usage)
        except Exception as error:  # report this record and every later one for a retry
            logger.warning("usage bucket update failed", extra={"error_type": type(error).__name__})
            failures = [
                {"itemIdentifier": str((later.get("dynamodb") or {}).get("SequenceNumber", ""))}
                for later in records[index:]
            ]
            break
    return {"batchItemFailures": failures}
