"""Drift rules, as pure functions."""

from __future__ import annotations

from fleetops.core.registry import DriftRecord
from fleetops.fleet_sync.drift import DriftKind, detect_drifts, is_due
from fleetops.fleet_sync.inventory import AsgMember, ObservedAsg, ObservedInstance

AZS = ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def asg(per_az: dict[str, int], desired: int | None = None, standby: int = 0) -> ObservedAsg:
    members = [
        AsgMember(f"i-{az}-{n}", az, "InService", "Healthy", "lt", "1")
        for az, count in per_az.items()
        for n in range(count)
    ]
    members += [
        AsgMember(f"i-s{n}", AZS[0], "Standby", "Healthy", "lt", "1") for n in range(standby)
    ]
    in_service = sum(per_az.values())
    return ObservedAsg(
        "web-1",
        "web",
        0,
        10,
        in_service if desired is None else desired,
        AZS,
        "lt",
        "1",
        tuple(members),
    )


def kinds(
    group: ObservedAsg, threshold: int = 1, instances: dict[str, ObservedInstance] | None = None
) -> set[str]:
    drifts = detect_drifts(
        "web",
        "eu-west-1",
        instances=instances or {},
        asgs={"web-1": group},
        az_imbalance_threshold=threshold,
    )
    return {drift.kind.value for drift in drifts}


def test_a_spread_up_to_the_threshold_is_balanced() -> None:
    assert kinds(asg({"eu-west-1a": 2, "eu-west-1b": 1, "eu-west-1c": 1})) == set()
    assert kinds(asg({"eu-west-1a": 3, "eu-west-1b": 1, "eu-west-1c": 1})) == {"az_imbalance"}
    assert kinds(asg({"eu-west-1a": 3, "eu-west-1b": 1, "eu-west-1c": 1}), threshold=2) == set()


def test_an_empty_az_counts_as_zero() -> None:
    assert kinds(asg({"eu-west-1a": 1, "eu-west-1b": 1})) == set()
    assert kinds(asg({"eu-west-1a": 2, "eu-west-1b": 2})) == {"az_imbalance"}


def test_desired_versus_in_service() -> None:
    assert kinds(asg({"eu-west-1a": 1, "eu-west-1b": 1, "eu-west-1c": 1}, desired=4)) == {
        "capacity_mismatch"
    }
    assert "capacity_mismatch" in kinds(
        asg({"eu-west-1a": 1, "eu-west-1b": 1, "eu-west-1c": 0}, desired=3, standby=1)
    )


def test_live_instances_outside_any_asg_are_unmanaged() -> None:
    def instance(instance_id: str, state: str, group: str | None) -> ObservedInstance:
        return ObservedInstance(
            instance_id, "web", state, "eu-west-1a", "t3.micro", group, None, None, None
        )

    instances = {
        "i-1": instance("i-1", "running", None),
        "i-2": instance("i-2", "stopped", None),
        "i-3": instance("i-3", "terminated", None),
        "i-4": instance("i-4", "running", "web-1"),
    }
    drifts = detect_drifts(
        "web", "eu-west-1", instances=instances, asgs={}, az_imbalance_threshold=1
    )
    assert [(d.kind, d.subject) for d in drifts] == [
        (DriftKind.UNMANAGED_INSTANCE, "eu-west-1/i-1"),
        (DriftKind.UNMANAGED_INSTANCE, "eu-west-1/i-2"),
    ]
    assert drifts[0].key.sk == "DRIFT#unmanaged_instance#eu-west-1/i-1"


def test_a_drift_is_due_when_never_notified_or_the_window_has_passed() -> None:
    record = DriftRecord(
        fleet="web", kind="k", subject="s", region="r", summary="", last_notified_at=1000
    )
    assert is_due(None, 1000, 3600)
    assert not is_due(record, 4599, 3600)
    assert is_due(record, 4600, 3600)
