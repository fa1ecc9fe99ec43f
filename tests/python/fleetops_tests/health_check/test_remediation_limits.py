"""Remediation budget exhaustion and the fleet breaker, end to end against moto."""

from __future__ import annotations

import json

import pytest

from fleetops.health_check.run import run_health_check
from fleetops_tests.health_check import helpers as h
from fleetops_tests.health_check.helpers import FakeClock, StatusInjector
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import fail_first


@pytest.fixture
def fleet(world: aws_fleet.SnsInbox) -> h.Fleet:
    """12 instances: 2 ASGs x 6, 4 per AZ."""
    built = h.build("web", asgs_per_region=2, instances_per_asg=6)
    h.sync_registry()
    return built


def test_budget_exhausted_remaining_instances_wait_for_the_next_window(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    # fleet budget floor(0.25 x 12) = 3; AZ budgets floor(0.25 x 4) = 1 each
    deps = h.deps(
        clock,
        UNHEALTHY_CHECKS_BEFORE_ACTION="1",
        REMEDIATION_BUDGET_SHARE="0.25",
        REBOOT_GRACE_SECONDS="7200",  # the rebooted ones stay in grace throughout
    )
    by_az = fleet.by_az()
    sick = [ids[0] for ids in by_az.values()] + [next(iter(by_az.values()))[1]]  # 2 in 1st AZ
    StatusInjector().attach(deps.clients).impair(sick)
    counter = RequestCounter().attach(deps.clients)

    first = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]

    assert first["counts"]["impaired"] == 4
    assert first["counts"]["rebooted"] == 3
    assert first["counts"]["skipped_budget"] == 1
    skipped = [a for a in first["actions"] if a["outcome"] != "ok"]
    assert len(skipped) == 1
    # AZ a has room for one of its two: the other waits (AZ or fleet limit, whichever hit first)
    assert skipped[0]["outcome"] in {"az_exhausted", "fleet_exhausted"}
    assert skipped[0]["instance_id"] in next(iter(by_az.values()))[:2]
    assert counter.counts["ec2.RebootInstances"] == 3
    assert first["budget"]["limit"] == 3
    assert first["budget"]["spent"] == 3
    budget = h.items_with_prefix("web", "BUDGET#")[0]
    assert budget["spent"] == 3
    assert all(budget[f"spent_{az}"] == 1 for az in by_az)

    clock.advance(60)  # same window: still nothing left
    second = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert second["counts"]["skipped_budget"] == 1
    assert second["counts"]["rebooted"] == 0

    clock.advance(3600)  # next window: the waiting instance gets its reboot
    third = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert third["counts"]["rebooted"] == 1
    assert counter.counts["ec2.RebootInstances"] == 4
    assert len(h.items_with_prefix("web", "BUDGET#")) == 2


def test_a_replacement_is_covered_by_its_reboot_within_the_window(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(
        clock,
        UNHEALTHY_CHECKS_BEFORE_ACTION="1",
        REBOOT_GRACE_SECONDS="120",
        REMEDIATION_BUDGET_SHARE="0.1",  # 1 unit for the fleet
    )
    sick = fleet.ids()[5]
    StatusInjector().attach(deps.clients).impair([sick])
    assert run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]["counts"]["rebooted"] == 1
    clock.advance(120)
    replaced = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert replaced["counts"]["replaced"] == 1
    assert h.items_with_prefix("web", "BUDGET#")[0]["spent"] == 1
    assert h.asg_health(sick) == "Unhealthy"


def test_breaker_opens_starts_the_recovery_workflow_once_and_remediates_nothing(
    fleet: h.Fleet, clock: FakeClock, world: aws_fleet.SnsInbox
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1", BREAKER_UNHEALTHY_SHARE="0.5")
    sick = fleet.ids()[:7]  # 7 of 12 > 50%
    StatusInjector().attach(deps.clients).impair(sick)
    counter = RequestCounter().attach(deps.clients)

    results = []
    for _ in range(3):  # three runs in the same window
        results.append(run_health_check(h.manual(), deps).as_dict()["fleets"]["web"])
        clock.advance(60)

    assert "ec2.RebootInstances" not in counter.counts
    assert "auto-scaling.SetInstanceHealth" not in counter.counts
    assert h.items_with_prefix("web", "BUDGET#") == []
    first = results[0]
    assert first["breaker"]["state"] == "open"
    assert first["breaker"]["recovery"] == "started"
    assert first["breaker"]["notification"] == "notified"
    assert first["breaker"]["incident_id"] == f"hc-web-{int(h.T0)}"
    assert first["counts"]["skipped_breaker"] == 7
    assert first["counts"]["rebooted"] == 0
    assert [r["breaker"]["notification"] for r in results[1:]] == ["suppressed", "suppressed"]
    assert all(r["breaker"]["recovery"] in {"started", "already_started"} for r in results[1:])

    started = h.executions()
    assert len(started) == 1
    assert started[0]["name"] == f"hc-web-{int(h.T0)}"
    payload = json.loads(started[0]["input"])
    assert payload == {
        "incident_id": f"hc-web-{int(h.T0)}",
        "fleet": "web",
        "source": "health-check",
        "regions": ["us-east-1"],
        "unhealthy_share": round(7 / 12, 4),
        "by_az": payload["by_az"],
    }
    assert sum(az["impaired"] for az in payload["by_az"].values()) == 7
    assert sum(az["instances"] for az in payload["by_az"].values()) == 12

    notes = [m for m in world.receive() if m["body"]["kind"] == "health.breaker_open"]
    assert len(notes) == 1
    assert notes[0]["body"]["severity"] == "critical"
    assert notes[0]["MessageAttributes"]["kind"]["Value"] == "health.breaker_open"
    assert notes[0]["body"]["details"]["incident_id"] == f"hc-web-{int(h.T0)}"
    trip = h.items_with_prefix("web", "BREAKER#")
    assert len(trip) == 1
    assert trip[0]["execution_arn"] == started[0]["executionArn"]
    # health is still recorded while the breaker is open
    assert h.instance_item("web", sick[0])["health_failures"] == 3

    clock.advance(3600)  # still broken in the next window: a new incident
    nxt = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert nxt["breaker"]["recovery"] == "started"
    assert len(h.executions()) == 2


def test_breaker_opens_when_the_checks_themselves_fail(
    fleet: h.Fleet, clock: FakeClock, world: aws_fleet.SnsInbox
) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1", BREAKER_UNHEALTHY_SHARE="0.3")
    StatusInjector().attach(deps.clients).impair(fleet.ids()[:1])
    fail_first(
        deps.clients,
        "elastic-load-balancing-v2",
        "DescribeTargetHealth",
        times=None,
        code="AccessDenied",
        status=403,
    )
    result = run_health_check(h.manual(), deps).as_dict()
    web = result["fleets"]["web"]
    assert result["regions"]["us-east-1"]["status"] == "degraded"
    assert "AccessDenied" in result["regions"]["us-east-1"]["error"]
    assert web["counts"]["unknown"] == 11
    assert web["counts"]["impaired"] == 1  # the EC2 verdict alone is enough to say impaired
    assert web["breaker"]["state"] == "open"
    assert web["breaker"]["unknown_share"] == round(11 / 12, 4)
    assert web["counts"]["rebooted"] == 0
    assert len(h.executions()) == 1
    assert h.instance_item("web", fleet.ids()[5])["health"] == "unknown"


def test_a_recovery_workflow_that_fails_to_start_is_still_notified_and_retried(
    fleet: h.Fleet, clock: FakeClock, world: aws_fleet.SnsInbox
) -> None:
    deps = h.deps(clock, BREAKER_UNHEALTHY_SHARE="0.2")
    StatusInjector().attach(deps.clients).impair(fleet.ids()[:4])
    throttled = fail_first(deps.clients, "sfn", "StartExecution", times=4)  # all 4 attempts
    first = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert throttled.injected == 4
    assert first["breaker"]["recovery"] == "failed"
    assert "ThrottlingException" in first["breaker"]["error"]
    assert first["breaker"]["notification"] == "notified"
    assert h.executions() == []
    clock.advance(60)
    second = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert second["breaker"]["recovery"] == "started"
    assert len(h.executions()) == 1
    assert len([m for m in world.receive() if m["body"]["kind"] == "health.breaker_open"]) == 1


def test_a_dry_run_with_the_breaker_open_starts_and_sends_nothing(
    fleet: h.Fleet, clock: FakeClock, world: aws_fleet.SnsInbox
) -> None:
    deps = h.deps(clock, BREAKER_UNHEALTHY_SHARE="0.2")
    StatusInjector().attach(deps.clients).impair(fleet.ids()[:4])
    web = run_health_check(h.manual(dry_run=True), deps).as_dict()["fleets"]["web"]
    assert web["breaker"]["state"] == "open"
    assert web["breaker"]["recovery"] == "would_start"
    assert h.executions() == []
    assert world.receive() == []
    assert h.items_with_prefix("web", "BREAKER#") == []


def test_a_small_outage_below_the_minimum_does_not_open_the_breaker(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    deps = h.deps(clock, BREAKER_UNHEALTHY_SHARE="0.05", BREAKER_MIN_INSTANCES="2")
    StatusInjector().attach(deps.clients).impair(fleet.ids()[:1])
    web = run_health_check(h.manual(), deps).as_dict()["fleets"]["web"]
    assert web["breaker"]["state"] == "closed"
