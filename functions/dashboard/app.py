"""GET /dashboard and GET /dashboard/{asset}: the customer dashboard, served from the API's own origin.

The page is static: ``static/`` ships beside this handler and is read once per process. Every answer carries a
strict Content-Security-Policy (scripts, styles, images and API calls from this origin only, no inline script,
never framed). The page calls the public API with the gateway key the customer types; this function sees no key
and touches no AWS service, so it imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gateway.core.errors import NotFound
from gateway.core.ids import new_request_id

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _load_assets(directory: Path) -> dict[str, tuple[str, str, str]]:
    """name -> (body, content type, etag) for every servable file; anything else under the directory is ignored."""
    assets: dict[str, tuple[str, str, str]] = {}
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_text(encoding="utf-8")
        etag = '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'
        assets[path.name] = (body, content_type, etag)
    return assets


ASSETS = _load_assets(STATIC_DIR)


def _answer(status: int, body: str, content_type: str, request_id: str, **headers: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            **SECURITY_HEADERS,
            **headers,
            "x-request-id": request_id,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    request_id = new_request_id()
    # The page itself only at /dashboard: its relative URLs (dashboard/app.js, v1/...) resolve from there.
    name = (event.get("pathParameters") or {}).get("asset")
    asset = ASSETS.get(INDEX) if name is None else None if name == INDEX else ASSETS.get(name)
    if asset is None:
        error = NotFound("no such dashboard asset", param="asset")
        return _answer(404, json.dumps(error.body()), "application/json", request_id)
    body, content_type, etag = asset
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    if headers.get("if-none-match") == etag:
        return _answer(304, "", content_type, request_id, ETag=etag)
    return _answer(200, body, content_type, request_id, ETag=etag)
