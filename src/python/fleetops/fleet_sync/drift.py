"""Drift: what the fleet looks like versus what its Auto Scaling groups promise.

Three kinds, each identified by (fleet, kind, subject) so the same drift found again is
recognised and not re-announced within the window (`is_due`):

- `az_imbalance`: an ASG's in-service instances are spread unevenly over its AZs
  (max - min > `AZ_IMBALANCE_THRESHOLD`); subject `<region>/<asg>`.
- `capacity_mismatch`: an ASG's desired capacity differs from its in-service count;
  subject `<region>/<asg>`.
- `unmanaged_instance`: a live instance carries the fleet tag but belongs to no ASG;
  subject `<region>/<instance-id>`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fleetops.core.notify import Notification
from fleetops.core.registry import DriftRecord, Key, keys
from fleetops.fleet_sync.inventory import ObservedAsg, ObservedInstance


class DriftKind(StrEnum):
    AZ_IMBALANCE = "az_imbalance"
    CAPACITY_MISMATCH = "capacity_mismatch"
    UNMANAGED_INSTANCE = "unmanaged_instance"


_TITLES = {
    DriftKind.AZ_IMBALANCE: "AZ imbalance",
    DriftKind.CAPACITY_MISMATCH: "capacity mismatch",
    DriftKind.UNMANAGED_INSTANCE: "unmanaged instance",
}


@dataclass(frozen=True, slots=True)
class Drift:
    kind: DriftKind
    fleet: str
    region: str
    subject: str
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return keys.drift_key(self.fleet, self.kind.value, self.subject)

    def notification(self) -> Notification:
        return Notification(
            kind=f"drift.{self.kind.value}",
            title=f"fleet {self.fleet}: {_TITLES[self.kind]} in {self.region} ({self.subject})",
            summary=self.summary,
            details={
                "fleet": self.fleet,
                "region": self.region,
                "drift": self.kind.value,
                "subject": self.subject,
                **self.details,
            },
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "fleet": self.fleet,
            "region": self.region,
            "subject": self.subject,
            "summary": self.summary,
        }


def _az_imbalance(fleet: str, region: str, asg: ObservedAsg, threshold: int) -> Drift | None:
    if len(asg.azs) < 2 or not asg.in_service:
        return None
    counts = Counter(dict.fromkeys(asg.azs, 0))
    counts.update(member.az for member in asg.in_service)
    spread = max(counts.values()) - min(counts.values())
    if spread <= threshold:
        return None
    per_az = dict(sorted(counts.items()))
    listing = ", ".join(f"{az}={count}" for az, count in per_az.items())
    return Drift(
        DriftKind.AZ_IMBALANCE,
        fleet,
        region,
        f"{region}/{asg.name}",
        f"ASG {asg.name} in {region} is unbalanced across AZs: {listing} (spread {spread} > threshold {threshold})",
        {"asg": asg.name, "in_service_per_az": per_az, "spread": spread, "threshold": threshold},
    )


def _capacity_mismatch(fleet: str, region: str, asg: ObservedAsg) -> Drift | None:
    in_service = len(asg.in_service)
    if in_service == asg.desired_capacity:
        return None
    lifecycle = dict(sorted(Counter(member.lifecycle_state for member in asg.members).items()))
    return Drift(
        DriftKind.CAPACITY_MISMATCH,
        fleet,
        region,
        f"{region}/{asg.name}",
        f"ASG {asg.name} in {region} has {in_service} instance(s) in service, desired {asg.desired_capacity}",
        {
            "asg": asg.name,
            "desired_capacity": asg.desired_capacity,
            "in_service": in_service,
            "lifecycle_states": lifecycle,
        },
    )


def _unmanaged(fleet: str, region: str, instance: ObservedInstance) -> Drift:
    return Drift(
        DriftKind.UNMANAGED_INSTANCE,
        fleet,
        region,
        f"{region}/{instance.instance_id}",
        f"instance {instance.instance_id} in {region} ({instance.az}, {instance.state}) carries the fleet tag "
        f"of {fleet} but belongs to no Auto Scaling group",
        {
            "instance_id": instance.instance_id,
            "az": instance.az,
            "state": instance.state,
            "instance_type": instance.instance_type,
        },
    )


def detect_drifts(
    fleet: str,
    region: str,
    *,
    instances: Mapping[str, ObservedInstance],
    asgs: Mapping[str, ObservedAsg],
    az_imbalance_threshold: int,
) -> list[Drift]:
    """Every drift visible in one region's observation of one fleet."""
    drifts: list[Drift] = []
    for name in sorted(asgs):
        asg = asgs[name]
        imbalance = _az_imbalance(fleet, region, asg, az_imbalance_threshold)
        if imbalance is not None:
            drifts.append(imbalance)
        mismatch = _capacity_mismatch(fleet, region, asg)
        if mismatch is not None:
            drifts.append(mismatch)
    for instance_id in sorted(instances):
        instance = instances[instance_id]
        if instance.asg is None and instance.alive:
            drifts.append(_unmanaged(fleet, region, instance))
    return drifts


def is_due(previous: DriftRecord | None, now: float, window_seconds: int) -> bool:
    """True when this drift has not been notified within the window."""
    return previous is None or previous.last_notified_at <= int(now) - window_seconds
