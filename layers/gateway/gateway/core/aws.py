"""Lazily created AWS clients, one per process. Endpoints come from the standard AWS_ENDPOINT_URL variables.

One botocore session serves every client (and the Encryption SDK's KMS client, for credentials it stored before
issue 24), so service models are loaded once per process.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@functools.cache
def botocore_session() -> botocore.session.Session:
    return botocore.session.Session()


@functools.cache
def dynamodb() -> Any:
    return boto3.session.Session(botocore_session=botocore_session()).resource("dynamodb", config=_CONFIG)


@functools.cache
def table(name: str) -> Any:
    """One Table object per name: boto3 builds a new resource class on every ``Table()`` call."""
    return dynamodb().Table(name)


@functools.cache
def s3() -> Any:
    """A plain botocore client on a session of its own (boto3's S3 transfer helpers, which the shared session's
    boto3 handlers would inject, are not needed); path-style addressing, so a bucket name never becomes a host
    name (the dev stack's moto server, tests)."""
    config = _CONFIG.merge(Config(s3={"addressing_style": "path"}))
    return botocore.session.Session().create_client("s3", config=config)


@functools.cache
def kms() -> Any:
    """KMS for stored credentials (``security.crypto``) and the data keys the gateway wraps itself
    (``security.data_keys``)."""
    return botocore_session().create_client("kms", config=_CONFIG)


def reset() -> None:
    """Forget the clients (tests switch AWS backends); the session and its loaded models stay."""
    kms.cache_clear()
    s3.cache_clear()
    table.cache_clear()
    dynamodb.cache_clear()
