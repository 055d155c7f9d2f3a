"""``make admin ARGS="..."``: operator commands against the running dev stack or a deployed stack.

    create-account --name NAME --credits USD            -> {"account_id", "api_key"}
    add-credits --account ACCOUNT_ID --credits USD      -> {"account_id", "credits", "debt"} (pays the debt first)
    set-platform-key --provider SLUG --credentials-file F [--region R]
                                                        -> {"provider", "hint", "region"}
    list-accounts          -> {"data": [{"account_id", "name", "credits", "debt", "created_at"}]}
    reencrypt-credentials  -> {"rewritten", "current", "changed_meanwhile", "undecryptable"} (BYOK and platform
                              credentials the Encryption SDK stored before issue 24, rewritten in today's format;
                              needs kms:Decrypt and kms:Encrypt on the stack's key)
    create-api-key --account ACCOUNT_ID [--name N] [--ordinary] [--rate-limit-rpm N] [--allowed-model ID ...]
                   [--expires-at ISO]                   -> {"account_id", "api_key", "id"}  (a management key
                                                           unless --ordinary; e.g. to rotate)
    list-api-keys --account ACCOUNT_ID                   -> {"data": [{"id", "fingerprint", "name", "management",
                                                           "rate_limit_rpm", "allowed_models", "expires_at",
                                                           "created_at", "last_used_at", "revoked", ...}]}
    revoke-api-key --account ACCOUNT_ID --fingerprint FP -> {"account_id", "fingerprint", "revoked": true}
    set-shared-limit --account ACCOUNT_ID --usd USD --period day|week|month
                                                        -> {"account_id", "shared_limit": {"usd", "period", "spent"}}
    show-shared-limit --account ACCOUNT_ID               -> the same; "shared_limit" is null when none is set
    clear-shared-limit --account ACCOUNT_ID              -> {"account_id", "shared_limit": null}
        (the account's cap on shared-capacity spend per UTC period, as ``PATCH /v1/account`` sets it; past it
        shared capacity is refused and BYOK keys still serve)

Without ``--stack`` the target is the dev stack described by .devstack/state.json (or ``--state`` /
``$DEVSTACK_STATE``); ``--stack NAME [--region R]`` reads the table names and KMS key from that CloudFormation
stack's outputs and uses the caller's AWS credentials. Credits are exact decimals and print as JSON numbers.
Mistakes exit 2 with a message on stderr; credentials are never echoed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from local.devstack import DEFAULT_STATE_PATH, STATE_ENV, DevState, pid_alive
from local.handlers import ensure_layer_importable

STACK_OUTPUTS = {"AccountsTableName": "ACCOUNTS_TABLE", "LogsTableName": "LOGS_TABLE", "KmsKeyArn": "KMS_KEY_ARN"}


class AdminError(Exception):
    """A user mistake or an unreachable target, reported without a traceback."""


def to_json(value: Any) -> str:
    """JSON where a Decimal prints as the exact number it holds (json.dumps would need a float)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def usd(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number of USD") from None
    if not amount.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite amount")
    return amount


def _parser() -> argparse.ArgumentParser:
    # Target options are accepted before or after the subcommand, except that set-platform-key's own
    # --region is the key's region: give the stack's region before the subcommand there.
    stack_only = argparse.ArgumentParser(add_help=False)
    stack_only.add_argument("--stack", default=argparse.SUPPRESS, help="deployed CloudFormation stack name")
    stack_only.add_argument("--state", default=argparse.SUPPRESS, help="dev stack state file")
    target = argparse.ArgumentParser(add_help=False, parents=[stack_only])
    target.add_argument("--region", default=argparse.SUPPRESS, help="AWS region of --stack")

    parser = argparse.ArgumentParser(prog="make admin ARGS=", description=__doc__.split("\n")[0], parents=[target])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create-account", parents=[target], help="create a customer and its API key")
    create.add_argument("--name", required=True)
    create.add_argument("--credits", required=True, type=usd, help="starting credits in USD")

    add = commands.add_parser("add-credits", parents=[target], help="add (or, negative, take) credits")
    add.add_argument("--account", required=True, help="account id (acct_...)")
    add.add_argument("--credits", required=True, type=usd, help="USD to add")

    platform = commands.add_parser(
        "set-platform-key", parents=[stack_only], help="store the shared-capacity credentials of a provider"
    )
    platform.add_argument("--region", dest="key_region", help="region of a Bedrock or Vertex key")
    platform.add_argument("--provider", required=True, help="provider slug, e.g. openai")
    platform.add_argument(
        "--credentials-file", required=True, type=Path, help="file holding an API key or credentials JSON"
    )

    commands.add_parser("list-accounts", parents=[target], help="every customer account")
    commands.add_parser(
        "reencrypt-credentials",
        parents=[target],
        help="rewrite credentials the Encryption SDK stored in today's format",
    )

    for name, help_text in (
        ("create-api-key", "mint another gateway API key for an account (shown once)"),
        ("list-api-keys", "an account's gateway keys, by fingerprint"),
        ("revoke-api-key", "revoke one gateway key; requests with it get 401 at once"),
    ):
        command = commands.add_parser(name, parents=[target], help=help_text)
        command.add_argument("--account", required=True, help="account id (acct_...)")
        if name == "revoke-api-key":
            command.add_argument("--fingerprint", required=True, help="from list-api-keys")
        if name == "create-api-key":
            command.add_argument("--name", help="what the key is for")
            command.add_argument("--ordinary", action="store_true", help="not a management key")
            command.add_argument("--rate-limit-rpm", type=int, help="requests per minute the key may make")
            command.add_argument(
                "--allowed-model", action="append", dest="allowed_models", help="a model the key may use (repeat)"
            )
            command.add_argument("--expires-at", help="ISO 8601 UTC time after which the key is refused")

    for name, help_text in (
        ("set-shared-limit", "cap an account's shared-capacity spend per UTC period"),
        ("show-shared-limit", "an account's shared-capacity cap and what its current period has spent"),
        ("clear-shared-limit", "remove an account's shared-capacity cap"),
    ):
        command = commands.add_parser(name, parents=[target], help=help_text)
        command.add_argument("--account", required=True, help="account id (acct_...)")
        if name == "set-shared-limit":
            command.add_argument("--usd", required=True, type=usd, help="USD of shared capacity per period")
            command.add_argument("--period", required=True, help="day, week or month (UTC)")
    return parser


def _target_dev_stack(state_file: Path) -> None:
    try:
        state = DevState.read(state_file)
    except FileNotFoundError:
        raise AdminError(
            f"no running dev stack ({state_file} not found): start one with `make dev`, or pass --stack NAME"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise AdminError(f"{state_file} is not a dev stack state file") from None
    if not pid_alive(state.pid):
        raise AdminError(f"the dev stack in {state_file} is no longer running: start it with `make dev`")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n == "AWS_PROFILE"]:
        del os.environ[name]
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": state.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": "dev",
            "AWS_SECRET_ACCESS_KEY": "dev",
            "AWS_DEFAULT_REGION": state.region,
            "AWS_REGION": state.region,
            "ACCOUNTS_TABLE": state.accounts_table,
            "LOGS_TABLE": state.logs_table,
            "KMS_KEY_ARN": state.kms_key_arn,
        }
    )


def _target_deployed_stack(stack: str, region: str | None) -> None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if region:
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = region
    try:
        described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    except ClientError as exc:
        raise AdminError(f"cannot read stack {stack!r}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise AdminError(f"cannot read stack {stack!r}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    missing = sorted(set(STACK_OUTPUTS) - set(outputs))
    if missing:
        raise AdminError(f"stack {stack!r} has no output {', '.join(missing)}; is it a byok-gateway stack?")
    os.environ.update({variable: outputs[output] for output, variable in STACK_OUTPUTS.items()})


def _read_credentials(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminError(f"cannot read --credentials-file {path}: {type(exc).__name__}") from None
    if not text:
        raise AdminError(f"--credentials-file {path} is empty")
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            raise AdminError(f"--credentials-file {path} starts with '{{' but is not valid JSON") from None
    return text


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_layer_importable()
    from gateway.apis import admin
    from gateway.core.errors import GatewayError
    from gateway.data import accounts as store
    from gateway.data import api_keys

    if args.command == "create-account":
        if args.credits < 0:
            raise AdminError("--credits must not be negative for a new account")
        account, api_key = admin.create_account(args.name, args.credits)
        return {"account_id": account.account_id, "api_key": api_key}
    if args.command == "add-credits":
        try:
            balance = store.add_credits(args.account, args.credits)
        except KeyError:
            raise AdminError(f"no account {args.account!r}") from None
        snapshot = store.load_account(args.account)
        return {"account_id": args.account, "credits": balance, "debt": snapshot.account.debt if snapshot else 0}
    if args.command == "set-platform-key":
        credentials = _read_credentials(args.credentials_file)
        try:
            key = admin.set_platform_key(args.provider, credentials, args.key_region)
        except GatewayError as exc:
            raise AdminError(exc.message) from None
        return {"provider": key.provider, "hint": key.hint, "region": key.region}
    if args.command in ("create-api-key", "list-api-keys", "revoke-api-key"):
        if store.load_account(args.account) is None:
            raise AdminError(f"no account {args.account!r}")
        if args.command == "create-api-key":
            return _create_api_key(args)
        if args.command == "list-api-keys":
            return {"data": api_keys.list_api_keys(args.account)}
        if not api_keys.revoke_api_key(args.account, args.fingerprint):
            raise AdminError(f"no single gateway key of {args.account!r} has fingerprint {args.fingerprint!r}")
        return {"account_id": args.account, "fingerprint": args.fingerprint, "revoked": True}
    if args.command in ("set-shared-limit", "show-shared-limit", "clear-shared-limit"):
        return _shared_limit(args)
    if args.command == "reencrypt-credentials":
        return admin.reencrypt_credentials()
    accounts = store.list_accounts()
    return {
        "data": [
            {
                "account_id": a.account_id,
                "name": a.name,
                "credits": a.credits,
                "debt": a.debt,
                "created_at": a.created_at,
            }
            for a in accounts
        ]
    }


def _create_api_key(args: argparse.Namespace) -> dict[str, Any]:
    """The same settings and validation as ``POST /v1/api-keys``."""
    from gateway.apis import api_keys as gateway_keys
    from gateway.core.errors import GatewayError
    from gateway.data import api_keys
    from gateway.http.resolver import parse_model

    body = {
        "name": args.name or "admin",
        "management": not args.ordinary,
        "rate_limit_rpm": args.rate_limit_rpm,
        "allowed_models": args.allowed_models,
        "expires_at": args.expires_at,
    }
    try:
        settings = gateway_keys.settings(parse_model(body, gateway_keys.CreateApiKeyRequest))
    except GatewayError as exc:
        raise AdminError(exc.message) from None
    try:
        key = api_keys.create_api_key(args.account, settings=settings)
    except api_keys.ApiKeyLimitReached:
        raise AdminError(f"{args.account!r} holds MAX_API_KEYS_PER_ACCOUNT keys; revoke one first") from None
    fingerprint = api_keys.api_key_fingerprint(api_keys.hash_api_key(key))
    return {"account_id": args.account, "api_key": key, "id": f"{api_keys.API_KEY_ID_PREFIX}{fingerprint}"}


def _shared_limit(args: argparse.Namespace) -> dict[str, Any]:
    """The account's ``shared_limit``, set with the validation of ``PATCH /v1/account`` and shown as
    ``GET /v1/account`` shows it."""
    from gateway.apis import api_keys as gateway_keys
    from gateway.core.errors import GatewayError
    from gateway.data import accounts as store
    from gateway.http.resolver import parse_model

    if store.load_account(args.account) is None:
        raise AdminError(f"no account {args.account!r}")
    if args.command != "show-shared-limit":
        body: dict[str, Any] = {"shared_limit": None}
        if args.command == "set-shared-limit":
            body["shared_limit"] = {"usd": str(args.usd), "period": args.period}
        try:
            request = parse_model(body, gateway_keys.UpdateAccountRequest)
        except GatewayError as exc:
            raise AdminError(exc.message) from None
        limit = request.shared_limit.model_dump() if request.shared_limit is not None else None
        store.set_shared_limit(args.account, limit)
    snapshot = store.load_account(args.account)
    if snapshot is None:
        raise AdminError(f"no account {args.account!r}")
    view = gateway_keys.account_view(snapshot, key_limit=0)["shared_limit"]
    return {"account_id": args.account, "shared_limit": view}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stack = getattr(args, "stack", None)
        if stack:
            _target_deployed_stack(stack, getattr(args, "region", None))
        else:
            _target_dev_stack(Path(getattr(args, "state", None) or os.environ.get(STATE_ENV) or DEFAULT_STATE_PATH))
        result = run(args)
    except AdminError as exc:
        print(f"admin: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"admin: AWS error: {exc.response['Error'].get('Code', 'unknown')}", file=sys.stderr)
        return 2
    except BotoCoreError as exc:
        print(f"admin: AWS error: {type(exc).__name__}", file=sys.stderr)
        return 2
    print(to_json(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
