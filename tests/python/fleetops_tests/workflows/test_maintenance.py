"""The maintenance workflow, executed by moto's Step Functions engine over a moto fleet."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from fleetops.core.clock import iso_utc
from fleetops.core.registry import keys
from fleetops_tests.workflows.fleet import RegionFleet, seed_registry
from fleetops_tests.workflows.harness import HOME

FLEET = "batch"
GROUP = "batch-app"


@pytest.fixture
def app(workflows, table) -> RegionFleet:
    region = RegionFleet(FLEET, HOME)
    region.load_balancer()
    region.group(GROUP, 6, target_groups=[region.blue_tg])
    seed_registry(table, FLEET, [region])
    return region


def maintenance_input(region: RegionFleet, **overrides: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "fleet": FLEET,
        "region": HOME,
        "asg": GROUP,
        "window": {"start": iso_utc(now - 60), "end": iso_utc(now + 3600)},
        "batch_size": 2,
        "max_concurrency": 2,
        "failure_tolerance": 0.2,
        "document": "AWS-RunPatchBaseline",
        "target_group_arns": [region.blue_tg],
        "wait_seconds": 0,
        "monitor_seconds": 0,
        **overrides,
    }


@pytest.fixture
def failing_commands():
    """Fault injection: Run Command invocations fail on the instances in the returned set."""
    from moto.ssm.models import Command

    failing: set[str] = set()
    original = Command.invocation_response

    def invocation_response(self, instance_id, plugin_name):
        response = original(self, instance_id, plugin_name)
        if instance_id in failing:
            response.update(Status="Failed", StatusDetails="Failed", ResponseCode=1)
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Command, "invocation_response", invocation_response)
        yield failing


def all_back_in_service(region: RegionFleet, instances: list[str]) -> None:
    assert region.lifecycle(GROUP) == {i: "InService" for i in instances}
    assert region.target_states(region.blue_tg) == {i: "healthy" for i in instances}


def commands_sent() -> list[dict[str, Any]]:
    return boto3.client("ssm", region_name=HOME).list_commands()["Commands"]


def test_happy_path_updates_every_batch_and_returns_it_to_service(
    workflows, app, table, inbox, router
):
    instances = app.instance_ids(GROUP)
    drained: list[tuple[list[str], dict[str, str], dict[str, list[str]]]] = []

    def observe_drain(event, result):
        # What the workflow deregistered, not the target group's state: with two batches in
        # flight, moto's ExitStandby of the other batch re-registers every instance of the group
        # (Standby ones included); AWS re-registers only the instances leaving standby.
        drained.append((event["instance_ids"], app.lifecycle(GROUP), result["deregistered"]))

    router.after_task("maintenance.deregister", observe_drain)

    execution = workflows.run("maintenance", maintenance_input(app), "maint-1")

    assert execution.status == "SUCCEEDED", execution.describe()
    all_back_in_service(app, instances)
    assert len(drained) == 3
    for batch, lifecycle, deregistered in drained:
        assert len(batch) == 2
        assert {lifecycle[i] for i in batch} == {"Standby"}
        assert deregistered == {app.blue_tg: batch}
    assert sorted(i for batch, _, _ in drained for i in batch) == instances
    commands = commands_sent()
    assert len(commands) == 3
    assert {c["DocumentName"] for c in commands} == {"AWS-RunPatchBaseline"}
    assert all(c["Parameters"] == {"Operation": ["Install"]} for c in commands)
    assert table.get(keys.lock_key(FLEET)) is None
    record = table.get(keys.Key(keys.fleet_pk(FLEET), f"MAINTENANCE#{HOME}#maint-1"))
    assert record["status"] == "succeeded" and record["failures"] == 0 and record["instances"] == 6
    (note,) = inbox.receive()
    assert note["body"]["kind"] == "maintenance.succeeded"


def test_batches_spread_across_availability_zones():
    from fleetops.workflows.fleet import AsgInstance
    from fleetops.workflows.maintenance import _spread

    instances = [
        AsgInstance(f"i-{az}{n}", f"us-east-1{az}", "InService", "Healthy")
        for az, count in (("a", 3), ("b", 2), ("c", 1))
        for n in range(count)
    ]

    ordered = _spread(instances)

    assert ordered == ["i-a0", "i-b0", "i-c0", "i-a1", "i-b1", "i-a2"]
    assert [ordered[i : i + 3] for i in (0, 3)] == [
        ["i-a0", "i-b0", "i-c0"],
        ["i-a1", "i-b1", "i-a2"],
    ]


def test_failures_within_budget_are_reported_and_the_run_completes(
    workflows, app, table, failing_commands
):
    instances = app.instance_ids(GROUP)
    failing_commands.add(instances[0])

    execution = workflows.run("maintenance", maintenance_input(app), "maint-3")

    assert execution.status == "SUCCEEDED", execution.describe()
    record = table.get(keys.Key(keys.fleet_pk(FLEET), f"MAINTENANCE#{HOME}#maint-3"))
    assert record["failures"] == 1 and record["failure_budget"] == 1
    assert record["failed_instances"] == [instances[0]]
    all_back_in_service(app, instances)


def test_abort_past_failure_budget_returns_every_drained_instance(
    workflows, app, table, inbox, router, failing_commands
):
    instances = app.instance_ids(GROUP)
    failing_commands.update(instances)

    execution = workflows.run("maintenance", maintenance_input(app, max_concurrency=1), "maint-4")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "MaintenanceAborted"
    assert "FailureBudgetExceeded" in execution.cause
    assert "2 instance(s) failed so far, more than the 1 tolerated" in execution.cause
    assert "6 drained instance(s) returned to service, all healthy" in execution.cause
    all_back_in_service(app, instances)
    assert len(commands_sent()) == 1, "no batch is started after the budget is exceeded"
    assert table.get(keys.lock_key(FLEET)) is None
    record = table.get(keys.Key(keys.fleet_pk(FLEET), f"MAINTENANCE#{HOME}#maint-4"))
    assert record["status"] == "aborted" and record["failures"] == 2
    (note,) = inbox.receive()
    assert note["body"]["kind"] == "maintenance.aborted"


def test_abort_while_a_batch_is_drained_returns_it_to_service(workflows, app, table, router):
    instances = app.instance_ids(GROUP)
    seen: list[dict[str, str]] = []

    def lose_validation_host(event):
        if event["instance_ids"] != sorted(event["instance_ids"]) or True:
            seen.append(app.lifecycle(GROUP))
        if len(seen) == 2:
            raise RuntimeError("validation host unreachable")

    router.before_task("maintenance.validate", lose_validation_host)

    execution = workflows.run("maintenance", maintenance_input(app, max_concurrency=1), "maint-5")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "MaintenanceAborted"
    assert "BatchFailed" in execution.cause and "validation host unreachable" in execution.cause
    assert (
        list(seen[1].values()).count("Standby") == 2
    ), "the second batch was drained when it failed"
    assert "ExitStandbyAll" in execution.states_entered()
    all_back_in_service(app, instances)
    assert table.get(keys.lock_key(FLEET)) is None


def test_window_already_over_is_refused(workflows, app, table, router):
    now = time.time()
    window = {"start": iso_utc(now - 7200), "end": iso_utc(now - 3600)}

    execution = workflows.run("maintenance", maintenance_input(app, window=window), "maint-6")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "OutsideWindow"
    assert "window ended at" in execution.cause and "Nothing was drained" in execution.cause
    assert router.tasks() == ["maintenance.schedule", "maintenance.finish"]
    assert table.get(keys.lock_key(FLEET)) is None


def test_waits_for_the_window_to_open(workflows, app, router):
    opened: list[float] = []
    router.after_task("maintenance.open_window", lambda event, result: opened.append(time.time()))
    started = time.time()
    window = {"start": iso_utc(started + 4), "end": iso_utc(started + 3600)}

    execution = workflows.run("maintenance", maintenance_input(app, window=window), "maint-7")

    assert execution.status == "SUCCEEDED", execution.describe()
    assert (
        opened[0] - started >= 1.5
    ), "it waited for the window (moto truncates the wait to whole seconds)"
    assert execution.states_entered().index("WaitForWindow") < execution.states_entered().index(
        "OpenWindow"
    )


def test_fleet_locked_by_a_deployment_is_refused(workflows, app, table, router):
    lock = {
        **keys.lock_key(FLEET).as_dict(),
        "entity": "lock",
        "kind": "deployment",
        "owner": "arn:aws:states:us-east-1:123456789012:execution:deployment:d-1",
        "acquired_at": "2030-01-01T00:00:00Z",
        "lock_expires_at": 4_102_444_800,
    }
    table.batch_write([lock])

    execution = workflows.run("maintenance", maintenance_input(app), "maint-8")

    assert execution.error == "FleetLocked", execution.describe()
    assert "locked by deployment" in execution.cause
    assert table.get(keys.lock_key(FLEET)) == lock
    assert commands_sent() == []
    assert set(app.lifecycle(GROUP).values()) == {"InService"}


def test_alarm_during_monitoring_fails_the_run_after_restoring_service(
    workflows, app, table, router
):
    cloudwatch = boto3.client("cloudwatch", region_name=HOME)
    cloudwatch.put_metric_alarm(
        AlarmName="batch-latency",
        MetricName="TargetResponseTime",
        Namespace="AWS/ApplicationELB",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    router.after_task(
        "maintenance.plan_batches",
        lambda event, result: cloudwatch.set_alarm_state(
            AlarmName="batch-latency", StateValue="ALARM", StateReason="t"
        ),
    )

    execution = workflows.run("maintenance", maintenance_input(app), "maint-9")

    assert execution.error == "UnstableAfterMaintenance", execution.describe()
    assert "batch-latency" in execution.cause
    all_back_in_service(app, app.instance_ids(GROUP))
    assert table.get(keys.lock_key(FLEET)) is None


def test_no_batch_starts_after_the_window_closes(workflows, app, table, router, handler_module):
    instances = app.instance_ids(GROUP)
    now = time.time()
    window = {"start": iso_utc(now - 60), "end": iso_utc(now + 3600)}
    late = [0.0]
    handler_module.DEPS.clock = lambda: time.time() + late[0]

    def close_the_window(event):
        late[0] = 7200.0  # the task handlers' clock jumps past the window's end

    router.before_task("maintenance.validate", close_the_window)

    execution = workflows.run(
        "maintenance", maintenance_input(app, window=window, max_concurrency=1), "maint-10"
    )

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "MaintenanceAborted"
    assert "OutsideWindow" in execution.cause
    assert "outside the maintenance window" in execution.cause
    assert len(commands_sent()) == 1, "only the batch started inside the window ran"
    all_back_in_service(app, instances)
    assert table.get(keys.lock_key(FLEET)) is None
