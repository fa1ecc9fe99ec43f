"""How a request becomes IAM checks: action names, resource ARNs, condition keys, implied KMS
checks. Resources live in moto (in-process), read through the same lookups the server uses."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from fleetops.local_aws.iam_requests import Call, checks_for, queue_arn_from_url, s3_checks
from fleetops.local_aws.moto_lookups import MotoLookups

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PRINCIPAL = f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry"


def call(signing: str, operation: str, params: dict[str, Any] | None) -> Call:
    return Call(signing, operation, params, REGION, ACCOUNT, PRINCIPAL)


def pairs(
    signing: str, operation: str, params: dict[str, Any] | None
) -> list[tuple[str, str | None]]:
    return [
        (c.action, c.resource)
        for c in checks_for(call(signing, operation, params), MotoLookups(ACCOUNT))
    ]


@pytest.mark.parametrize(
    ("signing", "operation", "params", "expected"),
    [
        (
            "dynamodb",
            "UpdateItem",
            {"TableName": "registry", "Key": {}},
            [("dynamodb:UpdateItem", TABLE)],
        ),
        (
            "dynamodb",
            "Query",
            {"TableName": "registry", "IndexName": "by-state"},
            [("dynamodb:Query", f"{TABLE}/index/by-state")],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Update": {"TableName": "registry"}},
                    {"Put": {"TableName": "registry"}},
                    {"Update": {"TableName": "registry"}},
                ]
            },
            [("dynamodb:UpdateItem", TABLE), ("dynamodb:PutItem", TABLE)],
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {"RequestItems": {"registry": [], "other": []}},
            [
                ("dynamodb:BatchWriteItem", TABLE),
                ("dynamodb:BatchWriteItem", TABLE.replace("registry", "other")),
            ],
        ),
        ("dynamodb", "ListTables", {}, [("dynamodb:ListTables", "*")]),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "fn"},
            [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "fn:live"},
            [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:live")],
        ),
        (
            "monitoring",
            "DescribeAlarms",
            {"AlarmNames": ["a"]},
            [("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a")],
        ),
        ("monitoring", "PutMetricData", {"Namespace": "x"}, [("cloudwatch:PutMetricData", "*")]),
        ("ec2", "DescribeInstances", {}, [("ec2:DescribeInstances", "*")]),
        (
            "ec2",
            "RebootInstances",
            {"InstanceIds": ["i-0123", "i-0456"]},
            [
                ("ec2:RebootInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123"),
                ("ec2:RebootInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0456"),
            ],
        ),
        (
            "ec2",
            "DeleteSnapshot",
            {"SnapshotId": "snap-1"},
            [("ec2:DeleteSnapshot", f"arn:aws:ec2:{REGION}::snapshot/snap-1")],
        ),
        (
            "autoscaling",
            "DescribeAutoScalingGroups",
            {},
            [("autoscaling:DescribeAutoScalingGroups", "*")],
        ),
        (
            "autoscaling",
            "SetDesiredCapacity",
            {"AutoScalingGroupName": "web"},
            [
                (
                    "autoscaling:SetDesiredCapacity",
                    f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/web",
                )
            ],
        ),
        (
            "sns",
            "Publish",
            {"TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t"},
            [("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:t")],
        ),
        (
            "sqs",
            "SendMessage",
            {"QueueUrl": f"http://127.0.0.1:4566/{ACCOUNT}/q"},
            [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")],
        ),
        (
            "states",
            "StartExecution",
            {"stateMachineArn": "arn:aws:states:x"},
            [("states:StartExecution", "arn:aws:states:x")],
        ),
        (
            "ssm",
            "SendCommand",
            {"DocumentName": "AWS-RunPatchBaseline", "InstanceIds": ["i-1"]},
            [
                ("ssm:SendCommand", f"arn:aws:ssm:{REGION}::document/AWS-RunPatchBaseline"),
                (
                    "ssm:SendCommand",
                    f"arn:aws:ssm:{REGION}:{ACCOUNT}:instance/i-1".replace(":ssm:", ":ec2:"),
                ),
            ],
        ),
        (
            "ssm",
            "GetCommandInvocation",
            {"CommandId": "c", "InstanceId": "i-1"},
            [("ssm:GetCommandInvocation", "*")],
        ),
        (
            "route53",
            "ChangeResourceRecordSets",
            {"HostedZoneId": "/hostedzone/Z1"},
            [("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1")],
        ),
        (
            "logs",
            "PutLogEvents",
            {"logGroupName": "/aws/lambda/f", "logStreamName": "s"},
            [
                (
                    "logs:PutLogEvents",
                    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f:log-stream:s",
                )
            ],
        ),
        ("xray", "PutTraceSegments", {}, [("xray:PutTraceSegments", "*")]),
        ("dynamodb", "UpdateItem", None, [("dynamodb:UpdateItem", None)]),
    ],
)
def test_checks(
    aws: None,
    signing: str,
    operation: str,
    params: dict[str, Any] | None,
    expected: list[tuple[str, str | None]],
) -> None:
    assert pairs(signing, operation, params) == expected


def test_every_check_carries_the_global_keys(aws: None) -> None:
    (check,) = checks_for(
        call("sns", "Publish", {"TopicArn": "arn:aws:sns:eu-west-1:1:t"}), MotoLookups(ACCOUNT)
    )
    assert check.context["aws:PrincipalArn"] == PRINCIPAL
    assert check.context["aws:RequestedRegion"] == REGION
    assert check.context["aws:SecureTransport"] is True


def test_resource_tags_of_a_known_instance_are_condition_keys(aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    tagged, untagged = (
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=spec)[
            "Instances"
        ][0]["InstanceId"]
        for spec in ([{"ResourceType": "instance", "Tags": [{"Key": "Fleet", "Value": "web"}]}], [])
    )
    checks = checks_for(
        call("ec2", "RebootInstances", {"InstanceIds": [tagged, untagged]}), MotoLookups(ACCOUNT)
    )
    assert checks[0].context["aws:ResourceTag/Fleet"] == "web"
    assert checks[0].context["localaws:ResourceTagsKnown"] is True
    assert "aws:ResourceTag/Fleet" not in checks[1].context
    assert checks[1].context["localaws:ResourceTagsKnown"] is True, "known to have no such tag"


def test_an_unknown_instance_has_no_known_tags(aws: None) -> None:
    (check,) = checks_for(
        call("ec2", "RebootInstances", {"InstanceIds": ["i-0000000000000dead"]}),
        MotoLookups(ACCOUNT),
    )
    assert "localaws:ResourceTagsKnown" not in check.context


def test_asg_resources_use_the_real_group_arn_and_tags(aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    template = ec2.create_launch_template(
        LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=0,
        MaxSize=1,
        LaunchTemplate={"LaunchTemplateId": template},
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "Fleet", "Value": "web", "PropagateAtLaunch": True}],
    )
    arn = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["AutoScalingGroupARN"]
    (check,) = checks_for(
        call("autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": "web"}),
        MotoLookups(ACCOUNT),
    )
    assert check.resource == arn
    assert check.context["aws:ResourceTag/Fleet"] == "web"


def test_create_group_carries_request_tags(aws: None) -> None:
    params = {"AutoScalingGroupName": "new", "Tags": [{"Key": "Fleet", "Value": "api"}]}
    (check,) = checks_for(
        call("autoscaling", "CreateAutoScalingGroup", params), MotoLookups(ACCOUNT)
    )
    assert check.context["aws:RequestTag/Fleet"] == "api"
    assert check.context["aws:TagKeys"] == ["Fleet"]


def test_publish_to_a_kms_encrypted_topic_implies_kms_checks(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    topic = boto3.client("sns", region_name=REGION).create_topic(
        Name="t", Attributes={"KmsMasterKeyId": key}
    )["TopicArn"]
    checks = checks_for(call("sns", "Publish", {"TopicArn": topic}), MotoLookups(ACCOUNT))
    assert [(c.action, c.resource, c.implied_by) for c in checks] == [
        ("sns:Publish", topic, None),
        ("kms:GenerateDataKey", key, "sns:Publish"),
        ("kms:Decrypt", key, "sns:Publish"),
    ]
    assert checks[1].context["kms:ViaService"] == f"sns.{REGION}.amazonaws.com"


def test_an_aws_managed_key_implies_nothing(aws: None) -> None:
    topic = boto3.client("sns", region_name=REGION).create_topic(
        Name="t", Attributes={"KmsMasterKeyId": "alias/aws/sns"}
    )["TopicArn"]
    assert [
        c.action
        for c in checks_for(call("sns", "Publish", {"TopicArn": topic}), MotoLookups(ACCOUNT))
    ] == ["sns:Publish"]


def test_put_object_into_a_kms_bucket_implies_generate_data_key(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket="fleetops-kms", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_encryption(
        Bucket="fleetops-kms",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key,
                    }
                }
            ]
        },
    )
    checks = s3_checks(
        call("s3", "PutObject", None), "arn:aws:s3:::fleetops-kms/backups/x", MotoLookups(ACCOUNT)
    )
    assert [(c.action, c.resource) for c in checks] == [
        ("s3:PutObject", "arn:aws:s3:::fleetops-kms/backups/x"),
        ("kms:GenerateDataKey", key),
    ]


@pytest.mark.parametrize(
    ("url", "arn"),
    [
        (
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "arn:aws:sqs:eu-west-1:123456789012:q",
        ),
        ("http://127.0.0.1:4566/123456789012/q", "arn:aws:sqs:eu-west-1:123456789012:q"),
        ("http://127.0.0.1:4566/", None),
    ],
)
def test_queue_arn_from_url(url: str, arn: str | None) -> None:
    assert queue_arn_from_url(url, REGION) == arn
