"""Drift detection end to end: one notification per new drift, none repeated within the window."""

from __future__ import annotations

from typing import Any

from fleetops.core.registry import keys
from fleetops_tests.fleet_sync.conftest import Harness, World
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.faults import fail_first, mutate_response

HOME = "us-east-1"


def test_an_unmanaged_instance_is_notified_once_per_window(harness: Harness, world: World) -> None:
    network = world.web.networks[HOME]
    [stray] = aws_fleet.launch_instances(
        HOME, network=network, az=network.azs[1], count=1, fleet="web"
    )

    first = harness.run()

    assert first.regions[HOME].drifts_found == 1
    assert first.regions[HOME].drifts_notified == 1
    [message] = world.inbox.receive()
    body = message["body"]
    assert message["Subject"] == f"[dev] fleet web: unmanaged instance in {HOME} ({HOME}/{stray})"
    assert message["MessageAttributes"]["kind"]["Value"] == "drift.unmanaged_instance"
    assert body["kind"] == "drift.unmanaged_instance"
    assert body["source"] == "fleet-sync"
    assert stray in body["summary"] and "no Auto Scaling group" in body["summary"]
    assert body["details"] == {
        "fleet": "web",
        "region": HOME,
        "drift": "unmanaged_instance",
        "subject": f"{HOME}/{stray}",
        "instance_id": stray,
        "az": network.azs[1],
        "state": "running",
        "instance_type": "t3.micro",
    }
    drift = harness.item(keys.drift_key("web", "unmanaged_instance", f"{HOME}/{stray}"))
    assert drift is not None
    assert drift["last_notified_at"] == int(harness.clock.now)

    harness.counter.reset()
    harness.clock.now += 1800
    again = harness.run()
    assert again.regions[HOME].drifts_found == 1
    assert again.regions[HOME].drifts_notified == 0
    assert again.as_dict()["drifts"]["items"][0]["notification"] == "suppressed"
    assert world.inbox.receive() == []
    assert harness.counter.writes() == 0  # suppression costs no write either

    harness.clock.now += 1800  # the hour-long window has passed
    assert harness.run().regions[HOME].drifts_notified == 1
    assert len(world.inbox.receive()) == 1


def test_az_imbalance_and_capacity_mismatch_are_detected(harness: Harness, world: World) -> None:
    network = world.web.networks["us-west-2"]
    aws_fleet.create_asg(
        "us-west-2",
        network=network,
        fleet="web",
        name="web-lopsided",
        instances={"us-west-2a": 5, "us-west-2b": 1, "us-west-2c": 1},
        launch_template=world.web.templates["us-west-2"],
    )
    member = world.web.asgs[HOME][0].instance_ids[0]

    def stuck_pending(parsed: dict[str, Any]) -> None:
        for group in parsed["AutoScalingGroups"]:
            for instance in group["Instances"]:
                if instance["InstanceId"] == member:
                    instance["LifecycleState"] = "Pending"

    mutate_response(harness.clients, "auto-scaling", "DescribeAutoScalingGroups", stuck_pending)

    result = harness.run()

    kinds = {(item["kind"], item["subject"]) for item in result.as_dict()["drifts"]["items"]}
    assert kinds == {
        ("az_imbalance", "us-west-2/web-lopsided"),
        ("capacity_mismatch", f"{HOME}/web-1"),
    }
    bodies = {message["body"]["kind"]: message["body"] for message in world.inbox.receive()}
    imbalance = bodies["drift.az_imbalance"]["details"]
    assert imbalance["in_service_per_az"] == {"us-west-2a": 5, "us-west-2b": 1, "us-west-2c": 1}
    assert (imbalance["spread"], imbalance["threshold"]) == (4, 1)
    mismatch = bodies["drift.capacity_mismatch"]["details"]
    assert (mismatch["desired_capacity"], mismatch["in_service"]) == (6, 5)
    assert mismatch["lifecycle_states"] == {"InService": 5, "Pending": 1}
    assert harness.instance("web", HOME, member)["lifecycle_state"] == "Pending"


def test_a_failed_publish_is_retried_on_the_next_run(harness: Harness, world: World) -> None:
    network = world.web.networks[HOME]
    aws_fleet.launch_instances(HOME, network=network, az=network.azs[0], count=1, fleet="web")
    fail_first(harness.clients, "sns", "Publish", times=4, code="InternalError", status=500)

    first = harness.run()

    assert first.regions[HOME].drifts_failed == 1
    assert first.regions[HOME].ok  # a notification problem does not fail the sync itself
    assert world.inbox.receive() == []
    harness.clock.now += 300
    assert harness.run().regions[HOME].drifts_notified == 1
    assert len(world.inbox.receive()) == 1
