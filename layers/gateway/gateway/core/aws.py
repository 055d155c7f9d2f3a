"""Lazily created AWS clients, one per process. Endpoints come from the standard AWS_ENDPOINT_URL variables.

One botocore session serves every client (and the Encryption SDK's KMS client, for credentials it stored before
issue 24), so service models are loaded once per process.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.loaders import Loader, create_loader, instance_cache

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


class _OneServiceLoader(Loader):
    """botocore's data loader, which checks that the one service asked for has the model type instead of listing
    every service that has it: botocore walks all ~420 service directories (a ``stat`` each) per model type
    before loading one model, ~30-40 ms of CPU on a cold start's three types (the service model, its endpoint
    ruleset, boto3's resource model). Same models, same errors for an unknown service."""

    @instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        try:
            latest = self.determine_latest_version(service_name, type_name)
        except DataNotFoundError:
            known = ", ".join(self.list_available_services(type_name))
            raise UnknownServiceError(service_name=service_name, known_service_names=known) from None
        version = api_version or latest
        model = self.load_data(os.path.join(service_name, version, type_name))
        self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
        return model


def new_session() -> botocore.session.Session:
    """A botocore session whose data loader is ``_OneServiceLoader`` on the search path botocore would use."""
    session = botocore.session.Session()
    default = create_loader(session.get_config_variable("data_path"))
    loader = _OneServiceLoader(extra_search_paths=default.search_paths, include_default_search_paths=False)
    session.register_component("data_loader", loader)
    return session


@functools.cache
def botocore_session() -> botocore.session.Session:
    return new_session()


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
    return new_session().create_client("s3", config=config)


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
