"""The three state machines Terraform created, executed in the local AWS: every task runs under
the state machine's role, every Lambda task runs the deployed workflow-tasks (or restore) zip
under its own role. Each workflow once to success and once down a failure path."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fleetops.core.clock import iso_utc
from fleetops.core.registry import keys
from fleetops_tests.deployed.harness import Deployed


def roles(deployed: Deployed, workflow: str) -> set[str]:
    return {
        str(deployed.stack.state_machine(workflow)["role_arn"]).rsplit("/", 1)[-1],
        deployed.role_name("workflow-tasks"),
        deployed.role_name("restore"),
    }


def assert_no_denials(deployed: Deployed, workflow: str, since: int) -> None:
    denied = [d for d in deployed.denials(since) if d["role"] in roles(deployed, workflow)]
    assert denied == [], denied


def task_runs(
    deployed: Deployed, since: int, function: str = "workflow-tasks"
) -> list[dict[str, Any]]:
    name = deployed.function_name(function)
    return [e for e in deployed.local.invocations(since) if e["function_name"] == name]


@pytest.fixture(scope="module")
def synced(deployed: Deployed) -> None:
    """The registry as fleet-sync writes it, for every seeded fleet of the home Region."""
    for region in deployed.stack.regions:
        (entry,) = deployed.fire(f"fleetops-dev-fleet-sync-{region}-schedule")
        assert entry["status"] == "success", entry


# ---- deployment ---------------------------------------------------------------------------------


def deployment_input(deployed: Deployed) -> dict[str, Any]:
    shop = deployed.fleets.shop
    return {
        "fleet": "shop",
        "region": deployed.home,
        "blue_asg": "shop-blue",
        "launch_template": {"id": shop.launch_template_id, "version": shop.new_template_version()},
        "listener_arn": shop.listener_arn,
        "blue_target_group_arn": shop.blue_tg,
        "green_target_group_arn": shop.green_tg,
        "traffic_steps": [50, 100],
        "health_poll": {"attempts": 3, "wait_seconds": 0},
        "hold_seconds": 0,
        "lock_ttl_seconds": 3600,
    }


def put_alarm(deployed: Deployed, name: str, state: str) -> None:
    cloudwatch = deployed.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def test_deployment_rolls_back_when_an_alarm_fires_during_the_traffic_shift(
    deployed: Deployed, synced: None
) -> None:
    shop = deployed.fleets.shop
    blue = shop.instance_ids("shop-blue")
    put_alarm(deployed, "shop-5xx", "ALARM")
    since, journal = deployed.audit_seq(), deployed.journal_seq()

    execution = deployed.run_workflow("deployment", deployment_input(deployed))

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "DeploymentRolledBack", execution.describe()
    assert "shop-5xx" in (execution.cause or "")
    assert shop.weights() == {shop.blue_tg: 100, shop.green_tg: 0}
    assert shop.instance_ids("shop-blue") == blue
    assert deployed.table().get(keys.lock_key("shop")) is None
    assert {r["status"] for r in task_runs(deployed, journal)} == {"success"}
    assert_no_denials(deployed, "deployment", since)


def test_deployment_shifts_all_traffic_to_green_and_retires_blue(
    deployed: Deployed, synced: None
) -> None:
    shop = deployed.fleets.shop
    put_alarm(deployed, "shop-5xx", "OK")
    since, journal = deployed.audit_seq(), deployed.journal_seq()

    execution = deployed.run_workflow("deployment", deployment_input(deployed))

    assert execution.status == "SUCCEEDED", execution.describe()
    assert shop.describe("shop-blue") is None
    assert shop.weights() == {shop.blue_tg: 0, shop.green_tg: 100}
    runs = task_runs(deployed, journal)
    assert {r["status"] for r in runs} == {"success"}
    assert [r["event"]["task"] for r in runs].count("deployment.shift_traffic") == 2
    assert_no_denials(deployed, "deployment", since)


# ---- maintenance --------------------------------------------------------------------------------


def maintenance_input(deployed: Deployed, **overrides: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "fleet": "batch",
        "region": deployed.home,
        "asg": "batch-app",
        "window": {"start": iso_utc(now - 60), "end": iso_utc(now + 3600)},
        "batch_size": 2,
        "max_concurrency": 1,
        "failure_tolerance": 0.2,
        "document": "AWS-RunPatchBaseline",
        "target_group_arns": [deployed.fleets.batch.blue_tg],
        "wait_seconds": 0,
        "monitor_seconds": 0,
        **overrides,
    }


def test_maintenance_refuses_a_window_that_is_over_and_drains_nothing(
    deployed: Deployed, synced: None
) -> None:
    now = time.time()
    since = deployed.audit_seq()
    window = {"start": iso_utc(now - 7200), "end": iso_utc(now - 3600)}

    execution = deployed.run_workflow("maintenance", maintenance_input(deployed, window=window))

    assert execution.status == "FAILED" and execution.error == "OutsideWindow", execution.describe()
    assert set(deployed.fleets.batch.lifecycle("batch-app").values()) == {"InService"}
    assert_no_denials(deployed, "maintenance", since)


def test_maintenance_patches_every_batch_and_returns_it_to_service(
    deployed: Deployed, synced: None
) -> None:
    batch = deployed.fleets.batch
    instances = batch.instance_ids("batch-app")
    since = deployed.audit_seq()

    execution = deployed.run_workflow("maintenance", maintenance_input(deployed))

    assert execution.status == "SUCCEEDED", execution.describe()
    assert batch.lifecycle("batch-app") == {i: "InService" for i in instances}
    commands = deployed.client("ssm").list_commands()["Commands"]
    assert {c["DocumentName"] for c in commands} == {"AWS-RunPatchBaseline"}
    assert deployed.table().get(keys.lock_key("batch")) is None
    assert_no_denials(deployed, "maintenance", since)


# ---- recovery -----------------------------------------------------------------------------------


def make_unhealthy(
    deployed: Deployed, region: str, az: str | None = None, status: str = "Unhealthy"
) -> list[str]:
    asg = deployed.fleets.api.asgs[region][0]
    ids = asg.per_az[az] if az else asg.instance_ids
    client = deployed.client("autoscaling", region)
    for instance_id in ids:
        client.set_instance_health(InstanceId=instance_id, HealthStatus=status)
    return list(ids)


def api_desired(deployed: Deployed, region: str) -> int:
    group = deployed.client("autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=["api-1"]
    )["AutoScalingGroups"][0]
    return int(group["DesiredCapacity"])


def test_recovery_rebalances_away_from_a_failed_availability_zone(
    deployed: Deployed, synced: None
) -> None:
    since = deployed.audit_seq()
    make_unhealthy(deployed, deployed.home, f"{deployed.home}a")

    execution = deployed.run_workflow(
        "recovery",
        {"incident_id": "inc-az-1", "fleet": "api", "source": "manual", "wait_seconds": 0},
    )

    assert execution.status == "SUCCEEDED", execution.describe()
    assert api_desired(deployed, deployed.home) == 8
    incident = deployed.table().get(keys.Key(keys.fleet_pk("api"), "INCIDENT#inc-az-1"))
    assert incident is not None and incident["strategy"] == "az_rebalance", incident
    assert_no_denials(deployed, "recovery", since)


def test_recovery_with_no_healthy_capacity_fails_and_changes_nothing(
    deployed: Deployed, synced: None
) -> None:
    since = deployed.audit_seq()
    before = {r: api_desired(deployed, r) for r in deployed.stack.regions}
    unhealthy = {r: make_unhealthy(deployed, r) for r in deployed.stack.regions}
    try:
        execution = deployed.run_workflow(
            "recovery",
            {"incident_id": "inc-all-1", "fleet": "api", "source": "manual", "wait_seconds": 0},
        )
    finally:
        for region in unhealthy:
            make_unhealthy(deployed, region, status="Healthy")

    assert (
        execution.status == "FAILED" and execution.error == "NoHealthyCapacity"
    ), execution.describe()
    assert {r: api_desired(deployed, r) for r in deployed.stack.regions} == before
    assert_no_denials(deployed, "recovery", since)
