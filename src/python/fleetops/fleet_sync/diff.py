"""What must change in the registry so it matches one region's observation of one fleet.

Pure functions (no I/O): the same planning runs for the first pass and again, per item, when a
conditional write loses a race (`replan`). Only records whose fleet-sync-owned attributes
differ produce a `Change`, which is why the number of writes follows the number of changes and
an unchanged fleet produces none.

Rules:
- observed, no fleet-sync data yet          -> create (sets `first_seen`)
- observed, owned attributes differ         -> update (refreshes `last_seen`)
- gone from EC2/ASG, record not a tombstone -> tombstone: `state=terminated` (instances) or
  `state=deleted` (ASGs) with `expires_at` = now + TTL; never a silent delete
- EC2 itself reports `terminated`           -> same tombstone attributes
- an item without `sync_version` that fleet-sync no longer observes is someone else's: untouched
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleetops.core.clock import epoch, iso_utc
from fleetops.core.registry import AsgRecord, Entity, InstanceRecord, Key, keys
from fleetops.fleet_sync.inventory import ObservedAsg, ObservedInstance

TERMINATED = "terminated"
DELETED = "deleted"
ACTIVE = "active"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    TOMBSTONE = "tombstone"


@dataclass(frozen=True)
class PlanContext:
    fleet: str
    region: str
    now: float
    tombstone_ttl_seconds: int

    @property
    def now_iso(self) -> str:
        return iso_utc(self.now)

    @property
    def expires_at(self) -> int:
        return epoch(self.now) + self.tombstone_ttl_seconds


@dataclass(frozen=True, slots=True)
class Change:
    """One conditional write: fleet-sync's attributes for one item (None = remove)."""

    action: Action
    entity: str
    key: Key
    subject: str
    attributes: Mapping[str, Any]
    expected_version: int | None
    observed: ObservedInstance | ObservedAsg | None

    def describe(self) -> dict[str, Any]:
        return {"action": self.action.value, "entity": self.entity, "id": self.subject}


@dataclass
class RegionPlan:
    changes: list[Change]
    unchanged: int


def _instance_state(observed: ObservedInstance) -> dict[str, Any]:
    return {
        "state": observed.state,
        "az": observed.az,
        "instance_type": observed.instance_type,
        "asg": observed.asg,
        "launch_template_id": observed.launch_template_id,
        "launch_template_version": observed.launch_template_version,
        "lifecycle_state": observed.lifecycle_state,
    }


def _record_state(record: InstanceRecord | AsgRecord, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names}


def _ours(record: InstanceRecord | AsgRecord | None) -> bool:
    return record is not None and record.sync_version is not None


def plan_instance(
    ctx: PlanContext,
    instance_id: str,
    observed: ObservedInstance | None,
    existing: InstanceRecord | None,
) -> Change | None:
    """The change (if any) for one instance; `existing` as read from the registry."""
    key = keys.instance_key(ctx.fleet, ctx.region, instance_id)
    previous = existing if existing is not None and _ours(existing) else None
    if observed is None:
        if previous is None or previous.state == TERMINATED:
            return None
        tombstone: dict[str, Any] = {
            "state": TERMINATED,
            "lifecycle_state": None,
            "terminated_at": ctx.now_iso,
            "expires_at": ctx.expires_at,
        }
        return Change(
            Action.TOMBSTONE,
            Entity.INSTANCE,
            key,
            instance_id,
            tombstone,
            previous.sync_version,
            None,
        )

    if previous is None and observed.state == TERMINATED:
        return None  # never registered while alive: nothing to remember
    desired = _instance_state(observed)
    if previous is not None and _record_state(previous, InstanceRecord.SYNC_ATTRS) == desired:
        return None
    attributes: dict[str, Any] = {
        "entity": Entity.INSTANCE,
        "fleet": ctx.fleet,
        "region": ctx.region,
        "instance_id": instance_id,
        **desired,
        "last_seen": ctx.now_iso,
    }
    if previous is None:
        attributes["first_seen"] = ctx.now_iso
        return Change(Action.CREATE, Entity.INSTANCE, key, instance_id, attributes, None, observed)
    action = Action.UPDATE
    if observed.state == TERMINATED:
        attributes["terminated_at"] = previous.terminated_at or ctx.now_iso
        attributes["expires_at"] = previous.expires_at or ctx.expires_at
        if previous.state != TERMINATED:
            action = Action.TOMBSTONE
    elif previous.terminated_at or previous.expires_at:
        attributes["terminated_at"] = None  # revived (e.g. fleet tag restored): no longer expires
        attributes["expires_at"] = None
    return Change(
        action, Entity.INSTANCE, key, instance_id, attributes, previous.sync_version, observed
    )


def _asg_state(observed: ObservedAsg) -> dict[str, Any]:
    return {
        "state": ACTIVE,
        "min_size": observed.min_size,
        "max_size": observed.max_size,
        "desired_capacity": observed.desired_capacity,
        "azs": tuple(sorted(observed.azs)),
        "launch_template_id": observed.launch_template_id,
        "launch_template_version": observed.launch_template_version,
        "instance_count": len(observed.members),
        "in_service_count": len(observed.in_service),
    }


def plan_asg(
    ctx: PlanContext, name: str, observed: ObservedAsg | None, existing: AsgRecord | None
) -> Change | None:
    """The change (if any) for one Auto Scaling group."""
    key = keys.asg_key(ctx.fleet, ctx.region, name)
    previous = existing if existing is not None and _ours(existing) else None
    if observed is None:
        if previous is None or previous.state == DELETED:
            return None
        tombstone: dict[str, Any] = {
            "state": DELETED,
            "deleted_at": ctx.now_iso,
            "expires_at": ctx.expires_at,
        }
        return Change(
            Action.TOMBSTONE, Entity.ASG, key, name, tombstone, previous.sync_version, None
        )

    desired = _asg_state(observed)
    if previous is not None and _record_state(previous, AsgRecord.SYNC_ATTRS) == desired:
        return None
    attributes: dict[str, Any] = {
        "entity": Entity.ASG,
        "fleet": ctx.fleet,
        "region": ctx.region,
        "name": name,
        **desired,
        "azs": list(desired["azs"]),
        "last_seen": ctx.now_iso,
    }
    if previous is None:
        attributes["first_seen"] = ctx.now_iso
        return Change(Action.CREATE, Entity.ASG, key, name, attributes, None, observed)
    if previous.deleted_at or previous.expires_at:
        attributes["deleted_at"] = None  # re-created under the same name
        attributes["expires_at"] = None
    return Change(Action.UPDATE, Entity.ASG, key, name, attributes, previous.sync_version, observed)


def plan_region(
    ctx: PlanContext,
    *,
    instances: Mapping[str, ObservedInstance],
    asgs: Mapping[str, ObservedAsg],
    existing_instances: Mapping[str, InstanceRecord],
    existing_asgs: Mapping[str, AsgRecord],
) -> RegionPlan:
    """Every change for one fleet in one region, plus how many records need none."""
    changes: list[Change] = []
    compared = 0
    for name in sorted(asgs.keys() | existing_asgs.keys()):
        compared += 1
        change = plan_asg(ctx, name, asgs.get(name), existing_asgs.get(name))
        if change is not None:
            changes.append(change)
    for instance_id in sorted(instances.keys() | existing_instances.keys()):
        compared += 1
        change = plan_instance(
            ctx, instance_id, instances.get(instance_id), existing_instances.get(instance_id)
        )
        if change is not None:
            changes.append(change)
    return RegionPlan(changes=changes, unchanged=compared - len(changes))


def replan(ctx: PlanContext, change: Change, current: Mapping[str, Any] | None) -> Change | None:
    """Re-plan `change` against the item as another writer left it (after a lost race)."""
    if change.entity == Entity.INSTANCE:
        instance = InstanceRecord.from_item(current) if current else None
        observed_instance = (
            change.observed if isinstance(change.observed, ObservedInstance) else None
        )
        return plan_instance(ctx, change.subject, observed_instance, instance)
    asg = AsgRecord.from_item(current) if current else None
    observed_asg = change.observed if isinstance(change.observed, ObservedAsg) else None
    return plan_asg(ctx, change.subject, observed_asg, asg)
