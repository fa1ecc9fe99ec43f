"""fleet-sync end to end over a moto fleet in three regions (domain level, no Lambda wrapper)."""

from __future__ import annotations

import pytest

from fleetops.core.errors import NotFoundError
from fleetops.core.registry import RegistryTable, keys
from fleetops_tests.fleet_sync.conftest import START, Harness, World
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.env import FLEET_REGIONS, base_env
from fleetops_tests.support.faults import (
    before_first,
    cancel_first,
    closed_port_endpoint,
    fail_first,
    unprocessed_first,
)

HOME = "us-east-1"


def entity_items(harness: Harness, entity: str) -> list[dict[str, object]]:
    return [item for item in harness.items() if item["entity"] == entity]


def test_first_sync_registers_every_instance_asg_region_and_the_fleet(
    harness: Harness, world: World
) -> None:
    result = harness.run()

    assert result.status == "ok"
    assert result.fleets == ["web"]
    assert result.totals()["created"] == world.web_instances + world.web_asgs
    instances = entity_items(harness, "instance")
    assert len(instances) == world.web_instances
    some_id = world.web.asgs["us-west-2"][0].per_az["us-west-2b"][0]
    record = harness.instance("web", "us-west-2", some_id)
    template = world.web.templates["us-west-2"]
    assert record["state"] == "running"
    assert record["az"] == "us-west-2b"
    assert record["instance_type"] == "t3.micro"
    assert record["asg"] == "web-1"
    assert record["lifecycle_state"] == "InService"
    assert (record["launch_template_id"], record["launch_template_version"]) == (
        template.id,
        template.version,
    )
    assert (record["sync_version"], record["version"]) == (1, 1)
    assert record["first_seen"] == record["last_seen"] == "2023-11-14T22:13:20Z"
    assert "expires_at" not in record

    asg = harness.item(keys.asg_key("web", "eu-west-1", "web-2"))
    assert asg is not None
    assert (asg["desired_capacity"], asg["in_service_count"], asg["state"]) == (6, 6, "active")
    assert asg["azs"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    for region in FLEET_REGIONS:
        status = harness.item(keys.region_status_key("web", region))
        assert status is not None
        assert (status["status"], status["instance_count"], status["asg_count"]) == ("ok", 12, 2)
    assert harness.item(keys.fleet_key("web")) is not None
    assert harness.item(keys.fleet_index_key("web")) is not None
    assert world.inbox.receive() == []  # balanced fleet, capacity as desired: no drift


def test_requests_grow_with_pages_and_changes(harness: Harness, world: World) -> None:
    harness.run()
    counts = harness.counter.by_operation()
    changed_records = world.web_instances + world.web_asgs
    # 14 changes per region: one transaction each, every change with its own condition
    assert counts["dynamodb.TransactWriteItems"] == len(FLEET_REGIONS)
    assert "dynamodb.UpdateItem" not in counts
    assert harness.counter.writes() == len(FLEET_REGIONS) * 2
    assert len(entity_items(harness, "instance")) + len(entity_items(harness, "asg")) == (
        changed_records
    )
    assert counts["dynamodb.BatchWriteItem"] == len(
        FLEET_REGIONS
    )  # statuses (+ fleet records), per region
    assert counts["ec2.DescribeInstances"] == len(FLEET_REGIONS)  # one page each
    assert counts["auto-scaling.DescribeAutoScalingGroups"] == len(FLEET_REGIONS)
    assert counts["dynamodb.Query"] == 2  # fleet index + one page of the fleet partition


def test_a_second_run_over_an_unchanged_fleet_writes_nothing(
    harness: Harness, world: World
) -> None:
    harness.run()
    harness.counter.reset()
    harness.clock.now += 300

    result = harness.run()

    assert result.status == "ok"
    assert harness.counter.writes() == 0
    assert result.totals() == {
        "created": 0,
        "updated": 0,
        "tombstoned": 0,
        "unchanged": world.web_instances + world.web_asgs,
        "failed": 0,
    }
    assert harness.counter.total("sns") == 0


def test_changes_are_written_and_only_they(harness: Harness, world: World) -> None:
    harness.run()
    region = "us-east-1"
    asg = world.web.asgs[region][0]
    stopped, terminated = asg.instance_ids[0], asg.instance_ids[1]
    ec2 = aws_fleet.aws("ec2", region)
    ec2.stop_instances(InstanceIds=[stopped])
    aws_fleet.terminate_instances(region, [terminated])  # the ASG launches a replacement
    harness.counter.reset()
    harness.clock.now += 300

    result = harness.run()

    counts = result.regions[region].counts()
    assert (counts["created"], counts["tombstoned"]) == (1, 1)
    assert (
        counts["updated"] == 1
    )  # the stopped instance; the ASG's figures are back where they were
    assert harness.counter.counts["dynamodb.TransactWriteItems"] == 1  # the 3 changes together
    assert harness.counter.counts["dynamodb.BatchWriteItem"] == 0  # counts per region unchanged
    assert result.regions["us-west-2"].counts()["unchanged"] == 14

    assert harness.instance("web", region, stopped)["state"] == "stopped"
    tombstone = harness.instance("web", region, terminated)
    assert tombstone["state"] == "terminated"
    assert tombstone["expires_at"] == int(START) + 300 + 7 * 86400
    assert tombstone["terminated_at"] == "2023-11-14T22:18:20Z"
    assert tombstone["sync_version"] == 2


def test_instances_gone_from_ec2_become_tombstones_not_deletions(
    harness: Harness, world: World
) -> None:
    harness.run()
    region = "eu-west-1"
    gone = world.web.asgs[region][1].instance_ids[:2]
    aws_fleet.untag_instances(region, gone)  # no longer returned for the fleet tag
    harness.clock.now += 60

    result = harness.run()

    assert result.regions[region].tombstoned == 2
    for instance_id in gone:
        item = harness.instance("web", region, instance_id)
        assert item["state"] == "terminated"
        assert "lifecycle_state" not in item
        assert item["expires_at"] == int(START) + 60 + 7 * 86400
        assert item["az"]  # the rest of the record is kept for the record
    harness.counter.reset()
    assert harness.run().regions[region].tombstoned == 0  # a tombstone is written once
    assert harness.counter.writes() == 0


def test_a_returning_instance_leaves_its_tombstone(harness: Harness, world: World) -> None:
    harness.run()
    region = "us-west-2"
    instance_id = world.web.asgs[region][0].instance_ids[0]
    aws_fleet.untag_instances(region, [instance_id])
    harness.run()
    aws_fleet.aws("ec2", region).create_tags(
        Resources=[instance_id], Tags=[{"Key": "Fleet", "Value": "web"}]
    )

    harness.run()

    item = harness.instance("web", region, instance_id)
    assert item["state"] == "running"
    assert "expires_at" not in item and "terminated_at" not in item


def test_deleted_asgs_become_tombstones(harness: Harness, world: World) -> None:
    harness.run()
    aws_fleet.aws("autoscaling", HOME).delete_auto_scaling_group(
        AutoScalingGroupName="web-2", ForceDelete=True
    )

    harness.run()

    asg = harness.item(keys.asg_key("web", HOME, "web-2"))
    assert asg is not None
    assert asg["state"] == "deleted"
    assert "expires_at" in asg


def test_a_fleet_that_vanished_everywhere_is_still_visited_and_tombstoned(
    harness: Harness, world: World
) -> None:
    network = world.web.networks[HOME]
    api = aws_fleet.launch_instances(HOME, network=network, az=network.azs[0], count=2, fleet="api")
    harness.run()
    aws_fleet.untag_instances(HOME, api)

    result = harness.run()

    assert "api" in result.fleets
    assert result.regions[HOME].tombstoned == 2


def test_throttling_is_retried_on_every_service(harness: Harness, world: World) -> None:
    ec2 = fail_first(
        harness.clients,
        "ec2",
        "DescribeInstances",
        times=2,
        code="RequestLimitExceeded",
        status=503,
    )
    asg = fail_first(
        harness.clients, "auto-scaling", "DescribeAutoScalingGroups", times=1, code="Throttling"
    )
    ddb = fail_first(
        harness.clients,
        "dynamodb",
        "TransactWriteItems",
        times=3,
        code="ProvisionedThroughputExceededException",
    )
    query = fail_first(harness.clients, "dynamodb", "Query", times=1, code="ThrottlingException")

    result = harness.run()

    assert result.status == "ok"
    assert (ec2.injected, asg.injected, ddb.injected, query.injected) == (2, 1, 3, 1)
    assert len(entity_items(harness, "instance")) == world.web_instances
    assert harness.counter.counts["dynamodb.TransactWriteItems"] == len(FLEET_REGIONS) + 3


def test_cancelled_transactions_are_retried_and_lost_ones_fail_only_their_region(
    harness: Harness, world: World
) -> None:
    conflict = cancel_first(harness.clients, times=2, reason="TransactionConflict", position=5)

    result = harness.run()

    assert result.status == "ok"
    assert conflict.injected == 2
    assert len(entity_items(harness, "instance")) == world.web_instances

    region = "us-west-2"
    aws_fleet.aws("ec2", region).stop_instances(InstanceIds=world.web.instance_ids(region)[:2])
    conflict.times = conflict.injected  # stop the transient faults
    cancel_first(harness.clients, times=1, reason="ValidationError")
    harness.clock.now += 300

    result = harness.run()

    assert result.regions[region].status == "failed"
    assert result.regions[region].error_code == "TransactionError"
    assert result.regions[region].failed_writes == 2
    for instance_id in world.web.instance_ids(region)[:2]:  # all or nothing: neither written
        assert harness.instance("web", region, instance_id)["state"] == "running"
    status = harness.item(keys.region_status_key("web", region))
    assert status is not None and status["status"] == "failed"


def test_unprocessed_batch_items_are_retried_until_written(harness: Harness, world: World) -> None:
    fault = unprocessed_first(harness.clients, times=3)  # RETRY_MAX_ATTEMPTS is 4

    result = harness.run()

    assert result.status == "ok"
    assert fault.injected == 3
    assert len(entity_items(harness, "region_status")) == 3
    assert harness.item(keys.fleet_key("web")) is not None


def test_unprocessed_items_that_never_clear_fail_the_region_loudly(
    harness: Harness, world: World
) -> None:
    unprocessed_first(harness.clients, times=None)

    result = harness.run()

    assert result.status == "failed"
    for region in FLEET_REGIONS:
        assert result.regions[region].error_code == "BatchWriteError"
        assert "unprocessed" in (result.regions[region].error or "")


def test_one_region_down_does_not_stop_the_others(world: World, config_env: dict[str, str]) -> None:
    healthy = Harness(env=base_env())
    healthy.run()
    down = "eu-west-1"
    harness = Harness(env=base_env(), endpoint_overrides={down: closed_port_endpoint()})
    harness.clock.now += 300
    for region in ("us-east-1", "us-west-2"):
        aws_fleet.untag_instances(region, world.web.instance_ids(region)[:1])
    aws_fleet.untag_instances(down, world.web.instance_ids(down)[:1])

    result = harness.run()

    assert result.status == "partial"
    assert result.regions[down].status == "failed"
    assert result.regions[down].error_code == "EndpointConnectionError"
    for region in ("us-east-1", "us-west-2"):
        assert result.regions[region].ok
        assert result.regions[region].tombstoned == 1
    # Nothing of the failed region is touched on the strength of a missing answer ...
    for instance_id in world.web.instance_ids(down):
        assert harness.instance("web", down, instance_id)["state"] == "running"
    # ... except its status, which now says why it is stale.
    status = harness.item(keys.region_status_key("web", down))
    assert status is not None
    assert (status["status"], status["error_code"]) == ("failed", "EndpointConnectionError")
    # The dead region cost its retry budget on its first read (4 attempts), then nothing more.
    assert harness.counter.counts["auto-scaling.DescribeAutoScalingGroups"] == 2 + 4
    assert harness.counter.counts["ec2.DescribeInstances"] == 2


def test_a_concurrent_health_update_is_never_lost(harness: Harness, world: World) -> None:
    harness.run()
    instance_id = world.web.asgs[HOME][0].instance_ids[0]
    aws_fleet.aws("ec2", HOME).stop_instances(InstanceIds=[instance_id])
    key = keys.instance_key("web", HOME, instance_id)
    health_check = RegistryTable(aws_fleet.aws("dynamodb", HOME), aws_fleet.TABLE_NAME)

    def health_check_writes() -> None:
        # Between fleet-sync's read (the Query) and its write: health-check records a failure.
        health_check.update_owned(
            key,
            owned={"health": "unhealthy", "health_reason": "status check failed"},
            counter="health_version",
            expected=None,
        )

    interleaved = before_first(
        harness.clients, "dynamodb", "TransactWriteItems", health_check_writes
    )

    result = harness.run()

    assert interleaved.injected == 1
    assert result.regions[HOME].updated == 1
    item = harness.instance("web", HOME, instance_id)
    assert item["state"] == "stopped"  # fleet-sync's update landed ...
    assert (item["health"], item["health_reason"]) == (
        "unhealthy",
        "status check failed",
    )  # ... and so did this
    assert (item["sync_version"], item["health_version"], item["version"]) == (2, 1, 3)


def test_an_overlapping_sync_of_the_same_item_is_detected_and_replanned(
    harness: Harness, world: World
) -> None:
    harness.run()
    instance_id = world.web.asgs[HOME][0].instance_ids[0]
    aws_fleet.aws("ec2", HOME).stop_instances(InstanceIds=[instance_id])
    other_run = RegistryTable(aws_fleet.aws("dynamodb", HOME), aws_fleet.TABLE_NAME)
    key = keys.instance_key("web", HOME, instance_id)

    def other_sync_writes_first() -> None:
        other_run.update_owned(key, owned={"state": "stopped"}, counter="sync_version", expected=1)

    before_first(harness.clients, "dynamodb", "TransactWriteItems", other_sync_writes_first)

    result = harness.run()

    assert result.regions[HOME].conflicts == 1
    assert result.regions[HOME].updated == 0  # after re-planning there was nothing left to write
    item = harness.instance("web", HOME, instance_id)
    assert (item["state"], item["sync_version"], item["version"]) == ("stopped", 2, 2)


def test_a_lost_race_in_a_transaction_replans_that_item_and_writes_the_others(
    harness: Harness, world: World
) -> None:
    harness.run()
    raced, other = world.web.asgs[HOME][0].instance_ids[:2]
    aws_fleet.aws("ec2", HOME).stop_instances(InstanceIds=[raced, other])
    other_run = RegistryTable(aws_fleet.aws("dynamodb", HOME), aws_fleet.TABLE_NAME)

    def other_sync_writes_pending() -> None:
        # An overlapping run saw the instance in another state and wrote it first.
        other_run.update_owned(
            keys.instance_key("web", HOME, raced),
            owned={"state": "stopping"},
            counter="sync_version",
            expected=1,
        )

    before_first(harness.clients, "dynamodb", "TransactWriteItems", other_sync_writes_pending)
    harness.counter.reset()

    result = harness.run()

    assert (result.regions[HOME].conflicts, result.regions[HOME].updated) == (1, 2)
    assert harness.instance("web", HOME, other)["sync_version"] == 2
    raced_item = harness.instance("web", HOME, raced)
    assert (raced_item["state"], raced_item["sync_version"]) == ("stopped", 3)  # re-planned
    # cancelled attempt, the untouched change alone, then the re-planned one
    assert harness.counter.counts["dynamodb.TransactWriteItems"] == 3


def test_dry_run_reports_changes_and_writes_and_notifies_nothing(
    harness: Harness, world: World
) -> None:
    network = world.web.networks[HOME]
    aws_fleet.launch_instances(HOME, network=network, az=network.azs[0], count=1, fleet="web")

    result = harness.run({"dry_run": True})

    assert result.dry_run
    assert result.totals()["created"] == world.web_instances + 1 + world.web_asgs
    as_dict = result.as_dict()
    assert as_dict["changes"]["count"] == result.totals()["created"]
    assert {change["action"] for change in as_dict["changes"]["items"]} == {"create"}
    assert as_dict["drifts"]["found"] == 1
    assert as_dict["drifts"]["items"][0]["notification"] == "would_notify"
    assert harness.counter.writes() == 0
    assert harness.counter.total("sns") == 0
    assert harness.items() == []


def test_a_manual_run_can_be_limited_to_fleets_and_regions(harness: Harness, world: World) -> None:
    network = world.web.networks["us-west-2"]
    aws_fleet.launch_instances(
        "us-west-2", network=network, az=network.azs[0], count=2, fleet="api"
    )

    result = harness.run({"fleets": ["api"], "regions": ["us-west-2"]})

    assert list(result.regions) == ["us-west-2"]
    assert result.fleets == ["api"]
    assert result.regions["us-west-2"].created == 2
    assert {item["fleet"] for item in entity_items(harness, "instance")} == {"api"}
    assert harness.counter.counts["ec2.DescribeInstances"] == 1


def per_region_schedule(region: str) -> dict[str, object]:
    """The event the deployed per-region rule delivers (input transformer output)."""
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2023-11-14T22:13:20Z",
        "region": HOME,
        "resources": [],
        "detail": {},
        "regions": [region],
    }


def test_per_region_invocations_add_up_to_a_full_sync(harness: Harness, world: World) -> None:
    for region in FLEET_REGIONS:
        result = harness.run(per_region_schedule(region))
        assert (result.trigger, list(result.regions)) == ("schedule", [region])
        assert result.regions[region].created == 14

    assert len(entity_items(harness, "instance")) == world.web_instances
    assert len(entity_items(harness, "asg")) == world.web_asgs
    assert len(entity_items(harness, "region_status")) == len(FLEET_REGIONS)
    assert len(entity_items(harness, "fleet")) == len(entity_items(harness, "fleet_index")) == 1
    harness.counter.reset()
    assert harness.run().totals()["unchanged"] == world.web_instances + world.web_asgs
    assert harness.counter.writes() == 0


def test_a_per_region_invocation_reads_and_writes_only_its_region(
    harness: Harness, world: World
) -> None:
    harness.run()
    for region in ("us-west-2", "eu-west-1"):
        aws_fleet.aws("ec2", region).stop_instances(InstanceIds=world.web.instance_ids(region)[:1])
    harness.counter.reset()
    harness.clock.now += 300

    result = harness.run(per_region_schedule("us-west-2"))

    counts = result.regions["us-west-2"].counts()
    assert (counts["updated"], counts["unchanged"]) == (1, 13)  # 14 records compared, no more
    assert harness.counter.counts["ec2.DescribeInstances"] == 1
    # fleet index + the fleet's META, REGION#, DRIFT# items + its us-west-2 ASG and instance slices
    assert harness.counter.counts["dynamodb.Query"] == 1 + 5
    assert harness.instance("web", "us-west-2", world.web.instance_ids("us-west-2")[0])[
        "state"
    ] == ("stopped")
    assert harness.instance("web", "eu-west-1", world.web.instance_ids("eu-west-1")[0])[
        "state"
    ] == (
        "running"
    )  # another invocation's region: untouched


def test_a_named_fleet_that_exists_nowhere_is_an_error_and_nothing_is_written(
    harness: Harness, world: World
) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        harness.run({"fleets": ["web", "ghost"]})
    assert harness.counter.writes() == 0
    assert harness.items() == []
