"""Every attempt as one structured JSON line and EMF metrics (attempts, failures, latency, fallbacks by provider
and credential), and the BYOK spill-over signal: what CloudWatch sees of routing."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from gateway.core.observability import count, logger
from gateway.data.request_log import AttemptRecord


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
    count("Attempts", MetricUnit.Count, 1, **by_route)
    if record.outcome != "success":
        count("AttemptFailures", MetricUnit.Count, 1, **by_route)
    count("UpstreamLatency", MetricUnit.Milliseconds, record.latency_ms, **by_route)
    if fallback:
        count("Fallbacks", MetricUnit.Count, 1)


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
    count("ByokSpillover", MetricUnit.Count, 1)
    count("ByokSpillover", MetricUnit.Count, 1, provider=served.provider)
