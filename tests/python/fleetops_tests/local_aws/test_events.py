"""EventBridge input transformation as AWS documents it, the resource-policy check before an
event source invokes a function, and the alarm payload CloudWatch sends a Lambda action."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from fleetops.local_aws.events import (
    alarm_payload,
    json_path,
    permits,
    previous_state,
    target_input,
    transform,
)

EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE = "arn:aws:events:us-east-1:123456789012:rule/example"


# The examples of the EventBridge user guide, "Amazon EventBridge input transformation".
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('"instance <instance> is in <state>"', "instance i-0123456789 is in RUNNING"),
        (
            '{"instance" : <instance>, "state": <state>}',
            {"instance": "i-0123456789", "state": "RUNNING"},
        ),
        (
            '{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \\"<instance>\\" is in <state>"}',
            {
                "instance": "i-0123456789",
                "state": "RUNNING",
                "instanceStatus": 'instance "i-0123456789" is in RUNNING',
            },
        ),
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
            {"instance": "i-0123456789", "state": [9, "RUNNING", True], "Transformed": "Yes"},
        ),
        (
            '{"ruleArn" : <aws.events.rule-arn>, "ruleName" : <aws.events.rule-name>}',
            {"ruleArn": RULE, "ruleName": "example"},
        ),
        ('"<aws.events.rule-name> triggered"', "example triggered"),
    ],
    ids=["string", "json", "json-with-strings", "mixed", "reserved-json", "reserved-string"],
)
def test_transform_as_documented(template: str, expected: Any) -> None:
    assert transform(template, PATHS, EVENT, RULE) == expected


def test_the_fleet_sync_rule_template_gives_the_event_plus_its_region() -> None:
    """The template of infra/modules/fleet-ops/triggers.tf, as Terraform renders it."""
    paths = {
        k: f"$.{v}"
        for k, v in {
            "version": "version",
            "id": "id",
            "detail_type": "detail-type",
            "source": "source",
            "account": "account",
            "time": "time",
            "region": "region",
            "resources": "resources",
            "detail": "detail",
        }.items()
    }
    template = (
        '{"version": <version>, "id": <id>, "detail-type": <detail_type>, "source": <source>, '
        '"account": <account>, "time": <time>, "region": <region>, "resources": <resources>, '
        '"detail": <detail>, "regions": ["eu-west-1"]}'
    )
    assert transform(template, paths, EVENT, RULE) == {**EVENT, "regions": ["eu-west-1"]}


@pytest.mark.parametrize(
    ("path", "found", "value"),
    [
        ("$", True, EVENT),
        ("$.detail.state", True, "RUNNING"),
        ("$.resources[0]", True, "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"),
        ("$.resources[3]", False, None),
        ("$.detail.missing", False, None),
        ("detail", False, None),
    ],
)
def test_json_path(path: str, found: bool, value: Any) -> None:
    assert json_path(EVENT, path) == (found, value)


def test_target_input_prefers_input_then_path_then_transformer() -> None:
    assert target_input({"Input": '{"a": 1}'}, EVENT, RULE) == {"a": 1}
    assert target_input({"InputPath": "$.detail"}, EVENT, RULE) == EVENT["detail"]
    assert target_input({}, EVENT, RULE) == EVENT


def _function(name: str = "fn") -> Any:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lambda_function.py", "def handler(e, c):\n    return e\n")
    lam = boto3.client("lambda", region_name="us-east-1")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="lambda_function.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    from moto.awslambda.utils import get_backend

    return get_backend("123456789012", "us-east-1").get_function(name)


def test_permits_follows_the_function_resource_policy(aws: None) -> None:
    fn = _function()
    assert not permits(fn, "events.amazonaws.com", RULE, "123456789012"), "no permission yet"
    boto3.client("lambda", region_name="us-east-1").add_permission(
        FunctionName="fn",
        StatementId="s",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=RULE,
        SourceAccount="123456789012",
    )
    assert permits(fn, "events.amazonaws.com", RULE, "123456789012")
    assert not permits(fn, "events.amazonaws.com", RULE.replace("example", "other"), "123456789012")
    assert not permits(fn, "lambda.alarms.cloudwatch.amazonaws.com", RULE, "123456789012")
    assert not permits(fn, "events.amazonaws.com", RULE, "210987654321")


def test_alarm_payload_has_the_shape_the_scaling_function_decodes(aws: None) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    cloudwatch.put_metric_alarm(
        AlarmName="web-cpu-high",
        AlarmDescription="cpu",
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": "web"}],
        Period=60,
        EvaluationPeriods=1,
        Threshold=70,
        ComparisonOperator="GreaterThanThreshold",
    )
    from moto.cloudwatch.models import cloudwatch_backends

    alarm = cloudwatch_backends["123456789012"]["us-east-1"].alarms["web-cpu-high"]
    before = previous_state(alarm)
    alarm.update_state(
        "Threshold Crossed", json.dumps({"recentDatapoints": [91.0], "threshold": 70.0}), "ALARM"
    )

    payload = alarm_payload(alarm, before, "123456789012")

    # The fields of DirectEvent / AlarmData in src/go/scaling/internal/alarm/events.go.
    assert set(payload) == {"source", "alarmArn", "accountId", "time", "region", "alarmData"}
    assert set(payload["alarmData"]) == {"alarmName", "state", "previousState", "configuration"}
    assert payload["source"] == "aws.cloudwatch"
    assert payload["alarmData"]["state"]["value"] == "ALARM"
    assert payload["alarmData"]["previousState"]["value"] == "OK"
    (metric,) = payload["alarmData"]["configuration"]["metrics"]
    assert metric["metricStat"]["metric"] == {
        "namespace": "AWS/EC2",
        "name": "CPUUtilization",
        "dimensions": {"AutoScalingGroupName": "web"},
    }
    assert json.loads(payload["alarmData"]["state"]["reasonData"])["threshold"] == 70.0
