"""POST /v1/byok/keys/{key_id}/test: a one-token connection test with a stored key, recorded on the key."""

from __future__ import annotations

from typing import Any

from gateway.apis import api_keys
from gateway.apis import byok as keys
from gateway.http.resolver import authenticate, create_app, handler

app = create_app()


@app.post("/v1/byok/keys/<key_id>/test")
def test_key(key_id: str) -> dict[str, Any]:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    return keys.test_key(snapshot, key_id)


lambda_handler = handler(app)
