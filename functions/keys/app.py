"""The caller's account, its gateway API keys and its BYOK keys: create/list/get/update/delete of each (management
keys only, see ``gateway.apis.api_keys.require_management``) and the provider list."""

from __future__ import annotations

from typing import Any

from gateway.apis import api_keys
from gateway.apis import byok as keys
from gateway.core.errors import NotFound
from gateway.core.settings import get_settings
from gateway.data import accounts
from gateway.http.resolver import authenticate, create_app, handler, json_body, json_response, parse_model
from gateway.http.router import Response

app = create_app()


@app.get("/v1/account")
def get_account() -> dict[str, Any]:
    return api_keys.account_view(authenticate(app), get_settings().max_keys_per_account)


@app.patch("/v1/account")
def update_account() -> dict[str, Any]:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    api_keys.update_account(snapshot, parse_model(json_body(app), api_keys.UpdateAccountRequest))
    updated = accounts.load_account(snapshot.account.account_id)
    if updated is None:
        raise NotFound("no such account")
    return api_keys.account_view(updated, get_settings().max_keys_per_account)


@app.get("/v1/byok/providers")
def list_providers() -> dict[str, Any]:
    authenticate(app)
    return {"data": keys.describe_providers()}


@app.post("/v1/byok/keys")
def create_key() -> Response:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    request = parse_model(json_body(app), keys.CreateKeyRequest)
    key = keys.create_key(snapshot, request)
    return json_response(201, key.public())


@app.get("/v1/byok/keys")
def list_keys() -> dict[str, Any]:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    return {"data": [key.public() for key in snapshot.keys]}


@app.get("/v1/byok/keys/<key_id>")
def get_key(key_id: str) -> dict[str, Any]:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    return keys.get_key(snapshot, key_id).public()


@app.patch("/v1/byok/keys/<key_id>")
def update_key(key_id: str) -> dict[str, Any]:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    request = parse_model(json_body(app), keys.UpdateKeyRequest)
    return keys.update_key(snapshot, key_id, request).public()


@app.delete("/v1/byok/keys/<key_id>")
def delete_key(key_id: str) -> Response:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    keys.delete_key(snapshot, key_id)
    return Response(status_code=204, body="")


@app.post("/v1/api-keys")
def create_api_key() -> Response:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    request = parse_model(json_body(app), api_keys.CreateApiKeyRequest)
    return json_response(201, api_keys.create(snapshot, request))


@app.get("/v1/api-keys")
def list_api_keys() -> dict[str, Any]:
    return {"data": api_keys.listed(authenticate(app))}


@app.get("/v1/api-keys/<key_id>")
def get_api_key(key_id: str) -> dict[str, Any]:
    snapshot = authenticate(app)
    return api_keys.public(snapshot, api_keys.find(snapshot, key_id))


@app.patch("/v1/api-keys/<key_id>")
def update_api_key(key_id: str) -> dict[str, Any]:
    snapshot = authenticate(app)
    api_keys.require_management(snapshot)
    request = parse_model(json_body(app), api_keys.UpdateApiKeyRequest)
    return api_keys.update(snapshot, key_id, request)


@app.delete("/v1/api-keys/<key_id>")
def delete_api_key(key_id: str) -> Response:
    api_keys.delete(authenticate(app), key_id)
    return Response(status_code=204, body="")


lambda_handler = handler(app)
