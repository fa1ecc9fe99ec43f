"""The recovery workflow, executed by moto's Step Functions engine over a moto fleet in two
regions, with the backup component's real backup and restore handlers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from fleetops.core.registry import keys
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.lambda_context import LambdaContextStub
from fleetops_tests.workflows.conftest import BACKUP_BUCKET
from fleetops_tests.workflows.fleet import seed_registry
from fleetops_tests.workflows.harness import HOME, OTHER, RESTORE_ARN

if TYPE_CHECKING:
    # Imported for real in the `restore_handler` fixture (they read the environment at import);
    # named here so that dependency inference (Pants) sees them.
    import fleetops.backup.handler
    import fleetops.backup.restore_handler  # noqa: F401

FLEET = "api"


class Fleet:
    """`api-1` in each of HOME and OTHER: 6 instances spread over 3 AZs."""

    def __init__(self, table) -> None:
        self.built = aws_fleet.build_fleet(
            FLEET, [HOME, OTHER], asgs_per_region=1, instances_per_asg=6
        )
        self.table = table

    def group(self, region: str) -> dict[str, Any]:
        client = boto3.client("autoscaling", region_name=region)
        return client.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{FLEET}-1"])[
            "AutoScalingGroups"
        ][0]

    def desired(self, region: str) -> int:
        return int(self.group(region)["DesiredCapacity"])

    def make_unhealthy(self, region: str, az: str | None = None) -> list[str]:
        asg = self.built.asgs[region][0]
        ids = asg.per_az[az] if az else asg.instance_ids
        client = boto3.client("autoscaling", region_name=region)
        for instance_id in ids:
            client.set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy")
        return list(ids)

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        return self.table.get(keys.Key(keys.fleet_pk(FLEET), f"INCIDENT#{incident_id}"))


@pytest.fixture
def api(workflows, table) -> Fleet:
    fleet = Fleet(table)
    seed_registry(table, FLEET, [_RegionView(HOME), _RegionView(OTHER)])
    return fleet


class _RegionView:
    """What `seed_registry` reads of a region: its Auto Scaling client."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.asg = boto3.client("autoscaling", region_name=region)


def recovery_input(incident_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "fleet": FLEET,
        "source": "health-check",
        "wait_seconds": 0,
        **overrides,
    }


@pytest.fixture
def restore_handler(router, env) -> Any:
    """The backup component's real restore Lambda behind the restore function ARN, and a
    verified backup of the registry taken by its real backup Lambda."""
    boto3.client("s3", region_name=HOME).create_bucket(Bucket=BACKUP_BUCKET)
    backup_module = importlib.reload(importlib.import_module("fleetops.backup.handler"))
    restore_module = importlib.reload(importlib.import_module("fleetops.backup.restore_handler"))
    router.route(RESTORE_ARN, restore_module.handler)

    def take_backup() -> dict[str, Any]:
        result: dict[str, Any] = backup_module.handler({}, LambdaContextStub())
        assert result["status"] == "verified", result
        return result

    return take_backup


def test_az_failure_rebalances_within_the_region(workflows, api, table, inbox, router):
    api.make_unhealthy(HOME, f"{HOME}a")

    execution = workflows.run("recovery", recovery_input("inc-az-1"), "inc-az-1")

    assert execution.status == "SUCCEEDED", execution.describe()
    group = api.group(HOME)
    assert group["DesiredCapacity"] == 8
    subnets = set(group["VPCZoneIdentifier"].split(","))
    network = api.built.networks[HOME]
    assert subnets == {network.subnets[f"{HOME}b"], network.subnets[f"{HOME}c"]}
    assert api.desired(OTHER) == 6
    incident = api.incident("inc-az-1")
    assert incident["strategy"] == "az_rebalance" and incident["status"] == "recovered"
    assert incident["actions"][f"{HOME}/{FLEET}-1"]["status"] == "applied"
    (note,) = inbox.receive()
    assert note["body"]["kind"] == "recovery.succeeded"
    assert "AZ rebalance away from us-east-1 us-east-1a" in note["body"]["summary"]
    assert "Scaled us-east-1/api-1 6->8" in note["body"]["summary"]
    assert "restore" not in " ".join(router.tasks())


def test_region_failure_fails_over_to_the_healthy_region_and_moves_dns(
    workflows, api, table, inbox
):
    route53 = boto3.client("route53", region_name=HOME)
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="r1")["HostedZone"][
        "Id"
    ].split("/")[-1]
    records: list[dict[str, Any]] = [
        {"region": HOME, "set_identifier": "use1", "weight": 100, "values": ["192.0.2.10"]},
        {"region": OTHER, "set_identifier": "usw2", "weight": 100, "values": ["192.0.2.20"]},
    ]
    route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "api.example.com",
                        "Type": "A",
                        "SetIdentifier": r["set_identifier"],
                        "Weight": 100,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": r["values"][0]}],
                    },
                }
                for r in records
            ]
        },
    )
    table.batch_write(
        [
            {
                "pk": keys.fleet_pk(FLEET),
                "sk": "ROUTING",
                "entity": "routing",
                "hosted_zone_id": zone,
                "record_name": "api.example.com",
                "record_type": "A",
                "policy": "weighted",
                "ttl": 60,
                "records": records,
            }
        ]
    )
    api.make_unhealthy(OTHER)

    execution = workflows.run("recovery", recovery_input("inc-region-1"), "inc-region-1")

    assert execution.status == "SUCCEEDED", execution.describe()
    assert api.desired(HOME) == 12, "HOME takes over OTHER's 6 instances"
    assert api.desired(OTHER) == 6
    weights = {
        r["SetIdentifier"]: r["Weight"]
        for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        if r.get("SetIdentifier")
    }
    assert weights == {"use1": 100, "usw2": 0}
    incident = api.incident("inc-region-1")
    assert incident["strategy"] == "regional_failover"
    (note,) = inbox.receive()
    assert "regional failover away from us-west-2" in note["body"]["summary"]
    assert "Route 53 change" in note["body"]["summary"]


def test_second_execution_for_the_same_incident_does_not_scale_again(workflows, api, router):
    api.make_unhealthy(HOME, f"{HOME}a")
    first = workflows.run("recovery", recovery_input("inc-az-2", source="alarm"), "inc-az-2")
    assert first.status == "SUCCEEDED", first.describe()
    assert api.desired(HOME) == 8

    second = workflows.run(
        "recovery", recovery_input("inc-az-2", source="manual"), "inc-az-2-again"
    )

    assert second.status == "SUCCEEDED", second.describe()
    assert api.desired(HOME) == 8, "the second execution must not double-scale"
    scale_results = [
        i.result for i in router.invocations if i.event.get("task") == "recovery.scale"
    ]
    assert scale_results[0]["applied"] and not scale_results[0]["skipped"]
    assert not scale_results[1]["applied"]
    assert "already applied by" in scale_results[1]["skipped"][0]["reason"]
    assert first.arn in scale_results[1]["skipped"][0]["reason"]
    incident = api.incident("inc-az-2")
    assert incident["executions"] == {first.arn, second.arn}
    assert incident["source"] == "alarm", "the first detection is kept"


def test_registry_lost_is_restored_from_the_latest_verified_backup(
    workflows, api, table, restore_handler
):
    restore_handler()
    before = {(i["pk"], i["sk"]) for i in table.query(keys.fleet_pk(FLEET))}
    table.batch_write(deletes=[keys.Key(pk, sk) for pk, sk in before])
    assert list(table.query(keys.fleet_pk(FLEET))) == []
    api.make_unhealthy(HOME, f"{HOME}a")

    execution = workflows.run("recovery", recovery_input("inc-lost-1"), "inc-lost-1")

    assert execution.status == "SUCCEEDED", execution.describe()
    after = {(i["pk"], i["sk"]) for i in table.query(keys.fleet_pk(FLEET))}
    assert before <= after, "every registry item of the fleet is back"
    assert table.get(keys.fleet_key(FLEET)) is not None
    incident = api.incident("inc-lost-1")
    assert incident["restored_backup_id"] and incident["restored_items"] >= len(before)
    assert api.desired(HOME) == 8


def test_dry_run_decides_and_records_but_changes_nothing(workflows, api, router):
    api.make_unhealthy(OTHER)

    execution = workflows.run("recovery", recovery_input("inc-dry-1", dry_run=True), "inc-dry-1")

    assert execution.status == "SUCCEEDED", execution.describe()
    assert (api.desired(HOME), api.desired(OTHER)) == (6, 6)
    incident = api.incident("inc-dry-1")
    assert incident["status"] == "dry_run" and incident["strategy"] == "regional_failover"
    assert incident["actions"] == {}


def test_no_healthy_region_fails_with_the_reason(workflows, api, inbox):
    api.make_unhealthy(HOME)
    api.make_unhealthy(OTHER)

    execution = workflows.run("recovery", recovery_input("inc-all-1"), "inc-all-1")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "NoHealthyCapacity"
    assert "no healthy side to scale up" in execution.cause
    assert (api.desired(HOME), api.desired(OTHER)) == (6, 6)
    assert api.incident("inc-all-1")["status"] == "failed"


def test_healthy_fleet_needs_no_action(workflows, api):
    execution = workflows.run(
        "recovery", recovery_input("inc-none-1", source="manual"), "inc-none-1"
    )

    assert execution.status == "SUCCEEDED", execution.describe()
    assert api.incident("inc-none-1")["strategy"] == "none"
    assert (api.desired(HOME), api.desired(OTHER)) == (6, 6)


def test_malformed_input_is_refused_naming_the_field(workflows, api, table, router):
    execution = workflows.run("recovery", recovery_input("inc-bad-1", source="pager"), "inc-bad-1")

    assert execution.status == "FAILED", execution.describe()
    assert execution.error == "RecoveryRefused"
    assert "input.source" in execution.cause
    assert router.tasks() == ["recovery.assess", "recovery.finish"]
    assert api.incident("inc-bad-1") is None
