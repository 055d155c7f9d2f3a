"""openapi.yaml is a valid OpenAPI 3.1 document and describes exactly the routes template.yaml deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from gateway.core.catalog import PROVIDERS
from gateway.security import credential_formats
from local.template import load_template, routes

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_STATUSES_WITH_BODY = ("400", "401", "402", "404", "413", "415", "422", "429", "502", "504")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert str(spec["openapi"]).startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_spec_and_template_declare_the_same_routes(spec: dict[str, Any]) -> None:
    # Given the routes API Gateway will serve and the operations the spec documents
    deployed = {(route.method, route.path) for route in routes(load_template())}
    documented = set(_operations(spec))

    # Then neither side has a route the other lacks (same {param} names included)
    assert deployed - documented == set(), "routes in template.yaml missing from openapi.yaml"
    assert documented - deployed == set(), "operations in openapi.yaml that template.yaml does not deploy"


def test_v1_routes_need_the_bearer_key_and_health_does_not(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    (name,) = [n for n, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}]
    (x_api_key,) = [n for n, s in schemes.items() if s == {**s, "type": "apiKey", "in": "header", "name": "x-api-key"}]
    assert spec["security"] == [{name: []}]
    for (method, path), operation in _operations(spec).items():
        if path.startswith("/v1/messages"):
            # Anthropic's clients send the key as x-api-key; the bearer header works too.
            assert operation["security"] == [{name: []}, {x_api_key: []}], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path} does not document 401"
        elif path.startswith("/v1/"):
            assert operation.get("security", spec["security"]) == [{name: []}], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path} does not document 401"
        else:
            assert operation.get("security") == [], f"{method} {path} should need no key"


def test_every_response_documents_x_request_id(spec: dict[str, Any]) -> None:
    for (method, path), operation in _operations(spec).items():
        for status, response in operation["responses"].items():
            headers = _resolve(spec, response).get("headers", {})
            header = _resolve(spec, headers.get("x-request-id", {}))
            assert header.get("required") is True, f"{method} {path} {status}"


def test_every_error_response_uses_the_one_error_schema_of_its_api(spec: dict[str, Any]) -> None:
    for (method, path), operation in _operations(spec).items():
        # The Messages routes answer in Anthropic's error shape, so the Anthropic SDKs raise their own classes.
        name = "AnthropicErrorBody" if path.startswith("/v1/messages") else "Error"
        error_ref = f"#/components/schemas/{name}"
        for status, response in operation["responses"].items():
            if status not in ERROR_STATUSES_WITH_BODY:
                continue
            content = _resolve(spec, response)["content"]
            assert content == {"application/json": {"schema": {"$ref": error_ref}}}, f"{method} {path} {status}"
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["message", "type", "code", "param"]
    assert error["additionalProperties"] is True


def test_chat_documents_the_upstream_failures_and_the_stream(spec: dict[str, Any]) -> None:
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert {"400", "401", "402", "404", "413", "415", "422", "429", "502", "504"} <= set(chat["responses"])
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A loader that refuses a mapping with the same key twice (YAML would keep the last one silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys = [loader.construct_object(key, deep=deep) for key, _ in node.value]
    duplicates = sorted({str(key) for key in keys if keys.count(key) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def test_spec_names_no_key_twice() -> None:
    # A second `Usage:` under components/schemas once replaced the first one without a word
    yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _without_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_titles(value) for key, value in node.items() if key != "title"}
    if isinstance(node, list):
        return [_without_titles(value) for value in node]
    return node


@pytest.mark.parametrize(
    ("component", "model"),
    [
        ("ApiKeyCredential", credential_formats.ApiKey),
        ("BedrockApiKeyCredential", credential_formats.BedrockApiKey),
        ("AwsAccessKeysCredential", credential_formats.AwsAccessKeys),
        ("ServiceAccountKeyCredential", credential_formats.ServiceAccountKey),
    ],
)
def test_credential_schemas_are_the_credential_models(spec: dict[str, Any], component: str, model: type) -> None:
    # Given the schema a credential model gives (what GET /v1/byok/providers serves)
    served = _without_titles(model.model_json_schema())
    # The token endpoints a deployment allows are its configuration, not part of the document
    served.get("properties", {}).get("token_uri", {}).pop("enum", None)

    # Then openapi.yaml documents that format exactly, and the request's credentials may take it
    assert spec["components"]["schemas"][component] == served
    assert {"$ref": f"#/components/schemas/{component}"} in spec["components"]["schemas"]["Credentials"]["anyOf"]


def test_every_credential_format_a_provider_takes_is_documented(spec: dict[str, Any]) -> None:
    documented = [_resolve(spec, option) for option in spec["components"]["schemas"]["Credentials"]["anyOf"]]
    for provider in PROVIDERS:
        for described in credential_formats.describe_formats(provider):
            schema = _without_titles(described["schema"])
            schema.get("properties", {}).get("token_uri", {}).pop("enum", None)
            assert schema in documented, f"{provider} {described['type']}"
