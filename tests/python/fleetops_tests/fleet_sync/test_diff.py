"""The planning rules, as pure functions."""

from __future__ import annotations

from dataclasses import replace

from fleetops.core.registry import AsgRecord, InstanceRecord
from fleetops.fleet_sync.diff import (
    Action,
    PlanContext,
    plan_asg,
    plan_instance,
    plan_region,
    replan,
)
from fleetops.fleet_sync.inventory import AsgMember, ObservedAsg, ObservedInstance

CTX = PlanContext("web", "us-east-1", 1_700_000_000.0, tombstone_ttl_seconds=3600)
OBSERVED = ObservedInstance(
    instance_id="i-1",
    fleet="web",
    state="running",
    az="us-east-1a",
    instance_type="t3.micro",
    asg="web-1",
    launch_template_id="lt-1",
    launch_template_version="3",
    lifecycle_state="InService",
)
RECORD = InstanceRecord(
    fleet="web",
    region="us-east-1",
    instance_id="i-1",
    state="running",
    az="us-east-1a",
    instance_type="t3.micro",
    asg="web-1",
    launch_template_id="lt-1",
    launch_template_version="3",
    lifecycle_state="InService",
    sync_version=4,
    health="healthy",
    version=9,
)


def test_new_instances_are_created_with_first_seen() -> None:
    change = plan_instance(CTX, "i-1", OBSERVED, None)
    assert change is not None
    assert change.action is Action.CREATE
    assert change.expected_version is None
    assert (
        change.attributes["first_seen"] == change.attributes["last_seen"] == "2023-11-14T22:13:20Z"
    )
    assert "health" not in change.attributes  # never another writer's attribute


def test_unchanged_instances_need_no_write() -> None:
    assert plan_instance(CTX, "i-1", OBSERVED, RECORD) is None


def test_a_difference_in_any_owned_attribute_is_an_update_conditional_on_the_version_read() -> None:
    change = plan_instance(CTX, "i-1", replace(OBSERVED, launch_template_version="4"), RECORD)
    assert change is not None
    assert (change.action, change.expected_version) == (Action.UPDATE, 4)
    assert change.attributes["launch_template_version"] == "4"
    assert "first_seen" not in change.attributes


def test_vanished_instances_become_tombstones_once() -> None:
    change = plan_instance(CTX, "i-1", None, RECORD)
    assert change is not None
    assert change.action is Action.TOMBSTONE
    assert change.attributes == {
        "state": "terminated",
        "lifecycle_state": None,
        "terminated_at": "2023-11-14T22:13:20Z",
        "expires_at": 1_700_000_000 + 3600,
    }
    tombstone = replace(RECORD, state="terminated", expires_at=1, terminated_at="t")
    assert plan_instance(CTX, "i-1", None, tombstone) is None


def test_terminated_instances_never_registered_are_ignored() -> None:
    assert plan_instance(CTX, "i-1", replace(OBSERVED, state="terminated"), None) is None


def test_items_without_fleet_sync_data_are_not_fleet_syncs_to_tombstone() -> None:
    health_only = InstanceRecord(
        fleet="web", region="us-east-1", instance_id="i-1", health="unhealthy"
    )
    assert plan_instance(CTX, "i-1", None, health_only) is None
    change = plan_instance(CTX, "i-1", OBSERVED, health_only)
    assert change is not None
    assert (change.action, change.expected_version) == (Action.CREATE, None)


def test_replan_after_a_lost_race() -> None:
    change = plan_instance(CTX, "i-1", replace(OBSERVED, state="stopped"), RECORD)
    assert change is not None
    current: dict[str, object] = {  # as the overlapping writer left it
        "pk": "FLEET#web",
        "sk": "INSTANCE#us-east-1#i-1",
        "state": "stopped",
        "az": "us-east-1a",
        "instance_type": "t3.micro",
        "asg": "web-1",
        "launch_template_id": "lt-1",
        "launch_template_version": "3",
        "lifecycle_state": "InService",
        "sync_version": 5,
    }
    assert replan(CTX, change, current) is None  # it already wrote what we wanted
    current["state"] = "running"
    again = replan(CTX, change, current)
    assert again is not None
    assert (again.action, again.expected_version) == (Action.UPDATE, 5)


def test_asgs_are_planned_like_instances() -> None:
    member = AsgMember("i-1", "us-east-1a", "InService", "Healthy", "lt-1", "3")
    observed = ObservedAsg(
        "web-1", "web", 1, 4, 1, ("us-east-1a", "us-east-1b"), "lt-1", "$Latest", (member,)
    )
    created = plan_asg(CTX, "web-1", observed, None)
    assert created is not None
    assert created.attributes["azs"] == ["us-east-1a", "us-east-1b"]
    record = AsgRecord(
        fleet="web",
        region="us-east-1",
        name="web-1",
        state="active",
        min_size=1,
        max_size=4,
        desired_capacity=1,
        azs=("us-east-1a", "us-east-1b"),
        launch_template_id="lt-1",
        launch_template_version="$Latest",
        instance_count=1,
        in_service_count=1,
        sync_version=1,
        last_scaled_at=5,
    )
    assert plan_asg(CTX, "web-1", observed, record) is None
    deleted = plan_asg(CTX, "web-1", None, record)
    assert deleted is not None
    assert deleted.action is Action.TOMBSTONE
    assert deleted.attributes["state"] == "deleted"
    assert "last_scaled_at" not in deleted.attributes  # scaling's attribute stays scaling's


def test_plan_region_counts_what_needs_no_write() -> None:
    plan = plan_region(
        CTX,
        instances={"i-1": OBSERVED, "i-2": replace(OBSERVED, instance_id="i-2")},
        asgs={},
        existing_instances={"i-1": RECORD, "i-3": replace(RECORD, instance_id="i-3")},
        existing_asgs={},
    )
    assert sorted((c.action.value, c.subject) for c in plan.changes) == [
        ("create", "i-2"),
        ("tombstone", "i-3"),
    ]
    assert plan.unchanged == 1
