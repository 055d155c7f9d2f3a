"""local.invoke: how ``make invoke`` reads a function of template.yaml into what AWS's emulator runs."""

from __future__ import annotations

import json

import pytest

from local.handlers import LAYER_DIR, REPO_ROOT
from local.invoke import (
    LAMBDA_RUNTIME_DIR,
    PLACEHOLDER_AUTHORIZATION,
    InvokeError,
    StackAddresses,
    lambda_function,
    response_streamed,
    with_api_key,
)

STACK = StackAddresses(
    aws_endpoint_url="http://127.0.0.1:4566",
    region="us-east-1",
    accounts_table="accounts",
    logs_table="logs",
    routing_table="routing",
    kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/dev",
    simulator_url="http://127.0.0.1:9999",
)


def test_a_streamed_function_runs_behind_the_wrapper_from_the_layer_with_its_own_settings() -> None:
    chat = lambda_function("ChatFunction", STACK)

    assert chat.streamed
    assert chat.exec_wrapper == LAYER_DIR / "lambda-stream"
    assert chat.process_environment()["AWS_LAMBDA_EXEC_WRAPPER"] == str(LAYER_DIR / "lambda-stream")
    assert chat.bootstrap()[-3:] == ["-m", "awslambdaric", "app.lambda_handler"]
    assert chat.code_dir == REPO_ROOT / "functions" / "chat"
    assert (chat.timeout_s, chat.memory_mb) == (620, 512)
    environment = chat.environment
    assert environment["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "620"
    assert environment["PYTHONPATH"] == f"{LAYER_DIR}:{LAMBDA_RUNTIME_DIR}"
    assert environment["LAMBDA_TASK_ROOT"] == str(chat.code_dir)


def test_a_buffered_function_gets_the_dev_stack_s_addresses_and_no_wrapper() -> None:
    public = lambda_function("PublicFunction", STACK)

    assert not public.streamed
    assert public.exec_wrapper is None
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in public.process_environment()
    assert public.bootstrap()[-3:] == ["-m", "awslambdaric", "app.lambda_handler"]
    assert public.timeout_s == 60
    environment = public.environment
    assert environment["ACCOUNTS_TABLE"] == "accounts"
    assert environment["ROUTING_TABLE"] == "routing"
    assert environment["KMS_KEY_ARN"] == STACK.kms_key_arn
    assert environment["AWS_ENDPOINT_URL"] == STACK.aws_endpoint_url
    assert environment["UPSTREAM_OPENAI_URL"] == "http://127.0.0.1:9999/openai/v1"
    assert environment["STAGE"] == "dev"


def test_an_unknown_function_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvokeError, match="ChatFunction"):
        lambda_function("ChatFuntion", STACK)


def test_only_the_placeholder_key_of_an_event_is_replaced() -> None:
    event = json.loads((REPO_ROOT / "events" / "keys_list.json").read_text())
    assert event["headers"]["Authorization"] == PLACEHOLDER_AUTHORIZATION

    replaced = with_api_key(event, "gwk_0123456789abcdef_secret")
    own = {**event, "headers": {**event["headers"], "Authorization": "Bearer mine"}}

    assert replaced["headers"]["Authorization"] == "Bearer gwk_0123456789abcdef_secret"
    assert replaced["multiValueHeaders"]["Authorization"] == ["Bearer gwk_0123456789abcdef_secret"]
    assert with_api_key(own, "gwk_0123456789abcdef_secret") == own
    assert with_api_key(event, None) == event


def test_a_misspelt_response_transfer_mode_is_refused_rather_than_buffered() -> None:
    events = {"Chat": {"Type": "Api", "Properties": {"Path": "/v1/chat", "ResponseTransferMode": "RESPONSE_STREAMING"}}}

    with pytest.raises(InvokeError, match="RESPONSE_STREAMING"):
        response_streamed({"Events": events})
