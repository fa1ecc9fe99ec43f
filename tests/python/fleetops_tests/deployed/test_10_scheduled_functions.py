"""The scheduled functions, fired by the EventBridge rules Terraform created, each running its
deployed zip under its own role: green, with zero AccessDenied.

Files run in name order in one process (the stack is shared): scheduled functions first, on
the freshly seeded fleets.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from fleetops.core.registry import keys
from fleetops_tests.deployed.harness import Deployed

SCHEDULED = ("fleet-sync", "health-check", "backup", "cleanup")


def rule(deployed: Deployed, function: str, region: str | None = None) -> str:
    prefix = "fleetops-dev"
    if function == "fleet-sync":
        return f"{prefix}-fleet-sync-{region}-schedule"
    return f"{prefix}-{function}-schedule"


def assert_ran_green(
    deployed: Deployed, entries: list[dict[str, Any]], function: str, since: int
) -> None:
    assert entries, f"{function}: no invocation"
    for entry in entries:
        assert entry["status"] == "success", (
            entry["error_type"],
            entry["error_message"],
            entry["log_lines"][-30:],
        )
        assert entry["function_name"] == deployed.function_name(function)
        assert entry["role_arn"] == deployed.stack.function(function)["role_arn"]
    denied = [d for d in deployed.denials(since) if d["role"] == deployed.role_name(function)]
    assert denied == [], denied


def test_every_function_runs_the_bytes_that_were_built(deployed: Deployed) -> None:
    lam = deployed.client("lambda")
    for name in deployed.stack.outputs["functions"]:
        zip_bytes = (deployed.artifacts / "lambdas" / f"{name}.zip").read_bytes()
        expected = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
        config = lam.get_function_configuration(FunctionName=deployed.function_name(name))
        assert config["CodeSha256"] == expected, name
        assert config["DeadLetterConfig"]["TargetArn"].endswith(
            f"{deployed.function_name(name)}-dlq"
        )
        assert config["TracingConfig"]["Mode"] == "Active"


def test_fleet_sync_one_schedule_per_region_syncs_that_region(deployed: Deployed) -> None:
    since = deployed.audit_seq()
    for region in deployed.stack.regions:
        (entry,) = deployed.fire(rule(deployed, "fleet-sync", region))
        assert_ran_green(deployed, [entry], "fleet-sync", since)
        result = entry["response"]
        assert result["status"] == "ok", result
        assert set(result["regions"]) == {region}, "the input transformer adds the rule's Region"
        assert entry["event"]["regions"] == [region]
        assert entry["event"]["detail-type"] == "Scheduled Event"
        assert result["counts"]["created"] > 0
    table = deployed.table()
    for fleet, built in (("web", deployed.fleets.web), ("api", deployed.fleets.api)):
        for region in deployed.stack.regions:
            synced = {
                item["sk"].rsplit("#", 1)[-1]
                for item in table.query(keys.fleet_pk(fleet), sk_prefix=f"INSTANCE#{region}#")
                if item.get("state") == "running"
            }
            assert set(built.instance_ids(region)) <= synced, (fleet, region)
    # A second run finds nothing to change.
    (again,) = deployed.fire(rule(deployed, "fleet-sync", deployed.home))
    assert again["response"]["counts"]["created"] == again["response"]["counts"]["updated"] == 0


def test_health_check_schedule_checks_every_region(deployed: Deployed) -> None:
    since = deployed.audit_seq()
    (entry,) = deployed.fire(rule(deployed, "health-check"))
    assert_ran_green(deployed, [entry], "health-check", since)
    result = entry["response"]
    assert result["status"] == "ok", result
    assert set(result["regions"]) == set(deployed.stack.regions)
    assert all(r["status"] == "ok" for r in result["regions"].values()), result


def test_backup_schedule_writes_a_verified_backup(deployed: Deployed) -> None:
    since = deployed.audit_seq()
    (entry,) = deployed.fire(rule(deployed, "backup"))
    assert_ran_green(deployed, [entry], "backup", since)
    result = entry["response"]
    assert result["status"] == "verified", result
    objects = deployed.client("s3").list_objects_v2(Bucket=deployed.stack.backup_bucket)
    keys_written = [o["Key"] for o in objects.get("Contents", [])]
    assert any(k.endswith("manifest.json") for k in keys_written), keys_written
    deployed.synced["backup_id"] = result["backup_id"]


def test_cleanup_schedule_runs_in_every_region(deployed: Deployed) -> None:
    since = deployed.audit_seq()
    (entry,) = deployed.fire(rule(deployed, "cleanup"))
    assert_ran_green(deployed, [entry], "cleanup", since)
    assert entry["response"]["status"] == "ok", entry["response"]


@pytest.mark.parametrize("function", SCHEDULED)
def test_schedules_are_enabled_and_target_the_function(deployed: Deployed, function: str) -> None:
    events = deployed.client("events")
    regions: list[str | None] = [*deployed.stack.regions] if function == "fleet-sync" else [None]
    for region in regions:
        name = rule(deployed, function, region)
        described = events.describe_rule(Name=name)
        assert described["State"] == "ENABLED"
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["Arn"] == deployed.stack.function(function)["function_arn"]
