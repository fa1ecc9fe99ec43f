"""health-check's registry items: its attributes of instance items, and the items it owns.

Key formats and item shapes live here (the core registry only knows the entities every
function shares); see the package docstring for the table of item types.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

from fleetops.core.registry import InstanceRecord, Key, keys

HEALTH_COUNTER = "health_version"
BUDGET_PREFIX = "BUDGET#"
ACTION_PREFIX = "ACTION#"
BREAKER_PREFIX = "BREAKER#"

ENTITY_BUDGET = "remediation_budget"
ENTITY_ACTION = "health_action"
ENTITY_BREAKER_TRIP = "health_breaker_trip"

LIVE_STATES = frozenset({"pending", "running"})
"""Registry instance states health-check looks at (fleet-sync's view, refreshed every 5 min)."""


class Health(StrEnum):
    HEALTHY = "healthy"
    IMPAIRED = "impaired"
    UNKNOWN = "unknown"


class Stage(StrEnum):
    """Where an instance is on the remediation ladder."""

    NONE = "none"
    REBOOTED = "rebooted"
    REPLACED = "replaced"


def parse_iso(value: str | None) -> float | None:
    """Epoch seconds of a registry `...Z` timestamp; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthState:
    """health-check's own attributes of an instance item (all `health*`, + `health_version`).

    `health_transitions` holds the epoch seconds of recent healthy<->impaired transitions
    (pruned to the flap window); `health_last_known` is the last healthy/impaired verdict, so a
    check that fails in between (`unknown`) neither counts as a transition nor hides one.
    """

    health: str | None = None
    health_reason: str | None = None
    health_checked_at: str | None = None
    health_last_known: str | None = None
    health_failures: int = 0
    health_stage: str = Stage.NONE.value
    health_stage_at: int | None = None
    health_last_action: str | None = None
    health_last_action_reason: str | None = None
    health_last_action_at: str | None = None
    health_transitions: tuple[int, ...] = ()
    health_flapping: bool = False
    health_version: int | None = None

    OWNED: ClassVar[tuple[str, ...]] = (
        "health",
        "health_reason",
        "health_checked_at",
        "health_last_known",
        "health_failures",
        "health_stage",
        "health_stage_at",
        "health_last_action",
        "health_last_action_reason",
        "health_last_action_at",
        "health_transitions",
        "health_flapping",
    )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        def opt_str(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value)

        def opt_int(name: str) -> int | None:
            value = item.get(name)
            return None if value is None else int(value)

        return cls(
            health=opt_str("health"),
            health_reason=opt_str("health_reason"),
            health_checked_at=opt_str("health_checked_at"),
            health_last_known=opt_str("health_last_known"),
            health_failures=int(item.get("health_failures") or 0),
            health_stage=opt_str("health_stage") or Stage.NONE.value,
            health_stage_at=opt_int("health_stage_at"),
            health_last_action=opt_str("health_last_action"),
            health_last_action_reason=opt_str("health_last_action_reason"),
            health_last_action_at=opt_str("health_last_action_at"),
            health_transitions=tuple(sorted(int(t) for t in item.get("health_transitions") or ())),
            health_flapping=bool(item.get("health_flapping", False)),
            health_version=opt_int(HEALTH_COUNTER),
        )

    def owned(self) -> dict[str, Any]:
        """The attributes to SET (None removes), without the counter."""
        values = {name: getattr(self, name) for name in self.OWNED}
        values["health_transitions"] = list(self.health_transitions)
        return values

    def same_record(self, other: HealthState) -> bool:
        """Equal apart from when it was checked (the heartbeat decides about that)."""
        return all(
            getattr(self, name) == getattr(other, name)
            for name in self.OWNED
            if name != "health_checked_at"
        )


@dataclass(frozen=True, slots=True)
class InstanceView:
    """An instance as the registry holds it: fleet-sync's facts plus health-check's state."""

    record: InstanceRecord
    state: HealthState

    @property
    def key(self) -> Key:
        return self.record.key

    @property
    def instance_id(self) -> str:
        return self.record.instance_id

    @property
    def live(self) -> bool:
        return self.record.state in LIVE_STATES

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        return cls(InstanceRecord.from_item(item), HealthState.from_item(item))


# -- budget ------------------------------------------------------------------------------------


def window_start(now: float, window_seconds: int) -> int:
    return int(now) // window_seconds * window_seconds


def iso_key_time(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def budget_key(fleet: str, start: int) -> Key:
    return Key(keys.fleet_pk(fleet), f"{BUDGET_PREFIX}{iso_key_time(start)}")


def az_counter(az: str) -> str:
    """The budget item's per-AZ counter attribute, e.g. `spent_us-east-1a`."""
    return f"spent_{az}"


# -- actions -----------------------------------------------------------------------------------


class ActionKind(StrEnum):
    REBOOT = "reboot"
    REPLACE = "replace"
    WOULD_REBOOT = "would_reboot"
    WOULD_REPLACE = "would_replace"
    REPORT_FLAPPING = "report_flapping"


def action_key(fleet: str, at: int, instance_id: str) -> Key:
    return Key(keys.fleet_pk(fleet), f"{ACTION_PREFIX}{iso_key_time(at)}#{instance_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRecord:
    """`FLEET#<fleet>` / `ACTION#<iso-time>#<instance-id>`: one remediation decision, with TTL."""

    fleet: str
    region: str
    instance_id: str
    az: str | None
    asg: str | None
    action: str
    reason: str
    at: int
    outcome: str
    dry_run: bool
    failures: int
    error: str | None = None
    expires_at: int

    @property
    def key(self) -> Key:
        return action_key(self.fleet, self.at, self.instance_id)

    def to_item(self) -> dict[str, Any]:
        item = {
            **self.key.as_dict(),
            "entity": ENTITY_ACTION,
            "fleet": self.fleet,
            "region": self.region,
            "instance_id": self.instance_id,
            "az": self.az,
            "asg": self.asg,
            "action": self.action,
            "reason": self.reason,
            "at": iso_key_time(self.at),
            "at_epoch": self.at,
            "outcome": self.outcome,
            "dry_run": self.dry_run,
            "failures": self.failures,
            "error": self.error,
            "expires_at": self.expires_at,
        }
        return {name: value for name, value in item.items() if value is not None}

    def describe(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "region": self.region,
            "az": self.az,
            "action": self.action,
            "outcome": self.outcome,
            "reason": self.reason,
            **({"error": self.error} if self.error else {}),
        }


# -- breaker trips ------------------------------------------------------------------------------

_EXECUTION_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
EXECUTION_NAME_LIMIT = 80


def execution_name(fleet: str, start: int) -> str:
    """`hc-<fleet>-<window-start-epoch>`: deterministic, so re-runs in a window start nothing new.

    Characters Step Functions rejects become `-`; when that (or truncation to 80 characters)
    changed the fleet name, a short hash of the real name keeps two fleets apart.
    """
    clean = _EXECUTION_NAME_BAD.sub("-", fleet)
    suffix = f"-{start}"
    name = f"hc-{clean}{suffix}"
    if clean == fleet and len(name) <= EXECUTION_NAME_LIMIT:
        return name
    digest = hashlib.sha256(fleet.encode()).hexdigest()[:8]
    room = EXECUTION_NAME_LIMIT - len("hc-") - len(suffix) - len(digest) - 1
    return f"hc-{clean[:room]}-{digest}{suffix}"


def breaker_trip_key(fleet: str, start: int) -> Key:
    return Key(keys.fleet_pk(fleet), f"{BREAKER_PREFIX}{iso_key_time(start)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTrip:
    """`FLEET#<fleet>` / `BREAKER#<window-start>`: the fleet breaker opened in that window.

    Not the recovery workflow's own incident record (`INCIDENT#<incident_id>`, entity
    `incident`, owned by the workflow); this one is health-check's claim for the one
    notification per window and its record of what it saw and started.
    """

    fleet: str
    incident_id: str
    window_start: int
    opened_at: int
    regions: tuple[str, ...]
    unhealthy_share: float
    unknown_share: float
    by_az: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    execution_arn: str | None = None
    recovery: str | None = None
    expires_at: int

    @property
    def key(self) -> Key:
        return breaker_trip_key(self.fleet, self.window_start)

    def attributes(self) -> dict[str, Any]:
        values = {
            "entity": ENTITY_BREAKER_TRIP,
            "fleet": self.fleet,
            "incident_id": self.incident_id,
            "window_start": iso_key_time(self.window_start),
            "opened_at": iso_key_time(self.opened_at),
            "regions": list(self.regions),
            "unhealthy_share": self.unhealthy_share,
            "unknown_share": self.unknown_share,
            "by_az": {az: dict(counts) for az, counts in self.by_az.items()},
            "execution_arn": self.execution_arn,
            "recovery": self.recovery,
            "expires_at": self.expires_at,
        }
        return {name: value for name, value in values.items() if value is not None}
