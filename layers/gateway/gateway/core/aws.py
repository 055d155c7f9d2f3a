"""Lazily created AWS clients, one per process. Endpoints come from the standard AWS_ENDPOINT_URL variables.

One botocore session serves every client (and the Encryption SDK's KMS client, for credentials it stored before
issue 24), so service models are loaded once per process.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.loaders import JSONFileLoader, Loader, create_loader, instance_cache

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


class _PlainJsonFileLoader(JSONFileLoader):
    """botocore's model file reader, parsing into plain dicts: botocore asks ``json`` for an ``OrderedDict`` per
    object, which takes the parser's slow path (~21 ms against ~9 ms of CPU for the endpoints, the DynamoDB and
    KMS models and their rulesets); dicts keep the file's order too, and nothing in botocore or boto3 uses what
    only an ``OrderedDict`` has."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as file:
            return json.loads(file.read().decode("utf-8"))


class _Loader(Loader):
    """botocore's data loader, minus two costs of a cold start. It checks that the one service asked for has the
    model type instead of listing every service that has it (botocore walks all ~420 service directories, a
    ``stat`` each, per model type before loading one model: ~30-40 ms of CPU for a cold start's three types, the
    service model, its endpoint ruleset and boto3's resource model); same models, same error for an unknown
    service. And it reads model files with ``_PlainJsonFileLoader``."""

    FILE_LOADER_CLASS = _PlainJsonFileLoader

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
    """A botocore session whose data loader is ``_Loader`` on the search path botocore would use."""
    session = botocore.session.Session()
    default = create_loader(session.get_config_variable("data_path"))
    loader = _Loader(extra_search_paths=default.search_paths, include_default_search_paths=False)
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
