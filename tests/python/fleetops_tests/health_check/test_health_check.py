"""health-check end to end against moto: checks, registry health fields, the ladder, flapping,
dry run, failed actions and write volume."""

from __future__ import annotations

import pytest

from fleetops.core.errors import NotFoundError
from fleetops.core.registry import InstanceRecord
from fleetops.health_check.run import run_health_check
from fleetops_tests.health_check import helpers as h
from fleetops_tests.health_check.helpers import FakeClock, StatusInjector
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import fail_first

SYNC_OWNED = (*InstanceRecord.SYNC_ATTRS, "first_seen", "last_seen", "sync_version", "fleet")


@pytest.fixture
def fleet(world: aws_fleet.SnsInbox) -> h.Fleet:
    built = h.build("web", instances_per_asg=6)
    h.sync_registry()
    return built


def sync_attrs(item: dict[str, object]) -> dict[str, object]:
    return {name: item.get(name) for name in SYNC_OWNED}


def test_a_healthy_fleet_is_recorded_and_left_alone(fleet: h.Fleet, clock: FakeClock) -> None:
    before = {iid: sync_attrs(h.instance_item("web", iid)) for iid in fleet.ids()}
    deps = h.deps(clock)
    counter = RequestCounter().attach(deps.clients)

    result = run_health_check(h.manual(), deps).as_dict()

    assert result["status"] == "ok"
    web = result["fleets"]["web"]
    assert web["breaker"]["state"] == "closed"
    counts = web["regions"]["us-east-1"]
    assert counts["checked"] == counts["healthy"] == 6
    assert counts["impaired"] == counts["rebooted"] == counts["replaced"] == 0
    assert web["actions"] == []
    for iid in fleet.ids():
        item = h.instance_item("web", iid)
        assert item["health"] == "healthy"
        assert item["health_reason"] == "status checks ok"
        assert item["health_checked_at"] == "2026-01-01T00:00:00Z"
        assert item["health_failures"] == 0
        assert item["health_stage"] == "none"
        assert item["health_version"] == 1
        assert item["version"] == 2  # fleet-sync's create + our write
        assert sync_attrs(item) == before[iid]  # fleet-sync's attributes untouched
    ops = counter.by_operation()
    assert ops["ec2.DescribeInstanceStatus"] == 1
    assert ops["auto-scaling.DescribeAutoScalingGroups"] == 1
    assert ops["elastic-load-balancing-v2.DescribeTargetHealth"] == 1
    assert "ec2.RebootInstances" not in ops
    assert "auto-scaling.SetInstanceHealth" not in ops
    assert h.items_with_prefix("web", "ACTION#") == []
    assert h.items_with_prefix("web", "BUDGET#") == []


def test_the_ladder_reboots_once_then_replaces_through_the_asg(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="2", REBOOT_GRACE_SECONDS="300")
    sick = fleet.ids()[0]
    StatusInjector().attach(deps.clients).impair([sick], system=True)
    counter = RequestCounter().attach(deps.clients)

    def check() -> dict[str, int]:
        result = run_health_check(h.manual(), deps).as_dict()
        clock.advance(60)
        counts: dict[str, int] = result["fleets"]["web"]["counts"]
        return counts

    assert check()["impaired"] == 1  # 1st failure: wait
    assert counter.counts["ec2.RebootInstances"] == 0
    assert check()["rebooted"] == 1  # 2nd failure: reboot
    assert counter.counts["ec2.RebootInstances"] == 1
    item = h.instance_item("web", sick)
    assert item["health_stage"] == "rebooted"
    assert item["health_last_action"] == "reboot"
    assert item["health_last_action_at"] == "2026-01-01T00:01:00Z"
    assert "2 consecutive impaired checks" in item["health_last_action_reason"]
    assert "system status impaired" in item["health_last_action_reason"]

    for _ in range(4):  # 02:00 .. 05:00: inside the 300 s grace period
        counts = check()
        assert counts["rebooted"] == counts["replaced"] == 0
    assert counter.counts["ec2.RebootInstances"] == 1  # rebooted once
    assert h.asg_health(sick) == "Healthy"

    assert check()["replaced"] == 1  # 06:00: 300 s after the reboot
    assert counter.counts["auto-scaling.SetInstanceHealth"] == 1
    assert h.asg_health(sick) == "Unhealthy"
    assert h.instance_item("web", sick)["health_stage"] == "replaced"

    assert check()["replaced"] == 0  # then it is the ASG's business
    actions = h.items_with_prefix("web", "ACTION#")
    assert [(a["action"], a["outcome"], a["at"]) for a in actions] == [
        ("reboot", "ok", "2026-01-01T00:01:00Z"),
        ("replace", "ok", "2026-01-01T00:06:00Z"),
    ]
    for action in actions:
        assert action["instance_id"] == sick
        assert action["asg"] == fleet.asg_of(sick)
        assert action["reason"]
        assert action["expires_at"] > action["at_epoch"]
    assert "still impaired 300s after reboot" in actions[1]["reason"]


def test_an_unhealthy_load_balancer_target_counts_as_impaired(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1")
    target = fleet.ids()[2]
    StatusInjector().attach(deps.clients).unhealthy_target([target], "Target.ResponseCodeMismatch")
    result = run_health_check(h.manual(), deps).as_dict()
    assert result["fleets"]["web"]["counts"]["rebooted"] == 1
    item = h.instance_item("web", target)
    assert item["health"] == "impaired"
    assert item["health_reason"] == "target group web-tg unhealthy (Target.ResponseCodeMismatch)"


def test_an_instance_that_recovers_is_not_remediated_and_its_ladder_resets(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="3")
    injector = StatusInjector().attach(deps.clients)
    counter = RequestCounter().attach(deps.clients)
    sick = fleet.ids()[1]
    for healthy in (False, False, True, False, False, True):
        if healthy:
            injector.heal()
        else:
            injector.impair([sick])
        run_health_check(h.manual(), deps)
        clock.advance(60)
    assert counter.counts["ec2.RebootInstances"] == 0
    item = h.instance_item("web", sick)
    assert item["health"] == "healthy"
    assert item["health_failures"] == 0
    assert item["health_stage"] == "none"
    assert len(item["health_transitions"]) == 3  # impaired->healthy->impaired->healthy
    assert item["health_flapping"] is False  # 3 < FLAP_TRANSITIONS


def test_a_flapping_instance_is_reported_not_remediated(
    fleet: h.Fleet, clock: FakeClock, world: aws_fleet.SnsInbox
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="2", FLAP_TRANSITIONS="3")
    injector = StatusInjector().attach(deps.clients)
    counter = RequestCounter().attach(deps.clients)
    flapper = fleet.ids()[3]
    results = []
    for impaired in (False, True, False, True, True, True):
        injector.heal()
        if impaired:
            injector.impair([flapper])
        results.append(run_health_check(h.manual(), deps).as_dict())
        clock.advance(60)
    assert counter.counts["ec2.RebootInstances"] == 0
    assert results[-1]["fleets"]["web"]["flapping"] == [flapper]
    assert results[-1]["fleets"]["web"]["counts"]["flapping"] == 1
    item = h.instance_item("web", flapper)
    assert item["health_flapping"] is True
    assert item["health_failures"] == 3
    reports = [a for a in h.items_with_prefix("web", "ACTION#") if a["action"] == "report_flapping"]
    assert len(reports) == 1  # reported when it started flapping, not every minute
    assert reports[0]["instance_id"] == flapper
    notes = [m["body"] for m in world.receive() if m["body"]["kind"] == "health.flapping"]
    assert len(notes) == 1
    assert notes[0]["details"]["instances"][0]["instance_id"] == flapper


def test_dry_run_decides_and_records_but_changes_nothing(fleet: h.Fleet, clock: FakeClock) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1")
    sick = fleet.ids()[0]
    StatusInjector().attach(deps.clients).impair([sick])
    counter = RequestCounter().attach(deps.clients)

    first = run_health_check(h.manual(dry_run=True), deps).as_dict()
    clock.advance(60)
    second = run_health_check(h.manual(dry_run=True), deps).as_dict()

    assert first["dry_run"] is True
    assert first["fleets"]["web"]["counts"]["would_reboot"] == 1
    assert first["fleets"]["web"]["counts"]["rebooted"] == 0
    assert second["fleets"]["web"]["counts"]["would_reboot"] == 1
    assert "ec2.RebootInstances" not in counter.counts
    assert "auto-scaling.SetInstanceHealth" not in counter.counts
    assert h.items_with_prefix("web", "BUDGET#") == []  # no budget spent
    item = h.instance_item("web", sick)
    assert item["health"] == "impaired"
    assert item["health_stage"] == "none"  # the ladder does not advance
    assert item["health_last_action"] == "would_reboot"
    actions = h.items_with_prefix("web", "ACTION#")
    assert [(a["action"], a["outcome"], a["dry_run"]) for a in actions] == [
        ("would_reboot", "dry_run", True)
    ]  # once per impairment streak


def test_a_failed_reboot_is_refunded_recorded_and_retried_next_run(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1")
    sick = fleet.ids()[0]
    StatusInjector().attach(deps.clients).impair([sick])
    denied = fail_first(
        deps.clients, "ec2", "RebootInstances", times=1, code="UnauthorizedOperation", status=403
    )

    first = run_health_check(h.manual(), deps).as_dict()

    assert denied.injected == 1
    web = first["fleets"]["web"]
    assert web["counts"]["action_failed"] == 1
    assert web["counts"]["rebooted"] == 0
    assert web["actions"][0]["outcome"] == "failed"
    assert "UnauthorizedOperation" in web["actions"][0]["error"]
    assert h.items_with_prefix("web", "BUDGET#")[0]["spent"] == 0  # refunded
    item = h.instance_item("web", sick)
    assert item["health_stage"] == "none"
    assert item["health_last_action"] == "reboot_failed"
    clock.advance(60)
    second = run_health_check(h.manual(), deps).as_dict()
    assert second["fleets"]["web"]["counts"]["rebooted"] == 1
    assert [a["outcome"] for a in h.items_with_prefix("web", "ACTION#")] == ["failed", "ok"]


def test_unchanged_health_is_rewritten_only_on_the_heartbeat(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock, HEALTH_HEARTBEAT_SECONDS="300")
    counter = RequestCounter().attach(deps.clients)
    run_health_check(h.manual(), deps)
    assert counter.counts["dynamodb.UpdateItem"] == 6
    counter.reset()
    for _ in range(4):
        clock.advance(60)
        run_health_check(h.manual(), deps)
    assert counter.writes() == 0  # a steady fleet costs reads only
    clock.advance(60)
    run_health_check(h.manual(), deps)
    assert counter.counts["dynamodb.UpdateItem"] == 6  # 300 s later: heartbeat


def test_a_named_fleet_the_registry_does_not_know_is_rejected_before_any_write(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock)
    counter = RequestCounter().attach(deps.clients)
    with pytest.raises(NotFoundError, match="nope"):
        run_health_check(h.manual(fleets=["web", "nope"]), deps)
    assert counter.writes() == 0
    assert set(counter.counts) == {"dynamodb.Query"}


def test_instances_that_are_not_running_are_not_checked(fleet: h.Fleet, clock: FakeClock) -> None:
    stopped = fleet.ids()[0]
    aws_fleet.aws("ec2", "us-east-1").stop_instances(InstanceIds=[stopped])
    deps = h.deps(clock)
    result = run_health_check(h.manual(), deps).as_dict()
    counts = result["fleets"]["web"]["counts"]
    assert counts["checked"] == 5
    assert counts["not_checked"] == 1
    assert "health" not in h.instance_item("web", stopped)
