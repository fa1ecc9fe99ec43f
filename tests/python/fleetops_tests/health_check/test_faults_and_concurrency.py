"""Throttling, a region down, overlapping invocations and interleaving with fleet-sync."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fleetops.core.aws import AwsClients
from fleetops.core.config import BaseConfig
from fleetops.health_check.run import run_health_check
from fleetops_tests.health_check import helpers as h
from fleetops_tests.health_check.helpers import FakeClock, StatusInjector
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import base_env
from fleetops_tests.support.faults import before_first, closed_port_endpoint, fail_first

EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture
def fleet(world: aws_fleet.SnsInbox) -> h.Fleet:
    built = h.build("web", instances_per_asg=6)
    h.sync_registry()
    return built


def test_throttled_calls_are_retried(fleet: h.Fleet, clock: FakeClock) -> None:
    deps = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1")
    sick = fleet.ids()[0]
    StatusInjector().attach(deps.clients).impair([sick])
    counter = RequestCounter().attach(deps.clients)
    faults = [
        fail_first(
            deps.clients,
            "ec2",
            "DescribeInstanceStatus",
            times=2,
            code="RequestLimitExceeded",
            status=503,
        ),
        fail_first(
            deps.clients, "auto-scaling", "DescribeAutoScalingGroups", times=1, code="Throttling"
        ),
        fail_first(
            deps.clients,
            "elastic-load-balancing-v2",
            "DescribeTargetHealth",
            times=1,
            code="Throttling",
        ),
        fail_first(
            deps.clients,
            "dynamodb",
            "UpdateItem",
            times=3,
            code="ProvisionedThroughputExceededException",
        ),
        fail_first(
            deps.clients, "ec2", "RebootInstances", times=2, code="RequestLimitExceeded", status=503
        ),
    ]
    result = run_health_check(h.manual(), deps).as_dict()
    assert [fault.injected for fault in faults] == [2, 1, 1, 3, 2]
    assert result["status"] == "ok"
    counts = result["fleets"]["web"]["counts"]
    assert counts["checked"] == 6
    assert counts["rebooted"] == 1
    assert counts["write_failed"] == counts["action_failed"] == 0
    assert counter.counts["ec2.DescribeInstanceStatus"] == 3
    assert counter.counts["ec2.RebootInstances"] == 3
    assert h.instance_item("web", sick)["health_stage"] == "rebooted"


@pytest.fixture
def two_regions(world: aws_fleet.SnsInbox) -> h.Fleet:
    built = h.build("web", regions=(EAST, WEST), instances_per_asg=6)
    h.sync_registry(regions=(EAST, WEST))
    return built


def test_one_region_down_does_not_stop_the_others(two_regions: h.Fleet, clock: FakeClock) -> None:
    deps = h.deps(
        clock,
        endpoint_overrides={WEST: closed_port_endpoint()},
        REGIONS=f"{EAST},{WEST}",
        UNHEALTHY_CHECKS_BEFORE_ACTION="1",
        BREAKER_UNHEALTHY_SHARE="0.6",  # 6 unknown + 1 impaired of 12 stays below
    )
    sick = two_regions.ids(EAST)[0]
    StatusInjector().attach(deps.clients).impair([sick])

    result = run_health_check(h.manual(regions=(EAST, WEST)), deps).as_dict()

    assert result["status"] == "partial"
    assert result["regions"][EAST] == {"status": "ok", "error": None}
    assert result["regions"][WEST]["status"] == "failed"
    assert "EndpointConnectionError" in result["regions"][WEST]["error"]
    web = result["fleets"]["web"]
    assert web["regions"][EAST]["checked"] == 6
    assert web["regions"][EAST]["rebooted"] == 1
    assert web["regions"][WEST]["unknown"] == 6
    assert web["regions"][WEST]["rebooted"] == 0
    assert web["breaker"]["state"] == "closed"
    west_item = h.instance_item("web", two_regions.ids(WEST)[0], WEST)
    assert west_item["health"] == "unknown"
    assert "checks of region us-west-2 failed" in west_item["health_reason"]


def test_a_region_down_can_open_the_breaker(two_regions: h.Fleet, clock: FakeClock) -> None:
    deps = h.deps(
        clock,
        endpoint_overrides={WEST: closed_port_endpoint()},
        REGIONS=f"{EAST},{WEST}",
        BREAKER_UNHEALTHY_SHARE="0.4",
    )
    result = run_health_check(h.manual(regions=(EAST, WEST)), deps).as_dict()
    web = result["fleets"]["web"]
    assert web["breaker"]["state"] == "open"
    assert web["breaker"]["unknown_share"] == 0.5
    assert len(h.executions()) == 1


def test_every_region_down_fails_the_run(two_regions: h.Fleet, clock: FakeClock) -> None:
    deps = h.deps(
        clock, endpoint_overrides={WEST: closed_port_endpoint()}, REGIONS=f"{EAST},{WEST}"
    )
    result = run_health_check(h.manual(regions=(WEST,)), deps)
    assert result.status == "failed"
    assert list(result.regions) == [WEST]
    assert result.fleets["web"].regions[WEST]["unknown"] == 6


def test_health_writes_never_clobber_fleet_sync(fleet: h.Fleet, clock: FakeClock) -> None:
    """fleet-sync records a lifecycle change between health-check's read and its writes."""
    deps = h.deps(clock)
    target = fleet.ids()[0]
    autoscaling = aws_fleet.aws("autoscaling", EAST)

    def fleet_sync_runs() -> None:
        autoscaling.enter_standby(
            InstanceIds=[target],
            AutoScalingGroupName=fleet.asg_of(target),
            ShouldDecrementDesiredCapacity=False,
        )
        h.sync_registry()  # its own clients: its writes are not intercepted here

    interleaved = before_first(deps.clients, "dynamodb", "UpdateItem", fleet_sync_runs)
    result = run_health_check(h.manual(), deps).as_dict()

    assert interleaved.injected == 1
    assert result["fleets"]["web"]["counts"]["conflicts"] == 0
    for instance_id in fleet.ids():
        item = h.instance_item("web", instance_id)
        assert item["health"] == "healthy"
        assert item["health_version"] == 1
    item = h.instance_item("web", target)
    assert item["lifecycle_state"] == "Standby"  # fleet-sync's write survived ours
    assert item["sync_version"] == 2
    assert item["version"] == 3  # create + fleet-sync update + health write, all counted

    # and the other way round: fleet-sync writes after health-check, health fields survive
    autoscaling.exit_standby(InstanceIds=[target], AutoScalingGroupName=fleet.asg_of(target))
    h.sync_registry()
    item = h.instance_item("web", target)
    assert item["lifecycle_state"] == "InService"
    assert item["health"] == "healthy"
    assert item["health_version"] == 1


def test_an_overlapping_invocation_that_wins_the_race_owns_the_decision(
    fleet: h.Fleet, clock: FakeClock
) -> None:
    """Run B completes between run A's read and A's first write: A refunds and stands back."""
    deps_a = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1")
    deps_b = h.deps(clock, UNHEALTHY_CHECKS_BEFORE_ACTION="1")
    # One sick instance in each of two AZs: the AZ budget (1 each) allows both reboots. Picking
    # the first two of the sorted (random) ids put both in one AZ one run in five, which is
    # what made this test look load-sensitive.
    sick = [ids[0] for ids in fleet.by_az().values()][:2]
    for deps in (deps_a, deps_b):
        StatusInjector().attach(deps.clients).impair(sick)
    counter_a = RequestCounter().attach(deps_a.clients)
    counter_b = RequestCounter().attach(deps_b.clients)
    outcome_b: dict[str, Any] = {}

    def b_runs() -> None:
        outcome_b.update(run_health_check(h.manual(), deps_b).as_dict())

    # A has read the registry and checked EC2; B runs start to finish before A's first write.
    before_first(deps_a.clients, "dynamodb", "UpdateItem", b_runs)

    outcome_a = run_health_check(h.manual(), deps_a).as_dict()

    assert outcome_b["fleets"]["web"]["counts"]["rebooted"] == 2
    counts_a = outcome_a["fleets"]["web"]["counts"]
    assert counts_a["rebooted"] == 0
    assert counts_a["conflicts"] == 6  # every instance: B wrote it first
    assert counter_b.counts["ec2.RebootInstances"] == 2
    assert "ec2.RebootInstances" not in counter_a.counts
    budget = h.items_with_prefix("web", "BUDGET#")[0]
    assert budget["spent"] == 2  # A's unit was refunded
    assert len(h.items_with_prefix("web", "ACTION#")) == 2


@pytest.fixture
def serial_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Everything on a moto server that handles one request at a time (see `serial_moto_server`)."""
    with h.serial_moto_server() as endpoint:
        aws_fleet.create_registry_table(endpoint_url=endpoint)
        aws_fleet.create_topic(endpoint_url=endpoint)
        h.create_state_machine(endpoint_url=endpoint)
        yield endpoint


def test_concurrent_invocations_never_remediate_twice_or_overspend(
    serial_world: str, clock: FakeClock
) -> None:
    endpoint = serial_world
    fleet = h.build("web", asgs_per_region=2, instances_per_asg=6, endpoint_url=endpoint)
    sync_config = BaseConfig.from_env(base_env(REGIONS=EAST, AWS_ENDPOINT_URL=endpoint))
    h.sync_registry(clients=AwsClients.from_config(sync_config), AWS_ENDPOINT_URL=endpoint)
    sick = fleet.ids()[:5]  # budget: floor(0.25 x 12) = 3 for the fleet, 1 per AZ
    invocations = 4
    counters = []
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(invocations)

    def invocation() -> None:
        deps = h.deps(
            clock,
            AWS_ENDPOINT_URL=endpoint,
            UNHEALTHY_CHECKS_BEFORE_ACTION="1",
            REMEDIATION_BUDGET_SHARE="0.25",
            BREAKER_UNHEALTHY_SHARE="0.5",
        )
        StatusInjector().attach(deps.clients).impair(sick)
        counter = RequestCounter().attach(deps.clients)
        barrier.wait()
        result = run_health_check(h.manual(), deps).as_dict()
        with lock:
            counters.append(counter)
            results.append(result)

    threads = [threading.Thread(target=invocation) for _ in range(invocations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == invocations
    reboots = sum(counter.counts["ec2.RebootInstances"] for counter in counters)
    rebooted = sum(r["fleets"]["web"]["counts"]["rebooted"] for r in results)
    actions = h.items_with_prefix("web", "ACTION#", endpoint)
    budget = h.items_with_prefix("web", "BUDGET#", endpoint)[0]
    assert reboots == rebooted == len(actions) == budget["spent"]
    assert 1 <= reboots <= 3  # never more than the budget
    rebooted_ids = [action["instance_id"] for action in actions]
    assert len(set(rebooted_ids)) == len(rebooted_ids)  # no instance rebooted twice
    for az in fleet.by_az():
        assert budget.get(f"spent_{az}", 0) <= 1
    for instance_id in sick:
        item = h.instance_item("web", instance_id, endpoint_url=endpoint)
        assert item["health"] == "impaired"
        assert item["health_stage"] == ("rebooted" if instance_id in rebooted_ids else "none")
