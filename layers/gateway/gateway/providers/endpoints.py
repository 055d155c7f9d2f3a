"""Upstream base URLs, and the validation that keeps stored values from steering traffic elsewhere.

Per the contract: an operator override (``UPSTREAM_*_URL``) wins for every region; otherwise the provider's
real host. Regions, project ids and model ids are checked against strict patterns before they become part of
a URL, and path segments are percent-encoded. Anything that fails is an ``AttemptFailed`` before any request.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from gateway.core.settings import DEFAULT_UPSTREAMS, VERTEX_GLOBAL_URL, get_settings
from gateway.providers.base import AttemptFailed
from gateway.security.credential_formats import AWS_REGION_PATTERN, PROJECT_ID_PATTERN, VERTEX_REGION_PATTERN

MODEL_ID_RE = re.compile(r"^[A-Za-z0-9._:@/\-]{1,128}$")
AWS_REGION_RE = re.compile(AWS_REGION_PATTERN)
VERTEX_REGION_RE = re.compile(VERTEX_REGION_PATTERN)
PROJECT_ID_RE = re.compile(PROJECT_ID_PATTERN)
VERTEX_GLOBAL = "global"


def _invalid(what: str) -> AttemptFailed:
    return AttemptFailed(f"invalid {what}", status_code=None, outcome="error")


def base_url(provider: str) -> str:
    """Base for providers without regions (openai, deepseek, anthropic, google-ai-studio)."""
    return get_settings().upstream_override(provider) or DEFAULT_UPSTREAMS[provider]


def model_segment(model_id: str, *, allow_slash: bool = False) -> str:
    """A validated, percent-encoded model id for a URL path (``/`` allowed only for body-only ids)."""
    if not MODEL_ID_RE.fullmatch(model_id) or ".." in model_id or (not allow_slash and "/" in model_id):
        raise _invalid("region/model id")
    return quote(model_id, safe="")


def vertex_model_segment(model_id: str) -> str:
    """A Vertex publisher model id for a URL path, its version ``@`` as is (``claude-sonnet-4-5@20250929``), as
    Anthropic's Vertex SDK and Google's docs write it; every other character as ``model_segment`` encodes it."""
    return model_segment(model_id).replace("%40", "@")


def bedrock_base(region: str | None) -> str:
    if region is None or not AWS_REGION_RE.fullmatch(region):
        raise _invalid("region/model id")
    override = get_settings().upstream_override("amazon-bedrock")
    return override or f"https://bedrock-runtime.{region}.amazonaws.com"


def vertex_location(region: str | None) -> str:
    location = region or VERTEX_GLOBAL
    if not VERTEX_REGION_RE.fullmatch(location):
        raise _invalid("region/model id")
    return location


def vertex_project_path(project_id: str, region: str | None) -> str:
    """``{base}/projects/{project}/locations/{region}`` with every part validated."""
    location = vertex_location(region)
    if not PROJECT_ID_RE.fullmatch(project_id):
        raise _invalid("project id")
    override = get_settings().upstream_override("google-vertex")
    if override:
        base = override
    elif location == VERTEX_GLOBAL:
        base = VERTEX_GLOBAL_URL
    else:
        base = f"https://{location}-aiplatform.googleapis.com/v1"
    return f"{base}/projects/{project_id}/locations/{location}"
