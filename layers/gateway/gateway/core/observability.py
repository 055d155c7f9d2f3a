"""The one place Logger and Metrics are created (Powertools): structured JSON lines and EMF metrics."""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric


def _json_line(value: Any) -> str:
    """One log line, readable UTF-8 as Powertools writes it; with ``\\u`` escapes when a value holds a lone
    surrogate (valid in a JSON request, unwritable as UTF-8), so the line is never lost."""
    line = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, default=str, separators=(",", ":"))
    return line


logger = Logger(service="byok-gateway", json_serializer=_json_line)
metrics = Metrics(namespace="ByokGateway", service="byok-gateway")

# Below INFO these libraries print what must never be logged: botocore the SigV4 canonical request (a
# customer's AWS session token) and KMS response bodies, httpx/httpcore request headers, google-auth token
# exchanges. Lambda's log-level control lowers the root logger, so they are pinned here, whatever it says.
_QUIET_LIBRARIES = {
    "botocore": logging.INFO,
    "boto3": logging.INFO,
    "urllib3": logging.INFO,
    "aws_encryption_sdk": logging.INFO,
    "google": logging.INFO,
    "httpcore": logging.INFO,
    "httpx": logging.WARNING,  # its INFO line per request is noise next to our own attempt records
}
for _name, _floor in _QUIET_LIBRARIES.items():
    _library_logger = logging.getLogger(_name)
    _library_logger.setLevel(max(_floor, _library_logger.level))


def count(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    """One EMF blob with its own dimensions, printed when the block exits (no flush at handler end needed)."""
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service), **dimensions},
    ):
        pass
