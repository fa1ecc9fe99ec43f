"""Proof that the enforcement is real: the same deployed code, under a role that lacks one
action its run uses, fails with an AccessDenied naming exactly that action; under a role with
no policy it fails at its first AWS call; a scoped grant does not reach other resources."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from fleetops_tests.deployed.harness import Deployed

TRUST_LAMBDA = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def deployed_policy(deployed: Deployed, function: str) -> dict[str, Any]:
    iam = deployed.client("iam")
    role = deployed.role_name(function)
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def without_action(policy: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        kept = [a for a in actions if a != action]
        if kept:
            statements.append({**statement, "Action": kept})
    assert statements != policy["Statement"], f"{action} is not granted"
    return {**policy, "Statement": statements}


def probe(deployed: Deployed, function: str, policy: dict[str, Any] | None) -> str:
    """A copy of `function` (same zip, handler, environment) under a role of its own."""
    iam, lam = deployed.client("iam"), deployed.client("lambda")
    suffix = uuid.uuid4().hex[:8]
    role_name = f"fleetops-probe-{suffix}"
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"][
        "Arn"
    ]
    if policy is not None:
        iam.put_role_policy(
            RoleName=role_name, PolicyName="probe", PolicyDocument=json.dumps(policy)
        )
    config = lam.get_function_configuration(FunctionName=deployed.function_name(function))
    name = f"fleetops-probe-{function}-{suffix}"
    lam.create_function(
        FunctionName=name,
        Runtime=config["Runtime"],
        Handler=config["Handler"],
        Role=role_arn,
        Code={"ZipFile": (deployed.artifacts / "lambdas" / f"{function}.zip").read_bytes()},
        Timeout=config["Timeout"],
        MemorySize=config["MemorySize"],
        Environment=config["Environment"],
        TracingConfig={"Mode": "PassThrough"},
    )
    return name


def run(deployed: Deployed, name: str, event: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    since = deployed.audit_seq()
    response = deployed.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(event).encode()
    )
    text = response["Payload"].read().decode()
    # The role's own requests (`api`), not Lambda's log delivery with it (`lambda`).
    return text, [d for d in deployed.denials(since) if d["via"] == "api"]


SCHEDULE = {
    "version": "0",
    "id": "probe",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-12-02T03:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/probe"],
    "detail": {},
}


@pytest.mark.parametrize(
    ("function", "action"),
    [
        ("fleet-sync", "dynamodb:UpdateItem"),
        ("health-check", "ec2:DescribeInstanceStatus"),
        ("backup", "s3:PutObject"),
    ],
)
def test_one_action_removed_is_denied_by_name(
    deployed: Deployed, function: str, action: str
) -> None:
    name = probe(deployed, function, without_action(deployed_policy(deployed, function), action))

    text, denied = run(deployed, name, SCHEDULE)

    assert {d["action"] for d in denied} == {action}, denied
    assert f"not authorized to perform: {action}" in text, text[:2000]


def test_a_role_without_policy_fails_at_its_first_call(deployed: Deployed) -> None:
    name = probe(deployed, "fleet-sync", None)

    text, denied = run(deployed, name, SCHEDULE)

    assert denied, f"every call is denied: {text[:3000]}"
    assert "AccessDenied" in text or "not authorized" in text, text[:2000]


def test_a_grant_scoped_to_fleet_tables_does_not_reach_other_tables(deployed: Deployed) -> None:
    """restore's own policy (on a copy of its role) may create `fleetops-*` tables only."""
    name = probe(deployed, "restore", deployed_policy(deployed, "restore"))

    text, denied = run(
        deployed, name, {"target_table": "someone-elses-table", "create_table": True}
    )

    assert denied, text[:2000]
    assert {d["action"] for d in denied} == {"dynamodb:DescribeTable"}, denied
    assert all(str(d["resource"]).endswith("table/someone-elses-table") for d in denied), denied
    assert "not authorized to perform: dynamodb:DescribeTable" in text
