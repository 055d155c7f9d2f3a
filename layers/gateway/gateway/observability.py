"""The one place Logger and Metrics are created (Powertools): structured JSON lines and EMF metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="byok-gateway")
metrics = Metrics(namespace="ByokGateway", service="byok-gateway")
