"""IAM enforcement of the local AWS, in-process: a role session is authorized exactly by its
role's policies (actions, resources, conditions on tags), administrators pass, a wrong token or
signature is refused, every decision is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fleetops.local_aws import iam_enforcement
from fleetops.local_aws.iam_enforcement import Enforcer

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TRUST = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
)


@pytest.fixture
def enforcer(aws: None) -> Iterator[Enforcer]:
    enforcer = Enforcer()
    undo = iam_enforcement.install(enforcer)
    try:
        yield enforcer
    finally:
        undo()


def session(statements: list[dict[str, Any]], name: str = "probe") -> dict[str, str]:
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=arn, RoleSessionName="sess"
    )["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def table(name: str = "registry") -> str:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def test_an_allowed_action_on_its_resource_passes_and_is_audited(enforcer: Enforcer) -> None:
    arn = table()
    creds = session(
        [{"Sid": "Registry", "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": arn}]
    )
    boto3.client("dynamodb", region_name=REGION, **creds).put_item(
        TableName="registry", Item={"pk": {"S": "a"}}
    )
    (record,) = enforcer.audit.since(0)
    assert (record.role, record.action, record.resource, record.decision, record.allowed_by) == (
        "probe",
        "dynamodb:PutItem",
        arn,
        "allow",
        ("Registry",),
    )


def test_a_missing_action_is_denied_naming_action_and_resource(enforcer: Enforcer) -> None:
    arn = table()
    creds = session([{"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": arn}])
    ddb = boto3.client("dynamodb", region_name=REGION, **creds)
    with pytest.raises(ClientError) as caught:
        ddb.get_item(TableName="registry", Key={"pk": {"S": "a"}})
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:GetItem on resource: " + arn in error["Message"]
    assert "assumed-role/probe/sess" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_grant_on_one_table_does_not_reach_another(enforcer: Enforcer) -> None:
    arn = table("registry")
    table("other")
    creds = session([{"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": arn}])
    with pytest.raises(ClientError, match="table/other"):
        boto3.client("dynamodb", region_name=REGION, **creds).put_item(
            TableName="other", Item={"pk": {"S": "a"}}
        )


def test_explicit_deny_wins(enforcer: Enforcer) -> None:
    arn = table()
    creds = session(
        [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
            {"Sid": "NoWrites", "Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": arn},
        ]
    )
    with pytest.raises(ClientError, match="explicit deny"):
        boto3.client("dynamodb", region_name=REGION, **creds).put_item(
            TableName="registry", Item={"pk": {"S": "a"}}
        )
    assert enforcer.audit.since(0)[-1].denied_by == ("NoWrites",)


def test_describe_apis_need_a_star_resource(enforcer: Enforcer) -> None:
    creds = session(
        [
            {
                "Effect": "Allow",
                "Action": "ec2:DescribeInstances",
                "Resource": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*",
            }
        ]
    )
    with pytest.raises(ClientError) as caught:
        boto3.client("ec2", region_name=REGION, **creds).describe_instances()
    assert caught.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_mutations_reach_only_resources_carrying_the_fleet_tag(enforcer: Enforcer) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    fleet = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Fleet", "Value": "web"}]}
        ],
    )["Instances"][0]["InstanceId"]
    stranger = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    creds = session(
        [
            {
                "Effect": "Allow",
                "Action": "ec2:RebootInstances",
                "Resource": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*",
                "Condition": {"StringLike": {"aws:ResourceTag/Fleet": ["*"]}},
            }
        ]
    )
    as_role = boto3.client("ec2", region_name=REGION, **creds)
    as_role.reboot_instances(InstanceIds=[fleet])
    with pytest.raises(ClientError, match=f"instance/{stranger}"):
        as_role.reboot_instances(InstanceIds=[fleet, stranger])
    assert enforcer.audit.since(0)[0].unevaluated_keys == ()


def test_administrator_traffic_is_not_enforced(enforcer: Enforcer) -> None:
    table()
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName="registry", Item={"pk": {"S": "a"}}
    )
    assert enforcer.audit.since(0) == []


def test_a_wrong_session_token_is_refused(enforcer: Enforcer) -> None:
    table()
    creds = session([{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}])
    creds["aws_session_token"] = "not-the-token"
    with pytest.raises(ClientError) as caught:
        boto3.client("dynamodb", region_name=REGION, **creds).list_tables()
    assert caught.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_a_wrong_secret_fails_the_signature(enforcer: Enforcer) -> None:
    creds = session([{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}])
    creds["aws_secret_access_key"] = "wrong"
    with pytest.raises(ClientError) as caught:
        boto3.client("dynamodb", region_name=REGION, **creds).list_tables()
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_publish_to_an_encrypted_topic_needs_the_key(enforcer: Enforcer) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    topic = boto3.client("sns", region_name=REGION).create_topic(
        Name="t", Attributes={"KmsMasterKeyId": key}
    )["TopicArn"]
    publish_only = session(
        [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}], "publisher"
    )
    with pytest.raises(ClientError, match=r"kms:GenerateDataKey .*needed by sns:Publish"):
        boto3.client("sns", region_name=REGION, **publish_only).publish(TopicArn=topic, Message="m")
    with_key = session(
        [
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key},
        ],
        "publisher-with-key",
    )
    boto3.client("sns", region_name=REGION, **with_key).publish(TopicArn=topic, Message="m")
