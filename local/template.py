"""Read template.yaml so the dev stack and the tests follow it instead of restating it.

Intrinsics come back in their long JSON form (``!Ref X`` is ``{"Ref": "X"}``, ``!Sub s`` is
``{"Fn::Sub": s}``) and stay unresolved, except where a function below says it resolves them.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"

_FN_TAGS = (
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Select",
    "Join",
    "Split",
    "FindInMap",
    "ImportValue",
    "Not",
    "And",
    "Or",
    "Base64",
    "Cidr",
    "GetAZs",
)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation's short-form intrinsic tags.

    Dates stay strings, as CloudFormation reads them (``Version: 2012-10-17`` is not a date).
    """

    yaml_implicit_resolvers = {
        first: [resolver for resolver in resolvers if resolver[0] != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _node_value(loader: CloudFormationLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node.tag}", node.start_mark)


def _register(tag: str, key: str) -> None:
    def construct(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
        value = _node_value(loader, node)
        if key == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {key: value}

    CloudFormationLoader.add_constructor(f"!{tag}", construct)


_register("Ref", "Ref")
_register("Condition", "Condition")
for _tag in _FN_TAGS:
    _register(_tag, f"Fn::{_tag}")


@dataclass(frozen=True)
class Route:
    """One API Gateway route: ``method`` upper-case, ``path`` as declared (``/v1/byok/keys/{key_id}``)."""

    method: str
    path: str
    function: str
    code_dir: str
    timeout_ms_param: str | None


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    key_schema: list[dict[str, Any]]
    attribute_definitions: list[dict[str, Any]]
    ttl_attribute: str | None
    stream_view_type: str | None = None
    global_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StreamConsumer:
    """A function fed by a table's DynamoDB stream (an event source mapping in AWS)."""

    function: str
    code_dir: str
    table: str
    batch_size: int


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The parsed template; ``path`` defaults to the repository's template.yaml. Each caller gets its own copy."""
    resolved = (path or TEMPLATE_PATH).resolve()
    return copy.deepcopy(_parse(resolved, resolved.stat().st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _parse(path: Path, _mtime_ns: int) -> dict[str, Any]:
    """Parsing takes a quarter of a second; tests and the dev stack read the template many times."""
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError("template.yaml is not a mapping")
    return document


def _resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def _function_globals(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template.get("Globals", {}).get("Function", {}))


def routes(template: dict[str, Any]) -> list[Route]:
    """Every Api event of every AWS::Serverless::Function, in template order."""
    global_code_uri = _function_globals(template).get("CodeUri")
    found: list[Route] = []
    for logical_id, function in _resources_of_type(template, "AWS::Serverless::Function").items():
        properties = function.get("Properties", {})
        code_uri = properties.get("CodeUri", global_code_uri)
        if not isinstance(code_uri, str):
            raise ValueError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
        for event in properties.get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            event_properties = event["Properties"]
            timeout = event_properties.get("TimeoutInMillis")
            timeout_param = timeout.get("Ref") if isinstance(timeout, dict) else None
            found.append(
                Route(
                    method=str(event_properties["Method"]).upper(),
                    path=str(event_properties["Path"]),
                    function=logical_id,
                    code_dir=code_uri.rstrip("/"),
                    timeout_ms_param=timeout_param,
                )
            )
    return found


def tables(template: dict[str, Any]) -> list[TableSpec]:
    """Every AWS::DynamoDB::Table, with its keys and TTL attribute (None when TTL is off)."""
    found: list[TableSpec] = []
    for logical_id, table in _resources_of_type(template, "AWS::DynamoDB::Table").items():
        properties = table.get("Properties", {})
        ttl = properties.get("TimeToLiveSpecification") or {}
        found.append(
            TableSpec(
                logical_id=logical_id,
                key_schema=list(properties.get("KeySchema", [])),
                attribute_definitions=list(properties.get("AttributeDefinitions", [])),
                ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") is True else None,
                stream_view_type=(properties.get("StreamSpecification") or {}).get("StreamViewType"),
                global_secondary_indexes=list(properties.get("GlobalSecondaryIndexes", [])),
            )
        )
    return found


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    expiration_days_param: str | None  # the parameter its lifecycle rule's ExpirationInDays refers to


def buckets(template: dict[str, Any]) -> list[BucketSpec]:
    """Every AWS::S3::Bucket, with the parameter behind its expiration rule (None when it has none)."""
    found: list[BucketSpec] = []
    for logical_id, bucket in _resources_of_type(template, "AWS::S3::Bucket").items():
        rules = (bucket.get("Properties", {}).get("LifecycleConfiguration") or {}).get("Rules", [])
        days = next((rule.get("ExpirationInDays") for rule in rules if "ExpirationInDays" in rule), None)
        found.append(BucketSpec(logical_id, days.get("Ref") if isinstance(days, dict) else None))
    return found


def stream_consumers(template: dict[str, Any]) -> list[StreamConsumer]:
    """Every DynamoDB event of every function whose stream is ``!GetAtt <Table>.StreamArn``."""
    global_code_uri = _function_globals(template).get("CodeUri")
    found: list[StreamConsumer] = []
    for logical_id, function in _resources_of_type(template, "AWS::Serverless::Function").items():
        properties = function.get("Properties", {})
        code_uri = str(properties.get("CodeUri", global_code_uri))
        for event in properties.get("Events", {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            stream = event["Properties"]["Stream"]
            if not (isinstance(stream, dict) and "Fn::GetAtt" in stream and stream["Fn::GetAtt"][1] == "StreamArn"):
                raise ValueError(f"{logical_id}: Stream must be !GetAtt <Table>.StreamArn, got {stream!r}")
            found.append(
                StreamConsumer(
                    function=logical_id,
                    code_dir=code_uri.rstrip("/"),
                    table=str(stream["Fn::GetAtt"][0]),
                    batch_size=int(event["Properties"].get("BatchSize", 100)),
                )
            )
    return found


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    """Each parameter's default as CloudFormation passes it: a string (numbers included)."""
    return {
        name: str(parameter["Default"])
        for name, parameter in template.get("Parameters", {}).items()
        if "Default" in parameter
    }


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def _substitute(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in values:
            raise ValueError(f"cannot resolve ${{{name}}} in {text!r}")
        return values[name]

    return _SUB_VARIABLE.sub(replace, text)


def kms_alias(template: dict[str, Any], stage: str) -> str:
    """The stack's KMS alias name for ``stage``, e.g. ``alias/byok-gateway-dev``."""
    aliases = _resources_of_type(template, "AWS::KMS::Alias")
    if len(aliases) != 1:
        raise ValueError(f"expected exactly one AWS::KMS::Alias, found {sorted(aliases)}")
    name = next(iter(aliases.values()))["Properties"]["AliasName"]
    if isinstance(name, str):
        return name
    if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
        return _substitute(name["Fn::Sub"], {**parameter_defaults(template), "Stage": stage})
    raise ValueError(f"unsupported AliasName {name!r}")


def function_environment(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The function's environment: Globals merged with its own variables (its own win), intrinsics raw."""
    functions = _resources_of_type(template, "AWS::Serverless::Function")
    if logical_id not in functions:
        raise KeyError(f"{logical_id} is not an AWS::Serverless::Function in the template")
    global_variables = _function_globals(template).get("Environment", {}).get("Variables", {})
    own = functions[logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {**global_variables, **own}
