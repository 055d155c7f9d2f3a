"""Create the stack's DynamoDB tables, S3 buckets and KMS key, as template.yaml declares them, in the current AWS
endpoint.

Used by the dev stack (against moto's server) and by the tests (inside ``moto.mock_aws``), so neither can drift
from the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from local.template import buckets, kms_alias, load_template, tables

TABLE_ENV = {"AccountsTable": "ACCOUNTS_TABLE", "LogsTable": "LOGS_TABLE", "RoutingTable": "ROUTING_TABLE"}


@dataclass(frozen=True)
class Stack:
    accounts_table: str
    logs_table: str
    routing_table: str
    kms_key_arn: str
    responses_bucket: str

    def table_name(self, logical_id: str) -> str:
        return {"AccountsTable": self.accounts_table, "LogsTable": self.logs_table}[logical_id]

    def environment(self) -> dict[str, str]:
        return {
            "ACCOUNTS_TABLE": self.accounts_table,
            "LOGS_TABLE": self.logs_table,
            "ROUTING_TABLE": self.routing_table,
            "KMS_KEY_ARN": self.kms_key_arn,
            "RESPONSES_BUCKET": self.responses_bucket,
        }


def provision(stage: str = "dev", prefix: str = "byok-gateway", region: str | None = None) -> Stack:
    template = load_template()
    dynamodb: Any = boto3.client("dynamodb", region_name=region)
    names: dict[str, str] = {}
    for spec in tables(template):
        name = f"{prefix}-{stage}-{spec.logical_id}"
        stream = {"StreamEnabled": True, "StreamViewType": spec.stream_view_type} if spec.stream_view_type else None
        dynamodb.create_table(
            TableName=name,
            KeySchema=spec.key_schema,
            AttributeDefinitions=spec.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
            **({"StreamSpecification": stream} if stream else {}),
            **({"GlobalSecondaryIndexes": spec.global_secondary_indexes} if spec.global_secondary_indexes else {}),
        )
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        names[spec.logical_id] = name
    s3: Any = boto3.client("s3", region_name=region, config=Config(s3={"addressing_style": "path"}))
    bucket_names: dict[str, str] = {}
    for bucket in buckets(template):
        name = f"{prefix}-{stage}-{bucket.logical_id}".lower()
        s3.create_bucket(Bucket=name)  # us-east-1: no location constraint
        bucket_names[bucket.logical_id] = name
    kms: Any = boto3.client("kms", region_name=region)
    key_arn = kms.create_key(Description=f"{prefix} {stage} credentials key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=kms_alias(template, stage), TargetKeyId=key_arn)
    return Stack(
        accounts_table=names["AccountsTable"],
        logs_table=names["LogsTable"],
        routing_table=names["RoutingTable"],
        kms_key_arn=key_arn,
        responses_bucket=bucket_names["ResponsesBucket"],
    )
