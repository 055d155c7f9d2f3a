"""template.yaml: what a deploy relies on (routes, timeouts, least privilege, retention, tables).

The template is read through local.template, the same reader the dev stack uses, so these tests also pin
that reader to what the template declares.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file

from local.template import (
    TEMPLATE_PATH,
    Route,
    function_environment,
    kms_alias,
    load_template,
    parameter_defaults,
    routes,
    stream_consumers,
    tables,
)

REPO_ROOT = TEMPLATE_PATH.parent

CONTRACT_ROUTES = {
    ("GET", "/health"): "PublicFunction",
    ("GET", "/v1/models"): "PublicFunction",
    ("GET", "/v1/models/{model_id+}"): "PublicFunction",
    ("POST", "/v1/chat/completions"): "ChatFunction",
    ("GET", "/v1/account"): "KeysFunction",
    ("POST", "/v1/messages"): "MessagesFunction",
    ("POST", "/v1/messages/count_tokens"): "MessagesFunction",
    ("POST", "/v1/embeddings"): "EmbeddingsFunction",
    ("POST", "/v1/responses"): "ResponsesFunction",
    ("GET", "/v1/responses/{response_id}"): "ResponsesFunction",
    ("DELETE", "/v1/responses/{response_id}"): "ResponsesFunction",
    ("GET", "/v1/responses/{response_id}/input_items"): "ResponsesFunction",
    ("GET", "/v1/byok/providers"): "KeysFunction",
    ("GET", "/v1/byok/keys"): "KeysFunction",
    ("POST", "/v1/byok/keys"): "KeysFunction",
    ("GET", "/v1/byok/keys/{key_id}"): "KeysFunction",
    ("PATCH", "/v1/byok/keys/{key_id}"): "KeysFunction",
    ("DELETE", "/v1/byok/keys/{key_id}"): "KeysFunction",
    ("POST", "/v1/byok/keys/{key_id}/test"): "KeyTestFunction",
    ("PATCH", "/v1/account"): "KeysFunction",
    ("GET", "/v1/api-keys"): "KeysFunction",
    ("POST", "/v1/api-keys"): "KeysFunction",
    ("GET", "/v1/api-keys/{key_id}"): "KeysFunction",
    ("PATCH", "/v1/api-keys/{key_id}"): "KeysFunction",
    ("DELETE", "/v1/api-keys/{key_id}"): "KeysFunction",
    ("GET", "/v1/logs"): "LogsFunction",
    ("GET", "/v1/logs/{request_id}"): "LogsFunction",
    ("GET", "/v1/usage"): "LogsFunction",
    ("GET", "/dashboard"): "DashboardFunction",
    ("GET", "/dashboard/{asset}"): "DashboardFunction",
}

CONTRACT_ENVIRONMENT = {
    "STAGE",
    "ACCOUNTS_TABLE",
    "LOGS_TABLE",
    "ROUTING_TABLE",
    "HEALTH_WINDOW_S",
    "KMS_KEY_ARN",
    "LOG_TTL_DAYS",
    "REQUEST_DEADLINE_MS",
    "MAX_KEYS_PER_ACCOUNT",
    "MAX_API_KEYS_PER_ACCOUNT",
    "MAX_ATTEMPTS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "UPSTREAM_OPENAI_URL",
    "UPSTREAM_DEEPSEEK_URL",
    "UPSTREAM_ANTHROPIC_URL",
    "UPSTREAM_GOOGLE_AI_STUDIO_URL",
    "UPSTREAM_AMAZON_BEDROCK_URL",
    "UPSTREAM_GOOGLE_VERTEX_URL",
    "GOOGLE_TOKEN_URI_ALLOWLIST",
    "RESPONSES_STORE",
    "RESPONSES_TTL_DAYS",
}

# What each SAM policy template grants, as (action, the template's resource argument).
POLICY_TEMPLATE_ACTIONS = {
    "DynamoDBReadPolicy": (
        "TableName",
        {
            "dynamodb:GetItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
        },
    ),
    "DynamoDBWritePolicy": (
        "TableName",
        {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
    ),
    "DynamoDBCrudPolicy": (
        "TableName",
        {
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
        },
    ),
    "KMSDecryptPolicy": ("KeyId", {"kms:Decrypt"}),
    "KMSEncryptPolicy": ("KeyId", {"kms:Encrypt"}),
}
DYNAMODB_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def _target(resource: Any) -> str:
    """The logical id a policy resource points at, or the literal ARN/wildcard."""
    if isinstance(resource, dict):
        if "Ref" in resource:
            return str(resource["Ref"])
        if "Fn::GetAtt" in resource:
            return str(resource["Fn::GetAtt"][0])
    return str(resource)


def _grants(function: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (action, target) a function's Policies grant; unknown policy kinds fail loudly."""
    granted: set[tuple[str, str]] = set()
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            for statement in policy["Statement"]:
                assert statement["Effect"] == "Allow", statement
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                granted |= {(action, _target(target)) for action in actions for target in targets}
            continue
        assert isinstance(policy, dict), f"managed policy {policy!r}: list its actions here or inline it"
        assert len(policy) == 1, f"unexpected policy {policy!r}"
        ((name, arguments),) = policy.items()
        assert name in POLICY_TEMPLATE_ACTIONS, f"teach this test what {name} grants"
        argument, actions = POLICY_TEMPLATE_ACTIONS[name]
        granted |= {(action, _target(arguments[argument])) for action in actions}
    return granted


@pytest.fixture(scope="module")
def grants(template: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    return {name: _grants(fn) for name, fn in _resources(template, "AWS::Serverless::Function").items()}


def _holders(grants: dict[str, set[tuple[str, str]]], actions: set[str], target: str | None = None) -> set[str]:
    return {
        function
        for function, granted in grants.items()
        if any(action in actions and (target is None or on == target) for action, on in granted)
    }


def test_cfn_lint_finds_no_errors_or_warnings() -> None:
    problems = [m for m in lint_file(TEMPLATE_PATH) if m.rule.id[0] in "EW"]

    assert not problems, "\n".join(f"{m.rule.id} line {m.linenumber}: {m.message}" for m in problems)


def test_api_is_a_rest_api_and_every_route_goes_through_it(template: dict[str, Any]) -> None:
    assert not _resources(template, "AWS::Serverless::HttpApi")
    assert not _resources(template, "AWS::ApiGatewayV2::Api")
    assert list(_resources(template, "AWS::Serverless::Api")) == ["Api"]

    for name, function in _resources(template, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":  # the usage aggregator reads the logs stream, it serves no route
                assert name == "UsageFunction"
                continue
            assert event["Type"] == "Api"
            assert event["Properties"]["RestApiId"] == {"Ref": "Api"}


def test_every_contract_route_is_declared_exactly_once_on_the_right_function(
    template: dict[str, Any],
) -> None:
    declared = routes(template)

    counts = Counter((r.method, r.path) for r in declared)
    assert {route: n for route, n in counts.items() if n > 1} == {}
    assert {(r.method, r.path): r.function for r in declared} == CONTRACT_ROUTES


STREAMED_ROUTES = {
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/v1/embeddings"),  # not streamed: the integration whose timeout holds the request deadline
    # The Responses function runs the streaming loop, so its reads of stored responses stream too.
    ("POST", "/v1/responses"),
    ("GET", "/v1/responses/{response_id}"),
    ("DELETE", "/v1/responses/{response_id}"),
    ("GET", "/v1/responses/{response_id}/input_items"),
}
STREAMING_WRAPPER = "/opt/python/lambda-stream"


def _api_events(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, event["Properties"])
        for name, function in _resources(template, "AWS::Serverless::Function").items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    ]


def _function_seconds(template: dict[str, Any], name: str) -> int:
    defaults = parameter_defaults(template)
    timeout = template["Resources"][name]["Properties"].get("Timeout", template["Globals"]["Function"]["Timeout"])
    return int(defaults[timeout["Ref"]]) if isinstance(timeout, dict) else int(timeout)


def test_chat_and_messages_stream_and_every_other_route_is_buffered(template: dict[str, Any]) -> None:
    streamed = {(p["Method"].upper(), p["Path"]) for _, p in _api_events(template) if p.get("ResponseTransferMode")}

    assert streamed == STREAMED_ROUTES
    for _, properties in _api_events(template):
        if (properties["Method"].upper(), properties["Path"]) in STREAMED_ROUTES:
            # A literal: the SAM translator switches to response-streaming-invocations only on this exact value.
            assert properties["ResponseTransferMode"] == "RESPONSE_STREAM"


def test_exactly_the_streaming_functions_start_the_streaming_runtime_loop(template: dict[str, Any]) -> None:
    # The loop answers in the streaming integration's format, which a buffered integration cannot read.
    wrapped = {
        name
        for name in _resources(template, "AWS::Serverless::Function")
        if function_environment(template, name).get("AWS_LAMBDA_EXEC_WRAPPER") == STREAMING_WRAPPER
    }
    streaming = {name for name, p in _api_events(template) if p.get("ResponseTransferMode") == "RESPONSE_STREAM"}

    assert wrapped == streaming == {"ChatFunction", "MessagesFunction", "EmbeddingsFunction", "ResponsesFunction"}
    for name, properties in _api_events(template):
        assert (name in wrapped) == (properties.get("ResponseTransferMode") == "RESPONSE_STREAM"), name
    for name in set(_resources(template, "AWS::Serverless::Function")) - wrapped:
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in function_environment(template, name), name


def test_the_wrapper_ships_in_the_layer_where_lambda_looks_for_it(template: dict[str, Any]) -> None:
    # BuildMethod python3.13 puts the layer directory's files under python/, which Lambda mounts at /opt/python.
    layer = template["Resources"]["GatewayLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    script = REPO_ROOT / layer["Properties"]["ContentUri"] / STREAMING_WRAPPER.removeprefix("/opt/python/")

    assert script.is_file()
    assert os.access(script, os.X_OK)
    assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert "-m gateway.http.lambda_runtime" in script.read_text(encoding="utf-8")


def test_routes_use_their_transfer_modes_integration_timeout(template: dict[str, Any]) -> None:
    timeouts = {(r.method, r.path): r.timeout_ms_param for r in routes(template)}

    assert {timeouts.pop(route) for route in STREAMED_ROUTES} == {"StreamingIntegrationTimeoutMs"}
    assert set(timeouts.values()) == {"IntegrationTimeoutMs"}


def test_default_timeouts_nest_deadline_inside_integration_inside_lambda(template: dict[str, Any]) -> None:
    defaults = parameter_defaults(template)
    buffered_ms = int(defaults["IntegrationTimeoutMs"])
    streaming_ms = int(defaults["StreamingIntegrationTimeoutMs"])
    deadline_ms = int(defaults["RequestDeadlineMs"])

    assert deadline_ms == 600_000, "the contract's default request deadline is 10 minutes"
    assert deadline_ms <= streaming_ms - 5000
    assert streaming_ms <= 900_000, "API Gateway streams a response for at most 15 minutes"
    assert buffered_ms <= 29000, "above 29 s needs a quota increase; the default must deploy anywhere"
    assert template["Globals"]["Function"]["Timeout"] == {"Ref": "FunctionTimeoutSeconds"}
    for name, properties in _api_events(template):
        integration_ms = int(defaults[properties["TimeoutInMillis"]["Ref"]])
        seconds = _function_seconds(template, name)
        assert seconds * 1000 > integration_ms, f"{name} would be killed while API Gateway still waits"
        assert seconds <= 900


def test_the_key_test_path_keeps_its_short_timeout(template: dict[str, Any]) -> None:
    (route,) = [r for r in routes(template) if r.function == "KeyTestFunction"]

    assert route.timeout_ms_param == "IntegrationTimeoutMs"
    assert _function_seconds(template, "KeyTestFunction") <= 30


def test_samconfig_prod_overrides_keep_the_timeouts_nested() -> None:
    import tomllib

    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    overrides = dict(
        item.split("=", 1) for item in config["prod"]["deploy"]["parameters"]["parameter_overrides"].split()
    )

    assert int(overrides["RequestDeadlineMs"]) < int(overrides["StreamingIntegrationTimeoutMs"])
    assert int(overrides["StreamingIntegrationTimeoutMs"]) < int(overrides["ChatFunctionTimeoutSeconds"]) * 1000
    assert int(overrides["IntegrationTimeoutMs"]) < int(overrides["FunctionTimeoutSeconds"]) * 1000


def test_every_function_gets_the_contract_environment(template: dict[str, Any]) -> None:
    defaults = parameter_defaults(template)

    for name in _resources(template, "AWS::Serverless::Function"):
        environment = function_environment(template, name)
        assert set(environment) >= CONTRACT_ENVIRONMENT, name
        assert environment["REQUEST_DEADLINE_MS"] == {"Ref": "RequestDeadlineMs"}
        for variable in CONTRACT_ENVIRONMENT:
            if variable.startswith("UPSTREAM_") or variable == "GOOGLE_TOKEN_URI_ALLOWLIST":
                # Empty means "the code's built-in default"; a default here would override the contract's.
                assert defaults[environment[variable]["Ref"]] == "", variable


def test_only_the_routing_functions_and_key_test_can_decrypt_credentials(
    grants: dict[str, set[tuple[str, str]]],
) -> None:
    assert _holders(grants, {"kms:Decrypt", "kms:*"}) == {
        "ChatFunction",
        "MessagesFunction",
        "ResponsesFunction",
        "EmbeddingsFunction",
        "KeyTestFunction",
    }


def test_only_keys_can_encrypt_credentials(template: dict[str, Any], grants: dict[str, set[tuple[str, str]]]) -> None:
    assert _holders(grants, {"kms:GenerateDataKey", "kms:Encrypt", "kms:*"}) == {"KeysFunction", "ResponsesFunction"}
    assert ("kms:GenerateDataKey", "GatewayKey") in grants["KeysFunction"]
    assert ("kms:Encrypt", "GatewayKey") in grants["KeysFunction"]

    def encrypting_statement(function: str) -> dict[str, Any]:
        [statement] = [
            statement
            for policy in template["Resources"][function]["Properties"]["Policies"]
            if isinstance(policy, dict) and "Statement" in policy
            for statement in policy["Statement"]
            if "kms:GenerateDataKey" in statement["Action"]
        ]
        return dict(statement)

    # Each encrypts its own data only: its grant is bound to that data's encryption context, so neither can mint
    # a ciphertext that would pass for the other's.
    keys, responses = encrypting_statement("KeysFunction"), encrypting_statement("ResponsesFunction")
    assert keys["Condition"] == {"StringEquals": {"kms:EncryptionContext:purpose": "byok-gateway/credentials"}}
    assert responses["Action"] == "kms:GenerateDataKey"
    assert responses["Condition"] == {"StringEquals": {"kms:EncryptionContext:purpose": "byok-gateway/responses"}}


def test_only_the_responses_function_touches_stored_responses(
    grants: dict[str, set[tuple[str, str]]], template: dict[str, Any]
) -> None:
    s3 = {(fn, action) for fn, granted in grants.items() for action, _ in granted if action.startswith("s3:")}
    assert s3 == {("ResponsesFunction", a) for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")}
    bucket = template["Resources"]["ResponsesBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["GatewayKey", "Arn"]},
    }
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "ResponsesTtlDays"}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["RESPONSES_TTL_DAYS"] == {
        "Ref": "ResponsesTtlDays"
    }


def test_table_writers_are_exactly_the_functions_that_need_to_write(
    grants: dict[str, set[tuple[str, str]]],
) -> None:
    assert _holders(grants, DYNAMODB_WRITES, "AccountsTable") == {
        "ChatFunction",
        "MessagesFunction",
        "EmbeddingsFunction",
        "ResponsesFunction",
        "KeysFunction",
        "KeyTestFunction",
    }
    # The chat and messages functions write request records; the usage function only ADDs into hourly buckets.
    assert _holders(grants, DYNAMODB_WRITES, "LogsTable") == {
        "ChatFunction",
        "MessagesFunction",
        "EmbeddingsFunction",
        "ResponsesFunction",
        "UsageFunction",
    }
    assert {action for action, _ in grants["UsageFunction"]} == {"dynamodb:UpdateItem"}
    assert _holders(grants, DYNAMODB_WRITES, "RoutingTable") == {
        "ChatFunction",
        "MessagesFunction",
        "EmbeddingsFunction",
        "ResponsesFunction",
    }
    assert "LogsFunction" not in _holders(grants, DYNAMODB_WRITES)
    assert "PublicFunction" not in _holders(grants, DYNAMODB_WRITES)


def test_no_function_policy_uses_wildcards(grants: dict[str, set[tuple[str, str]]]) -> None:
    # X-Ray's PutTraceSegments needs Resource "*"; SAM adds it from Tracing: Active, not from these Policies.
    wildcards = {
        (function, action, target)
        for function, granted in grants.items()
        for action, target in granted
        if "*" in action or "*" in target
    }

    # The one exception: the responses function's object actions, on its bucket's responses/ prefix only.
    prefix = str({"Fn::Sub": "${ResponsesBucket.Arn}/responses/*"})
    assert wildcards == {
        ("ResponsesFunction", action, prefix) for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
    }


def test_kms_key_rotates_and_its_policy_only_delegates_to_the_account(template: dict[str, Any]) -> None:
    key = template["Resources"]["GatewayKey"]
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    assert [s["Principal"] for s in statements] == [
        {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    ]
    assert kms_alias(template, "prod") == "alias/byok-gateway-prod"
    assert kms_alias(template, "dev") == "alias/byok-gateway-dev"


def test_every_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    log_groups = _resources(template, "AWS::Logs::LogGroup")
    used: list[str] = []

    for name, function in _resources(template, "AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        used.append(group)
        assert group in log_groups, name
        assert log_groups[group]["Properties"]["LogGroupName"] == {
            "Fn::Sub": "/aws/lambda/" + function["Properties"]["FunctionName"]["Fn::Sub"]
        }
    assert len(used) == len(set(used))
    for name, group in log_groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_access_logs_go_to_a_retained_group(template: dict[str, Any]) -> None:
    destination = template["Resources"]["Api"]["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::Sub"]

    assert destination.endswith(":log-group:${ApiAccessLogGroup}")
    assert "RetentionInDays" in template["Resources"]["ApiAccessLogGroup"]["Properties"]


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("DEFAULT_4XX", None),
        ("DEFAULT_5XX", None),
        ("MISSING_AUTHENTICATION_TOKEN", "404"),
        ("THROTTLED", "429"),
    ],
)
def test_gateway_errors_use_the_openai_shape_and_carry_the_request_id(
    template: dict[str, Any], response_type: str, status: str | None
) -> None:
    response = template["Resources"]["Api"]["Properties"]["GatewayResponses"][response_type]
    # API Gateway substitutes $context variables; messageString arrives already JSON-quoted.
    body = response["ResponseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Missing Authentication Token"'
    )

    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["param"] is None
    assert isinstance(error["message"], str)
    assert response.get("StatusCode") == status
    assert response["ResponseParameters"]["Headers"]["x-request-id"] == "context.requestId"


def test_every_gateway_response_renders_valid_json(template: dict[str, Any]) -> None:
    for name, response in template["Resources"]["Api"]["Properties"]["GatewayResponses"].items():
        body = re.sub(r"\$context\.error\.messageString", '"m"', response["ResponseTemplates"]["application/json"])
        assert "$context" not in body, f"{name}: only messageString is JSON-safe"
        assert json.loads(body)["error"]["type"], name


def test_tables_are_on_demand_recoverable_encrypted_and_retained(template: dict[str, Any]) -> None:
    for name, table in _resources(template, "AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", name
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert properties["SSESpecification"]["SSEEnabled"] is True, name
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain", name


def test_usage_function_reads_only_new_request_records_of_the_logs_stream(template: dict[str, Any]) -> None:
    (consumer,) = stream_consumers(template)
    event = template["Resources"]["UsageFunction"]["Properties"]["Events"]["RequestRecords"]["Properties"]
    (pattern,) = [json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]]

    assert (consumer.function, consumer.table, consumer.code_dir) == ("UsageFunction", "LogsTable", "functions/usage")
    assert {spec.logical_id: spec.stream_view_type for spec in tables(template)}["LogsTable"] == "NEW_IMAGE"
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "acct_"}]}}}}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_tables_reader_returns_the_declared_keys_and_ttl(template: dict[str, Any]) -> None:
    specs = {spec.logical_id: spec for spec in tables(template)}
    pk_sk = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]

    assert set(specs) == {"AccountsTable", "LogsTable", "RoutingTable"}
    for spec in specs.values():
        assert spec.key_schema == pk_sk
        # Accounts: only BYOK key cooldown items carry expires_at; logs and routing signals all expire.
        assert spec.ttl_attribute == "expires_at"
    # Every declared attribute is a key: the table's own, or the one index key of each logs filter combination.
    filter_indexes = {
        "by_status",
        "by_byok",
        "by_byok_status",
        "by_key",
        "by_key_status",
        "by_key_byok",
        "by_key_byok_status",
    }
    for spec in specs.values():
        indexes = {i["IndexName"]: i for i in spec.global_secondary_indexes}
        assert {d["AttributeName"]: d["AttributeType"] for d in spec.attribute_definitions} == {
            "pk": "S",
            "sk": "S",
            **dict.fromkeys(indexes, "S"),
        }
        for name, index in indexes.items():
            assert index["KeySchema"] == [
                {"AttributeName": name, "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ]
    assert (
        set(
            specs["LogsTable"].global_secondary_indexes
            and [i["IndexName"] for i in specs["LogsTable"].global_secondary_indexes]
        )
        == filter_indexes
    )


def test_the_logs_function_reads_the_logs_indexes_and_nothing_more(template: dict[str, Any]) -> None:
    # SAM's DynamoDBReadPolicy grants the table and its indexes (table/<name>/index/*) for reads only.
    policies = template["Resources"]["LogsFunction"]["Properties"]["Policies"]

    assert {"DynamoDBReadPolicy": {"TableName": {"Ref": "LogsTable"}}} in policies
    assert not [p for p in policies if "Statement" in p]


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: its own, or each MetricStat of its metric math."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [properties]
    return [m["MetricStat"]["Metric"] for m in properties["Metrics"] if "MetricStat" in m]


def test_custom_metric_alarms_watch_what_the_code_emits(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    watched = [
        metric
        for alarm in _resources(template, "AWS::CloudWatch::Alarm").values()
        for metric in _alarm_metrics(alarm)
        if metric["Namespace"] != "AWS/ApiGateway"
    ]

    assert {m["MetricName"] for m in watched} == {"Requests", "Fallbacks", "LogWriteFailures", "ByokSpillover"}
    for metric in watched:
        assert metric["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
        assert metric["Dimensions"] == [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]


@pytest.mark.parametrize("code_dir", sorted({r.code_dir for r in routes(load_template())}))
def test_every_code_uri_is_a_handler_directory(code_dir: str) -> None:
    assert (REPO_ROOT / code_dir / "app.py").is_file(), f"{code_dir}/app.py is missing"


def test_the_layer_holds_the_gateway_package_and_its_requirements(template: dict[str, Any]) -> None:
    layer = REPO_ROOT / template["Resources"]["GatewayLayer"]["Properties"]["ContentUri"]

    assert (layer / "requirements.txt").is_file()
    assert (layer / "gateway" / "__init__.py").is_file()


def test_loader_reads_short_tags_as_their_long_form(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Version: 2012-10-17
Globals:
  Function:
    CodeUri: src/
    Environment:
      Variables: {SHARED: !Ref Shared, OVERRIDDEN: global}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          OVERRIDDEN: !Sub "${AWS::Region}-x"
          ARN: !GetAtt Table.Arn
          PICK: !If [IsProd, !Select [0, !Split [",", "a,b"]], !Join ["", [a, b]]]
      Events:
        Get:
          Type: Api
          Properties: {Path: /x, Method: get, TimeoutInMillis: 1000}
""",
        encoding="utf-8",
    )

    loaded = load_template(path)

    assert loaded["Version"] == "2012-10-17"
    assert function_environment(loaded, "Fn") == {
        "SHARED": {"Ref": "Shared"},
        "OVERRIDDEN": {"Fn::Sub": "${AWS::Region}-x"},
        "ARN": {"Fn::GetAtt": ["Table", "Arn"]},
        "PICK": {
            "Fn::If": [
                "IsProd",
                {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
                {"Fn::Join": ["", ["a", "b"]]},
            ]
        },
    }
    assert routes(loaded) == [Route(method="GET", path="/x", function="Fn", code_dir="src", timeout_ms_param=None)]
