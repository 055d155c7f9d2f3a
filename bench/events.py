"""API Gateway REST API proxy events for the measured requests, built the way the dev stack builds them."""

from __future__ import annotations

import functools
import json
from typing import Any

from local.apigw import HttpRequest, RouteMatch, Router, build_event


@functools.cache
def _router() -> Router:
    return Router.from_template()


def _match(method: str, path: str) -> RouteMatch:
    match = _router().match(method, path)
    if match is None:
        raise ValueError(f"no route for {method} {path} in template.yaml")
    return match


def api_event(method: str, target: str, api_key: str | None = None, body: Any = None) -> dict[str, Any]:
    """The proxy event API Gateway would give the function that serves ``method target``."""
    headers = [("Host", "api.example.com"), ("User-Agent", "bench/1")]
    if api_key:
        headers.append(("Authorization", f"Bearer {api_key}"))
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    request = HttpRequest(
        method=method,
        target=target,
        headers=headers,
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return build_event(request, _match(method, request.path))


def function_dir(method: str, path: str) -> str:
    """The code directory (relative to the repository) of the function serving ``method path``."""
    return _match(method, path).route.code_dir
