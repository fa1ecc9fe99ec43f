"""The workflow-tasks Lambda as a function: dispatch, input validation with no side effects,
the error types the definitions' Retry/Catch rely on, and pure decision helpers."""

from __future__ import annotations

import json

import pytest

from fleetops.core.errors import InvalidInputError
from fleetops.workflows.errors import AwsCallFailed, TransientAwsError
from fleetops.workflows.outcome import failure_text
from fleetops.workflows.recovery import _distribute, _routing_change
from fleetops.workflows.tasks import TASKS
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import fail_first
from fleetops_tests.support.lambda_context import LambdaContextStub

EXECUTION = {"id": "arn:aws:states:us-east-1:123456789012:execution:sm:run-1", "name": "run-1"}


@pytest.fixture
def counter(handler_module) -> RequestCounter:
    return RequestCounter().attach(handler_module.DEPS.clients)


def invoke(handler_module, event):
    return handler_module.handler(event, LambdaContextStub())


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        ([], "event", "must be a JSON object, got list"),
        ({}, "task", "required; one of deployment.check_green"),
        (
            {"task": "deployment.explode"},
            "task",
            "unknown task 'deployment.explode'; expected one of",
        ),
        ({"task": 42}, "task", "unknown task 42"),
    ],
)
def test_unknown_or_missing_task_is_named_and_nothing_is_called(
    handler_module, counter, event, field, message
):
    with pytest.raises(InvalidInputError) as raised:
        invoke(handler_module, event)

    assert message in raised.value.fields[field]
    assert counter.total() == 0


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_rejects_missing_fields_by_name_without_side_effects(
    handler_module, counter, task
):
    model = TASKS[task].model
    required = sorted(n for n, f in model.model_fields.items() if f.is_required())

    with pytest.raises(InvalidInputError) as raised:
        invoke(handler_module, {"task": task})

    assert sorted(raised.value.fields) == required
    assert all(raised.value.fields[name] == "Field required" for name in required)
    assert counter.total() == 0


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_rejects_unknown_fields_by_name(handler_module, counter, task):
    with pytest.raises(InvalidInputError) as raised:
        invoke(handler_module, {"task": task, "surprise": True})

    assert raised.value.fields["surprise"] == "Extra inputs are not permitted"
    assert counter.total() == 0


@pytest.mark.parametrize(
    ("task", "payload", "field"),
    [
        ("deployment.shift_traffic", {"plan": {}, "index": -1}, "index"),
        (
            "maintenance.validate",
            {"plan": {}, "instance_ids": ["not-an-instance"], "command": {}},
            "instance_ids.0",
        ),
        (
            "recovery.validate",
            {
                "targets": [{"id": "x", "region": "mars-1", "asg": "a", "required_serving": 1}],
                "attempt": 0,
            },
            "targets.0.region",
        ),
        (
            "recovery.assess",
            {
                "execution": EXECUTION,
                "input": {"incident_id": "i#1", "fleet": "web", "source": "manual"},
            },
            "input.incident_id",
        ),
        (
            "maintenance.schedule",
            {"execution": {"id": "nope", "name": "x"}, "input": {}},
            "execution.id",
        ),
    ],
)
def test_malformed_nested_fields_are_named(handler_module, counter, task, payload, field):
    with pytest.raises(InvalidInputError) as raised:
        invoke(handler_module, {"task": task, **payload})

    assert field in raised.value.fields
    assert counter.total() == 0


def test_transient_aws_failure_surfaces_as_retryable_error(handler_module, counter):
    fail_first(
        handler_module.DEPS.clients,
        "autoscaling",
        "DescribeAutoScalingGroups",
        times=None,
        code="Throttling",
    )
    event = {
        "task": "recovery.validate",
        "targets": [
            {"id": "us-east-1/web-1", "region": "us-east-1", "asg": "web-1", "required_serving": 1}
        ],
        "attempt": 0,
    }

    with pytest.raises(TransientAwsError, match="recovery.validate: Throttling"):
        invoke(handler_module, event)

    attempts = handler_module.CONFIG.retry_max_attempts
    assert counter.by_operation() == {
        "auto-scaling.DescribeAutoScalingGroups": attempts
    }, "in-process retries first"


def test_permanent_aws_failure_is_not_retryable(handler_module):
    fail_first(
        handler_module.DEPS.clients,
        "autoscaling",
        "DescribeAutoScalingGroups",
        times=None,
        code="AccessDenied",
        status=403,
    )
    event = {
        "task": "recovery.validate",
        "targets": [
            {"id": "us-east-1/web-1", "region": "us-east-1", "asg": "web-1", "required_serving": 1}
        ],
        "attempt": 0,
    }

    with pytest.raises(AwsCallFailed, match="AccessDenied"):
        invoke(handler_module, event)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (None, ("Unknown", "no error details were recorded")),
        (
            {
                "Error": "PreconditionFailed",
                "Cause": json.dumps(
                    {"errorType": "PreconditionFailed", "errorMessage": "fleet unhealthy"}
                ),
            },
            ("PreconditionFailed", "fleet unhealthy"),
        ),
        (
            {
                "Error": "DynamoDB.ConditionalCheckFailedException",
                "Cause": "The conditional request failed (Service: AmazonDynamoDBv2; Status Code: 400)",
            },
            ("DynamoDB.ConditionalCheckFailedException", "The conditional request failed"),
        ),
        (
            {"Error": "GreenNeverHealthy", "Cause": "0/2 healthy"},
            ("GreenNeverHealthy", "0/2 healthy"),
        ),
        ({"Error": "States.Timeout"}, ("States.Timeout", "States.Timeout")),
    ],
)
def test_failure_text_extracts_the_human_sentence(failure, expected):
    assert failure_text(failure) == expected


def test_distribute_is_proportional_and_exact():
    assert _distribute(6, {"a": 6, "b": 3, "c": 3}) == {"a": 3, "b": 2, "c": 1}
    assert sum(_distribute(7, {"a": 1, "b": 1, "c": 1}).values()) == 7
    assert _distribute(4, {"a": 0, "b": 0}) == {"a": 2, "b": 2}
    assert _distribute(0, {"a": 5}) == {"a": 0}


def test_failover_routing_points_the_primary_record_at_the_healthy_region():
    routing = {
        "hosted_zone_id": "Z1",
        "record_name": "api.example.com",
        "record_type": "A",
        "policy": "failover",
        "records": [
            {
                "region": "us-west-2",
                "set_identifier": "primary",
                "failover": "PRIMARY",
                "values": ["192.0.2.20"],
            },
            {
                "region": "us-east-1",
                "set_identifier": "secondary",
                "failover": "SECONDARY",
                "values": ["192.0.2.10"],
            },
        ],
    }

    change = _routing_change(routing, {"us-west-2"})

    assert change["change"] is True
    (only,) = change["change_batch"]["Changes"]
    assert only["ResourceRecordSet"]["SetIdentifier"] == "primary"
    assert only["ResourceRecordSet"]["Failover"] == "PRIMARY"
    assert only["ResourceRecordSet"]["ResourceRecords"] == [{"Value": "192.0.2.10"}]
    assert _routing_change(routing, {"us-east-1"})["change"] is False
