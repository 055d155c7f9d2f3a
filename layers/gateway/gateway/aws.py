"""Lazily created AWS clients, one per process. Endpoints come from the standard AWS_ENDPOINT_URL variables."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def dynamodb() -> Any:
    return _session().resource("dynamodb", config=_CONFIG)


def table(name: str) -> Any:
    return dynamodb().Table(name)


def reset() -> None:
    """Forget every client (tests switch between moto backends)."""
    _session.cache_clear()
    dynamodb.cache_clear()
