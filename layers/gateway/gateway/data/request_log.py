"""Request logs: one record per gateway request in the logs table, one JSON line and EMF metrics per attempt.

The logs table is partitioned by account (``pk`` = account id, ``sk`` = request id); request ids sort by
creation time, so a descending Query reads a customer's requests newest first. Only this module touches the
logs table. Records never hold prompt or completion text, and every upstream error string passes through
``redact`` before it is stored, logged or returned.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import re
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from boto3.dynamodb.conditions import Key

from gateway.core import aws
from gateway.core.errors import BadRequest
from gateway.core.observability import logger, metrics
from gateway.core.settings import get_settings
from gateway.data import accounts

Credential = Literal["byok", "shared"]
Outcome = Literal["success", "error", "timeout", "connection_error", "stream_interrupted"]
Status = Literal["success", "error"]

MAX_ERROR_CHARS = 200
# Provider error bodies can be large; nothing past this point could reach the 200 kept characters anyway.
_MAX_REDACT_INPUT = 16_384
_REQUEST_ID = re.compile(r"req_[0-9a-f]{28}")
_CURSOR_VERSION = 1
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,128}")
# GET /v1/logs filters: each combination is a Query on its own index, never a filtered read of the partition.
# A request record carries one key attribute per index (named as the index): the account plus the filter values,
# with the request id as the sort key, so a filtered page reads exactly the records it returns (plus one, to know
# whether a next page exists), whatever the account holds. Other items of the table (usage buckets) carry none
# of them and stay out of the indexes. A new filter (``api_key_id``) adds its combinations here and the
# matching GlobalSecondaryIndexes in template.yaml.
_FILTER_INDEXES: dict[frozenset[str], str] = {
    frozenset({"status"}): "by_status",
    frozenset({"is_byok"}): "by_byok",
    frozenset({"is_byok", "status"}): "by_byok_status",
    frozenset({"api_key_id"}): "by_key",
    frozenset({"api_key_id", "status"}): "by_key_status",
    frozenset({"api_key_id", "is_byok"}): "by_key_byok",
    frozenset({"api_key_id", "is_byok", "status"}): "by_key_byok_status",
}
_DAY_SECONDS = 86_400

_REDACTED = "[redacted]"
_SENSITIVE_LABELS = (
    r"x-api-key|x-goog-api-key|api[_-]?key|secret[_-]?access[_-]?key|secret|access[_-]?token|refresh[_-]?token"
    r"|id[_-]?token|client[_-]?secret|private[_-]?key|password|session[_-]?token|x-amz-security-token|signature|key"
)
# Applied in order: whole blocks first, then URL query strings, labelled values, then bare token shapes.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.S), "[redacted pem]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted jwt]"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*", re.I), rf"\1?{_REDACTED}"),
    (re.compile(r"\b(bearer|basic)\s+(?!\[redacted)[^\s\"',;]+", re.I), rf"\1 {_REDACTED}"),
    (
        re.compile(rf"\b({_SENSITIVE_LABELS})([\"']?\s*[:=]\s*[\"']?)(?!\[redacted)[^\s\"',;&}}]+", re.I),
        rf"\1\2{_REDACTED}",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_*.-]{6,}"), _REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), _REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,}"), _REDACTED),
    (re.compile(r"\bgwk_[A-Za-z0-9_]+"), _REDACTED),
)
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{32,}")
_WHITESPACE = re.compile(r"\s+")


def _looks_secret(run: str) -> bool:
    """A long run of token characters that is hex, or mixes cases and digits the way base64 keys do."""
    if re.fullmatch(r"[0-9a-fA-F]{32,}", run):
        return True
    has_digit = any(c.isdigit() for c in run)
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and has_digit:
        return True
    # Slug-like identifiers (model ids, URL paths) carry hyphens or slashes; a 32+ char run without them is a key.
    return has_digit and "-" not in run and "/" not in run


def redact(text: str) -> str:
    """``text`` made safe to store and show: no query strings, keys, tokens or PEM blocks; one line, 200 chars."""
    cleaned = text[:_MAX_REDACT_INPUT]
    for pattern, replacement in _REDACTIONS:
        cleaned = pattern.sub(replacement, cleaned)
    cleaned = _TOKEN_RUN.sub(lambda m: _REDACTED if _looks_secret(m.group(0)) else m.group(0), cleaned)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    if len(cleaned) > MAX_ERROR_CHARS:
        cleaned = cleaned[: MAX_ERROR_CHARS - 1] + "…"
    return cleaned


@dataclass
class AttemptRecord:
    attempt: int
    provider: str
    credential: Credential
    key_id: str | None
    status_code: int | None
    outcome: Outcome
    error: str | None
    latency_ms: int
    model: str = ""  # catalog id of the model the attempt was for

    def fields(self) -> dict[str, Any]:
        """The attempt as stored, logged and returned: the error redacted, a key id only for BYOK."""
        return {
            "attempt": self.attempt,
            "provider": self.provider,
            "credential": self.credential,
            "key_id": self.key_id if self.credential == "byok" else None,
            "status_code": self.status_code,
            "outcome": self.outcome,
            "error": redact(self.error) if self.error else None,
            "latency_ms": self.latency_ms,
            "model": self.model,
        }


@dataclass
class RequestRecord:
    request_id: str
    account_id: str
    created_at: str
    model: str
    provider: str | None
    is_byok: bool
    status: Status
    http_status: int
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    stream: bool
    attempts: list[AttemptRecord] = field(default_factory=list)
    api: Literal["chat", "messages"] = "chat"
    time_to_first_token_ms: int | None = None  # streamed answers: request start to the first delta sent
    api_key_id: str | None = None  # the gateway API key the request authenticated with

    def public(self) -> dict[str, Any]:
        """The request record of the HTTP contract: every field but the owner, tokens under ``usage``."""
        data = self.fields()
        del data["account_id"]
        data["usage"] = {"prompt_tokens": data.pop("prompt_tokens"), "completion_tokens": data.pop("completion_tokens")}
        data["cost"] = float(self.cost)
        return data

    def fields(self) -> dict[str, Any]:
        """Every field, JSON-ready (cost as an exact decimal string): what a lost table write logs instead."""
        return {
            "request_id": self.request_id,
            "account_id": self.account_id,
            "created_at": self.created_at,
            "model": self.model,
            "provider": self.provider,
            "is_byok": self.is_byok,
            "status": self.status,
            "http_status": self.http_status,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": str(self.cost),
            "stream": self.stream,
            "time_to_first_token_ms": self.time_to_first_token_ms,
            "api": self.api,
            "api_key_id": self.api_key_id,
            "attempts": [attempt.fields() for attempt in self.attempts],
        }


def _table() -> Any:
    return aws.table(get_settings().logs_table)


def _count(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    """One EMF blob with its own dimensions, printed when the block exits (no flush at handler end needed)."""
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service), **dimensions},
    ):
        pass


def emit_attempt(request_id: str, account_id: str, model: str, record: AttemptRecord, *, fallback: bool) -> None:
    """One JSON log line and the attempt metrics; ``fallback`` when this attempt follows a failed one."""
    logger.info(
        "upstream attempt",
        extra={
            "correlation_id": request_id,
            "request_id": request_id,
            "account_id": account_id,
            **record.fields(),
            "model": record.model or model,
        },
    )
    by_route = {"provider": record.provider, "credential": record.credential}
    _count("Attempts", MetricUnit.Count, 1, **by_route)
    if record.outcome != "success":
        _count("AttemptFailures", MetricUnit.Count, 1, **by_route)
    _count("UpstreamLatency", MetricUnit.Milliseconds, record.latency_ms, **by_route)
    if fallback:
        _count("Fallbacks", MetricUnit.Count, 1)


def emit_spillover(request_id: str, account_id: str, served: AttemptRecord, failed: list[AttemptRecord]) -> None:
    """A request whose BYOK keys failed and that shared capacity (billed to credits) served: one log line and
    the ByokSpillover metric, in total and by the provider that served."""
    logger.warning(
        "byok spill-over to shared capacity",
        extra={
            "correlation_id": request_id,
            "request_id": request_id,
            "account_id": account_id,
            "served_provider": served.provider,
            "failed_keys": [{"provider": r.provider, "key_id": r.key_id, "status_code": r.status_code} for r in failed],
        },
    )
    _count("ByokSpillover", MetricUnit.Count, 1)
    _count("ByokSpillover", MetricUnit.Count, 1, provider=served.provider)


def _filter_key(account_id: str, filters: dict[str, Any]) -> str:
    """The partition of one filter combination in its index: ``acct_...#is_byok=true#status=error``."""
    values = (f"{name}={str(value).lower()}" for name, value in sorted(filters.items()))
    return "#".join([account_id, *values])


def _to_item(record: RequestRecord) -> dict[str, Any]:
    item = record.fields()
    del item["request_id"], item["account_id"]
    filterable = {"status": record.status, "is_byok": record.is_byok, "api_key_id": record.api_key_id}
    index_keys = {
        index: _filter_key(record.account_id, {name: filterable[name] for name in names})
        for names, index in _FILTER_INDEXES.items()
        if all(filterable[name] is not None for name in names)  # a record without a key id stays out of by_key*
    }
    return {
        "pk": record.account_id,
        "sk": record.request_id,
        **item,
        **index_keys,
        "cost": record.cost,
        "expires_at": int(time.time()) + get_settings().log_ttl_days * _DAY_SECONDS,
    }


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _from_item(item: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        request_id=item["sk"],
        account_id=item["pk"],
        created_at=item["created_at"],
        model=item["model"],
        provider=item.get("provider"),
        is_byok=bool(item["is_byok"]),
        status=item["status"],
        http_status=int(item["http_status"]),
        latency_ms=int(item["latency_ms"]),
        prompt_tokens=int(item["prompt_tokens"]),
        completion_tokens=int(item["completion_tokens"]),
        cost=Decimal(item["cost"]),
        stream=bool(item.get("stream", False)),
        api=item.get("api", "chat"),
        time_to_first_token_ms=_optional_int(item.get("time_to_first_token_ms")),
        api_key_id=item.get("api_key_id"),
        attempts=[
            AttemptRecord(
                attempt=int(a["attempt"]),
                provider=a["provider"],
                credential=a["credential"],
                key_id=a.get("key_id"),
                status_code=_optional_int(a.get("status_code")),
                outcome=a["outcome"],
                error=a.get("error"),
                latency_ms=int(a["latency_ms"]),
                model=a.get("model") or item["model"],
            )
            for a in item.get("attempts", [])
        ],
    )


def save_request(record: RequestRecord) -> None:
    """Store ``record`` (expiring after LOG_TTL_DAYS) and count it. Never raises and never loses the record:
    if the table write fails, the whole record goes to CloudWatch Logs as one JSON line instead."""
    pending = _pending.get()
    if pending is not None and pending[0].request_id == record.request_id:
        _pending.set(None)  # routing recorded the request itself
    try:
        _table().put_item(Item=_to_item(record))
    except Exception as error:  # any failure at all: the record must survive it
        try:
            logger.error(
                "request record (table write failed)",
                extra={"error_type": type(error).__name__, "record": record.fields()},
            )
            _count("LogWriteFailures", MetricUnit.Count, 1)
        except Exception:  # noqa: S110 - nothing is left to report to once stdout itself fails
            pass
    try:
        _count("Requests", MetricUnit.Count, 1)
        if record.status == "error":
            _count("RequestFailures", MetricUnit.Count, 1)
    except Exception:  # noqa: S110 - metrics are best effort; the record is already safe
        pass


# The record an authenticated request gets if it ends in an error answer before routing records it (bad JSON,
# validation, limits, a gateway fault): set after authentication, saved by the HTTP layer's error handlers.
_pending: contextvars.ContextVar[tuple[RequestRecord, float] | None] = contextvars.ContextVar(
    "pending_record", default=None
)
# A model id worth storing on a refused request: the caller's own text, kept only when it is printable ASCII.
_STORABLE_MODEL = re.compile(r"[\x21-\x7e]{1,128}")


def expect_record(
    request_id: str, account_id: str, api: Literal["chat", "messages"], api_key_id: str | None = None
) -> None:
    """Make sure the current request leaves a record: ``save_refusal`` writes it unless ``save_request`` did."""
    record = RequestRecord(
        request_id=request_id,
        account_id=account_id,
        created_at=accounts.now_iso(),
        model="",
        provider=None,
        is_byok=False,
        status="error",
        http_status=0,
        latency_ms=0,
        prompt_tokens=0,
        completion_tokens=0,
        cost=Decimal(0),
        stream=False,
        api=api,
        api_key_id=api_key_id,
    )
    _pending.set((record, time.monotonic()))


def describe_expected(body: dict[str, Any]) -> None:
    """Name the model and stream flag of the body on the expected record (what a refusal can still tell)."""
    pending = _pending.get()
    if pending is None:
        return
    model = body.get("model")
    record = replace(
        pending[0],
        model=model if isinstance(model, str) and _STORABLE_MODEL.fullmatch(model) else "",
        stream=body.get("stream") is True,
    )
    _pending.set((record, pending[1]))


def save_refusal(http_status: int) -> None:
    """Record the current request as refused with ``http_status`` (no attempts), unless it is recorded already."""
    pending = _pending.get()
    if pending is None:
        return
    record, started = pending
    save_request(replace(record, http_status=http_status, latency_ms=int((time.monotonic() - started) * 1000)))


def forget_expected() -> None:
    """Between invocations: a warm process must never record one request under the previous one's id."""
    _pending.set(None)


def is_request_id(value: str) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None


def get_request(account_id: str, request_id: str) -> RequestRecord | None:
    """The caller's own record, or None: another account's id and a malformed id look exactly like a missing one."""
    if not is_request_id(request_id):
        return None
    item = _table().get_item(Key={"pk": account_id, "sk": request_id}, ConsistentRead=True).get("Item")
    return None if item is None else _from_item(item)


def encode_cursor(request_id: str) -> str:
    raw = bytes([_CURSOR_VERSION]) + request_id.encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The request id a cursor points after; BadRequest naming ``cursor`` for anything this module did not make."""
    invalid = BadRequest("cursor is not a cursor returned by GET /v1/logs", param="cursor", code="invalid_cursor")
    if _CURSOR_CHARS.fullmatch(cursor) is None:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        request_id = raw[1:].decode("ascii")
    except (binascii.Error, ValueError):
        raise invalid from None
    if raw[:1] != bytes([_CURSOR_VERSION]) or not is_request_id(request_id):
        raise invalid
    return request_id


def list_requests(
    account_id: str,
    *,
    limit: int,
    cursor: str | None,
    is_byok: bool | None,
    status: str | None,
    api_key_id: str | None = None,
) -> tuple[list[RequestRecord], str | None]:
    """Up to ``limit`` of the caller's records, newest first, and the cursor of the next page (None at the end).

    Unfiltered, a Query of the caller's partition; filtered, a Query of the filter combination's index on the
    caller's own partition of it. Either reads ``limit + 1`` items (one more proves a next page exists). The
    start key is always built on the caller's own partition: a cursor carries only a position, never whose
    records to read. Index reads are eventually consistent: a record written a moment ago may show a moment late.
    """
    given = (("is_byok", is_byok), ("status", status), ("api_key_id", api_key_id))
    filters = {name: value for name, value in given if value is not None}
    query: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit + 1}
    start_key: dict[str, str] | None = {"pk": account_id, "sk": decode_cursor(cursor)} if cursor else None
    if filters:
        index = _FILTER_INDEXES[frozenset(filters)]
        partition = _filter_key(account_id, filters)
        query |= {"IndexName": index, "KeyConditionExpression": Key(index).eq(partition)}
        if start_key is not None:
            start_key[index] = partition
    else:
        query |= {"KeyConditionExpression": Key("pk").eq(account_id), "ConsistentRead": True}

    table = _table()
    items: list[dict[str, Any]] = []
    while len(items) <= limit:  # more than one Query only when a page hits DynamoDB's 1 MB read limit
        page = table.query(**query, **({"ExclusiveStartKey": start_key} if start_key else {}))
        items.extend(page.get("Items", []))
        start_key = page.get("LastEvaluatedKey")
        if start_key is None:
            break
        query["Limit"] = limit + 1 - len(items)
    records = [_from_item(item) for item in items[:limit]]
    next_cursor = encode_cursor(records[-1].request_id) if len(items) > limit else None
    return records, next_cursor
