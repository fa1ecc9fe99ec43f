"""The SAM template grants what Terraform deployed: statement by statement (Sid), the same
actions and the same condition keys, for every function and state machine role.

Terraform's side is read back from the local AWS (what `terraform apply` really created), so a
grant added to one deployment path and forgotten in the other fails here. Statements that exist
only for some inputs (VPC placement, hosted zones, instance roles) may be absent on either side.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleetops.local_aws.stack import find_repository
from fleetops_tests.deployed.harness import Deployed

OPTIONAL_SIDS = frozenset(
    {
        "DescribeNetworkInterfaces",
        "ManageOwnNetworkInterfaces",
        "ChangeFleetRecords",
        "PassFleetInstanceRoles",
    }
)
"""Present only when the inputs ask for them (vpc_config, route53_zone_ids, instance roles)."""

Shape = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
"""Sid -> (sorted actions, sorted `Operator:key` conditions)."""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _shape(statements: list[dict[str, Any]]) -> Shape:
    shape: Shape = {}
    for statement in statements:
        actions = tuple(sorted(str(a) for a in _as_list(statement.get("Action", []))))
        conditions = tuple(
            sorted(
                f"{operator}:{key}"
                for operator, keys in (statement.get("Condition") or {}).items()
                for key in keys
            )
        )
        shape[str(statement["Sid"])] = (actions, conditions)
    return shape


def _plain(value: Any) -> Any:
    """ruamel's round-trip nodes as plain data; `!If [cond, a, b]` becomes a (tagged) list."""
    tag = getattr(getattr(value, "tag", None), "value", None)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        return {"!If": items} if tag == "!If" else items
    return value


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of a SAM policy document; a statement behind `!If` is optional, taken once."""
    out = []
    for statement in document.get("Statement", []):
        if isinstance(statement, dict) and "!If" in statement:
            _, when_true, _ = statement["!If"]
            if isinstance(when_true, dict) and "Sid" in when_true:
                out.append(when_true)
            continue
        out.append(statement)
    return out


@pytest.fixture(scope="module")
def sam_roles() -> dict[str, Shape]:
    template = YAML(typ="rt").load(
        (find_repository() / "infra" / "sam" / "template.yaml").read_text()
    )
    roles: dict[str, Shape] = {}
    for resource in _plain(template["Resources"]).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::IAM::Role":
            name = str(properties["RoleName"]).replace("fleetops-${Environment}-", "")
            statements = [
                s for p in properties.get("Policies", []) for s in _statements(p["PolicyDocument"])
            ]
            roles[name] = _shape(statements)
    return roles


def _deployed_roles(deployed: Deployed) -> dict[str, Shape]:
    iam = deployed.client("iam")
    arns = [f["role_arn"] for f in deployed.stack.outputs["functions"].values()]
    arns += [m["role_arn"] for m in deployed.stack.outputs["state_machines"].values()]
    roles: dict[str, Shape] = {}
    for arn in arns:
        role = str(arn).rsplit("/", 1)[-1]
        statements: list[dict[str, Any]] = []
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            document = document if isinstance(document, dict) else json.loads(document)
            statements.extend(_as_list(document["Statement"]))
        roles[role.replace("fleetops-dev-", "")] = _shape(statements)
    return roles


def drift(terraform: dict[str, Shape], sam: dict[str, Shape]) -> list[str]:
    problems = [
        f"role {r} only in {'terraform' if r in terraform else 'sam'}"
        for r in sorted(set(terraform) ^ set(sam))
    ]
    for role in sorted(set(terraform) & set(sam)):
        tf_shape, sam_shape = terraform[role], sam[role]
        for sid in sorted(set(tf_shape) | set(sam_shape)):
            if sid in OPTIONAL_SIDS and (sid not in tf_shape or sid not in sam_shape):
                continue
            if tf_shape.get(sid) != sam_shape.get(sid):
                problems.append(
                    f"{role} {sid}: terraform {tf_shape.get(sid)} != sam {sam_shape.get(sid)}"
                )
    return problems


def test_sam_roles_grant_what_terraform_deployed(
    deployed: Deployed, sam_roles: dict[str, Shape]
) -> None:
    problems = drift(_deployed_roles(deployed), sam_roles)
    assert problems == [], "\n".join(problems)


def test_the_parity_check_names_an_action_missing_from_sam(
    deployed: Deployed, sam_roles: dict[str, Shape]
) -> None:
    terraform = _deployed_roles(deployed)
    actions, conditions = terraform["health-check-role"]["DescribeHealth"]
    broken = {
        **sam_roles,
        "health-check-role": {
            **terraform["health-check-role"],
            "DescribeHealth": (actions[1:], conditions),
        },
    }
    (problem,) = drift(
        {"health-check-role": terraform["health-check-role"]},
        {"health-check-role": broken["health-check-role"]},
    )
    assert "health-check-role DescribeHealth" in problem and actions[0] in problem
