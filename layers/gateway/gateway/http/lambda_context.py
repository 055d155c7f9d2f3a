"""The context object a Lambda handler receives, built from the Runtime API's ``Lambda-Runtime-*`` headers with
the fields AWS's Python runtime interface client gives it (``identity``, ``client_context``, ``log()``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from gateway.core.json_object import load_object
from gateway.http.runtime_api import Invocation


class CognitoIdentity:
    """``context.identity``: the Amazon Cognito identity of a mobile SDK caller (None fields otherwise)."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: Mapping[str, Any]) -> None:
        self.cognito_identity_id = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")


class Client:
    """``context.client_context.client``: the calling mobile application."""

    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, client: Mapping[str, Any]) -> None:
        self.installation_id = client.get("installation_id")
        self.app_title = client.get("app_title")
        self.app_version_name = client.get("app_version_name")
        self.app_version_code = client.get("app_version_code")
        self.app_package_name = client.get("app_package_name")


class ClientContext:
    """``context.client_context``: what a mobile SDK caller sent in ``X-Amz-Client-Context``."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.custom = context.get("custom")
        self.env = context.get("env")
        client = context.get("client")
        self.client = Client(client) if isinstance(client, Mapping) else None


class LambdaContext:
    """The context object of Python's managed runtime, with the fields and methods AWS's Python client gives."""

    def __init__(self, invocation: Invocation) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.tenant_id = invocation.tenant_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as the managed runtime gives it.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        client_context = _json_header(invocation.client_context, "Client Context")
        self.client_context = ClientContext(client_context) if client_context is not None else None
        # Always an object, as in AWS's client: its fields are None when the caller is no Cognito identity.
        self.identity = CognitoIdentity(_json_header(invocation.cognito_identity, "Cognito Identity") or {})
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message: Any) -> None:
        """Write a line to the function's log (stdout, which Lambda sends to CloudWatch Logs)."""
        sys.stdout.write(str(message))
        sys.stdout.flush()


class ContextUnmarshalError(Exception):
    """A ``Lambda-Runtime-Client-Context`` or ``-Cognito-Identity`` header that is not a JSON object."""


def _json_header(value: str | None, name: str) -> Mapping[str, Any] | None:
    if not value:
        return None
    return load_object(value, ContextUnmarshalError, f"Unable to parse {name} JSON", f"{name} is not a JSON object")
