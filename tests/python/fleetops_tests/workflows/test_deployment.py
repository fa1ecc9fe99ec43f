"""The deployment workflow, executed by moto's Step Functions engine over a moto fleet."""

from __future__ import annotations

from typing import Any

import pytest

from fleetops.core.registry import keys
from fleetops_tests.workflows.fleet import RegionFleet, seed_registry
from fleetops_tests.workflows.harness import HOME

FLEET = "web"
BLUE = "web-blue"


@pytest.fixture
def web(workflows, table) -> RegionFleet:
    region = RegionFleet(FLEET, HOME)
    region.load_balancer()
    region.group(BLUE, 2, target_groups=[region.blue_tg])
    seed_registry(table, FLEET, [region])
    return region


def deployment_input(region: RegionFleet, version: str, **overrides: Any) -> dict[str, Any]:
    return {
        "fleet": FLEET,
        "region": HOME,
        "blue_asg": BLUE,
        "launch_template": {"id": region.launch_template_id, "version": version},
        "listener_arn": region.listener_arn,
        "blue_target_group_arn": region.blue_tg,
        "green_target_group_arn": region.green_tg,
        "traffic_steps": [10, 50, 100],
        "health_poll": {"attempts": 3, "wait_seconds": 0},
        "hold_seconds": 0,
        "lock_ttl_seconds": 3600,
        **overrides,
    }


def green_groups(region: RegionFleet) -> list[dict[str, Any]]:
    groups = region.asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    return [g for g in groups if g["AutoScalingGroupName"] != BLUE]


def test_happy_path_shifts_all_traffic_to_green_and_retires_blue(
    workflows, web, table, inbox, router
):
    version = web.new_template_version()

    execution = workflows.run("deployment", deployment_input(web, version), "deploy-1")

    assert execution.status == "SUCCEEDED", execution.describe()
    assert web.describe(BLUE) is None
    (green,) = green_groups(web)
    assert green["LaunchTemplate"]["Version"] == version
    assert green["DesiredCapacity"] == 2
    assert web.weights() == {web.blue_tg: 0, web.green_tg: 100}
    assert table.get(keys.lock_key(FLEET)) is None
    record = table.get(keys.Key(keys.fleet_pk(FLEET), f"DEPLOYMENT#{HOME}#deploy-1"))
    assert record["status"] == "succeeded"
    assert record["green_asg"] == green["AutoScalingGroupName"]
    (note,) = inbox.receive()
    assert note["body"]["kind"] == "deployment.succeeded"
    assert router.tasks().count("deployment.shift_traffic") == 3


@pytest.fixture
def green_unhealthy(web):
    """Fault injection: every target of the green target group fails its health checks."""
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        status = original(self, target, ec2_backend)
        if self.arn == web.green_tg and status.status == "healthy":
            return FakeHealthStatus(
                status.instance_id,
                status.port,
                status.health_check_port,
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
            )
        return status

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeTargetGroup, "health_for", health_for)
        yield


def assert_blue_restored(web: RegionFleet, table, blue_instances: list[str]) -> None:
    assert web.weights() == {web.blue_tg: 100, web.green_tg: 0}
    assert green_groups(web) == []
    assert web.instance_ids(BLUE) == blue_instances
    assert table.get(keys.lock_key(FLEET)) is None


def test_green_never_healthy_rolls_back_to_blue_and_releases_the_lock(
    workflows, web, table, inbox, router, green_unhealthy
):
    blue_instances = web.instance_ids(BLUE)
    version = web.new_template_version()

    execution = workflows.run("deployment", deployment_input(web, version), "deploy-2")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "DeploymentRolledBack"
    assert "GreenNeverHealthy" in execution.cause
    assert "0/2 instances" in execution.cause and "after 3 check(s)" in execution.cause
    assert "Traffic is back on blue web-blue" in execution.cause
    assert router.tasks().count("deployment.check_green") == 3
    assert "deployment.shift_traffic" not in router.tasks()
    assert_blue_restored(web, table, blue_instances)
    record = table.get(keys.Key(keys.fleet_pk(FLEET), f"DEPLOYMENT#{HOME}#deploy-2"))
    assert record["status"] == "rolled_back"
    (note,) = inbox.receive()
    assert note["body"]["kind"] == "deployment.rolled_back"
    assert note["MessageAttributes"]["severity"]["Value"] == "warning"
    assert note["body"]["summary"] == execution.cause


def test_alarm_during_traffic_shift_rolls_traffic_back_to_blue(
    workflows, web, table, inbox, router
):
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name=HOME)
    cloudwatch.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    weights_seen: list[dict[str, int]] = []

    def fire_after_second_step(event, result):
        weights_seen.append(web.weights())
        if result["index"] == 1:
            cloudwatch.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="test")

    router.after_task("deployment.shift_traffic", fire_after_second_step)
    blue_instances = web.instance_ids(BLUE)

    execution = workflows.run(
        "deployment", deployment_input(web, web.new_template_version()), "deploy-3"
    )

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "DeploymentRolledBack"
    assert "TrafficStepFailed" in execution.cause and "at 50% traffic to green" in execution.cause
    assert "web-5xx" in execution.cause
    assert weights_seen == [
        {web.blue_tg: 90, web.green_tg: 10},
        {web.blue_tg: 50, web.green_tg: 50},
    ]
    assert_blue_restored(web, table, blue_instances)


def test_lock_already_held_refuses_and_changes_nothing(workflows, web, table, inbox, router):
    lock = {
        **keys.lock_key(FLEET).as_dict(),
        "entity": "lock",
        "owner": "arn:aws:states:us-east-1:123456789012:execution:maintenance:m-1",
        "kind": "maintenance",
        "acquired_at": "2030-01-01T00:00:00Z",
        "lock_expires_at": 4_102_444_800,
    }
    table.batch_write([lock])

    execution = workflows.run(
        "deployment", deployment_input(web, web.new_template_version()), "deploy-4"
    )

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "FleetLocked"
    assert "locked by maintenance" in execution.cause and "m-1" in execution.cause
    assert "Nothing was changed" in execution.cause
    assert table.get(keys.lock_key(FLEET)) == lock
    assert green_groups(web) == [] and web.describe(BLUE) is not None
    assert web.weights() == {web.blue_tg: 100, web.green_tg: 0}
    assert router.tasks() == ["deployment.validate", "deployment.finish"]
    assert table.query(keys.fleet_pk(FLEET), sk_prefix="DEPLOYMENT#") is not None
    assert list(table.query(keys.fleet_pk(FLEET), sk_prefix="DEPLOYMENT#")) == []
    (note,) = inbox.receive()
    assert note["body"]["kind"] == "deployment.refused"


def test_lock_taken_between_validation_and_acquisition_is_refused_by_the_conditional_write(
    workflows, web, table, router
):
    competing = {
        **keys.lock_key(FLEET).as_dict(),
        "entity": "lock",
        "owner": "arn:aws:states:us-east-1:123456789012:execution:deployment:other",
        "kind": "deployment",
        "acquired_at": "2030-01-01T00:00:00Z",
        "lock_expires_at": 4_102_444_800,
    }
    router.after_task("deployment.validate", lambda event, result: table.batch_write([competing]))

    execution = workflows.run(
        "deployment", deployment_input(web, web.new_template_version()), "deploy-5"
    )

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "FleetLocked"
    assert "locked by deployment" in execution.cause and ":other" in execution.cause
    assert (
        "AcquireLock" in execution.states_entered()
        and "CreateGreen" not in execution.states_entered()
    )
    assert table.get(keys.lock_key(FLEET)) == competing
    assert green_groups(web) == []


def test_expired_lock_is_taken_over(workflows, web, table):
    stale = {
        **keys.lock_key(FLEET).as_dict(),
        "entity": "lock",
        "owner": "arn:aws:states:us-east-1:123456789012:execution:deployment:old",
        "kind": "deployment",
        "acquired_at": "2020-01-01T00:00:00Z",
        "lock_expires_at": 1_577_840_000,
    }
    table.batch_write([stale])

    execution = workflows.run(
        "deployment", deployment_input(web, web.new_template_version()), "deploy-6"
    )

    assert execution.status == "SUCCEEDED", execution.describe()
    assert table.get(keys.lock_key(FLEET)) is None


def test_missing_launch_template_version_is_refused_before_locking(workflows, web, table, inbox):
    execution = workflows.run("deployment", deployment_input(web, "42"), "deploy-7")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "DeploymentRefused"
    assert "launch_template: version 42" in execution.cause
    assert table.get(keys.lock_key(FLEET)) is None
    assert green_groups(web) == []


def test_unhealthy_blue_fleet_is_refused(workflows, web, table):
    web.asg.set_instance_health(InstanceId=web.instance_ids(BLUE)[0], HealthStatus="Unhealthy")

    execution = workflows.run(
        "deployment", deployment_input(web, web.new_template_version()), "deploy-8"
    )

    assert execution.error == "DeploymentRefused", execution.describe()
    assert "fleet unhealthy: 1/2 instances of web-blue" in execution.cause


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"traffic_steps": [10, 50]}, "traffic_steps: the last step must be 100"),
        ({"health_poll": {"attempts": 0, "wait_seconds": 0}}, "input.health_poll.attempts"),
        ({"lock_ttl_seconds": "3600"}, "input.lock_ttl_seconds"),
        ({"unexpected": 1}, "input.unexpected: Extra inputs are not permitted"),
    ],
)
def test_malformed_input_is_refused_naming_the_field(
    workflows, web, table, router, override, named
):
    execution = workflows.run("deployment", deployment_input(web, "2", **override), "deploy-9")

    assert execution.error == "DeploymentRefused", execution.describe()
    assert "InvalidInputError" in execution.cause and named in execution.cause
    assert table.get(keys.lock_key(FLEET)) is None
    assert router.tasks() == ["deployment.validate", "deployment.finish"]
