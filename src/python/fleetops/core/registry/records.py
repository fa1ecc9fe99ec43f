"""Typed views of registry items, one dataclass per entity.

Records are read models: `from_item` accepts a deserialized item (as `RegistryTable` yields it)
and tolerates attributes it does not know, so a writer adding attributes never breaks readers.
Wholly-owned entities (fleet, fleet index, region status, drift) also have `to_item` for puts;
shared entities (instance, ASG) are only ever written attribute-wise through
`RegistryTable.update_owned`, and their `*_ATTRS` tuples name who owns what.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from fleetops.core.registry import keys
from fleetops.core.registry.keys import Key


class Entity:
    """Values of the `entity` attribute, present on every item."""

    FLEET = "fleet"
    FLEET_INDEX = "fleet_index"
    REGION_STATUS = "region_status"
    ASG = "asg"
    INSTANCE = "instance"
    LOCK = "lock"
    DRIFT = "drift"
    SCALING_POLICY = "scaling_policy"
    SCALING_DECISION = "scaling_decision"


def _str(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value)


def _sym(item: Mapping[str, Any], name: str) -> str | None:
    """A low-cardinality string (state, AZ, type, timestamp of a sync), shared not copied.

    A fleet partition holds tens of thousands of records repeating a handful of such values;
    interning keeps one copy of each, which matters inside a 256 MB Lambda.
    """
    value = item.get(name)
    return None if value is None else sys.intern(str(value))


def _req(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        raise ValueError(f"registry item {item.get('pk')}/{item.get('sk')} lacks {name!r}")
    return str(value)


def _int(item: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = item.get(name)
    return default if value is None else int(value)


def _opt_int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value)


def _strs(item: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = item.get(name)
    if not value:
        return ()
    return tuple(sorted(str(v) for v in value))


def _identity(item: Mapping[str, Any], sk_prefix: str, id_attr: str) -> tuple[str, str, str]:
    """(fleet, region, id) of a shared item, from its attributes or else its key.

    Another writer may create a shared item first (e.g. health-check) without the attributes
    fleet-sync writes, so the key is the fallback source of identity.
    """
    fleet, region, ident = _sym(item, "fleet"), _sym(item, "region"), _str(item, id_attr)
    if fleet and region and ident:
        return fleet, region, ident
    key_region, key_ident = keys.split_sk(_req(item, "sk"), sk_prefix)
    return fleet or keys.fleet_of_pk(_req(item, "pk")), region or key_region, ident or key_ident


def _compact(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None values: an absent attribute is how the registry says "none"."""
    return {name: value for name, value in attributes.items() if value is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetRecord:
    """`FLEET#<fleet>` / `META`, owned by fleet-sync: the fleet exists and how it is found."""

    ENTITY: ClassVar[str] = Entity.FLEET

    fleet: str
    tag_key: str
    first_seen: str

    @property
    def key(self) -> Key:
        return keys.fleet_key(self.fleet)

    def to_item(self) -> dict[str, Any]:
        return {
            **self.key.as_dict(),
            "entity": self.ENTITY,
            "fleet": self.fleet,
            "tag_key": self.tag_key,
            "first_seen": self.first_seen,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        return cls(
            fleet=_req(item, "fleet"),
            tag_key=_req(item, "tag_key"),
            first_seen=_req(item, "first_seen"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetIndexRecord:
    """`FLEETS` / `FLEET#<fleet>`, owned by fleet-sync: lets one query list every fleet."""

    ENTITY: ClassVar[str] = Entity.FLEET_INDEX

    fleet: str
    first_seen: str

    @property
    def key(self) -> Key:
        return keys.fleet_index_key(self.fleet)

    def to_item(self) -> dict[str, Any]:
        return {
            **self.key.as_dict(),
            "entity": self.ENTITY,
            "fleet": self.fleet,
            "first_seen": self.first_seen,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        return cls(fleet=_req(item, "fleet"), first_seen=_req(item, "first_seen"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionStatusRecord:
    """`FLEET#<fleet>` / `REGION#<region>`, owned by fleet-sync: outcome of the region's sync.

    Rewritten only when status, error kind or counts change (an unchanged fleet costs no
    writes), so `synced_at` is the time of the last *change* of this status.
    """

    ENTITY: ClassVar[str] = Entity.REGION_STATUS
    COMPARED: ClassVar[tuple[str, ...]] = ("status", "error_code", "instance_count", "asg_count")

    fleet: str
    region: str
    status: str
    error_code: str | None = None
    error: str | None = None
    instance_count: int = 0
    asg_count: int = 0
    synced_at: str

    @property
    def key(self) -> Key:
        return keys.region_status_key(self.fleet, self.region)

    def same_status(self, other: RegionStatusRecord) -> bool:
        return all(getattr(self, name) == getattr(other, name) for name in self.COMPARED)

    def to_item(self) -> dict[str, Any]:
        return _compact(
            {
                **self.key.as_dict(),
                "entity": self.ENTITY,
                "fleet": self.fleet,
                "region": self.region,
                "status": self.status,
                "error_code": self.error_code,
                "error": self.error,
                "instance_count": self.instance_count,
                "asg_count": self.asg_count,
                "synced_at": self.synced_at,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        return cls(
            fleet=_req(item, "fleet"),
            region=_req(item, "region"),
            status=_req(item, "status"),
            error_code=_str(item, "error_code"),
            error=_str(item, "error"),
            instance_count=_int(item, "instance_count"),
            asg_count=_int(item, "asg_count"),
            synced_at=_req(item, "synced_at"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AsgRecord:
    """`FLEET#<fleet>` / `ASG#<region>#<asg>`: shared item.

    fleet-sync owns `SYNC_ATTRS` (+ `sync_version`); scaling owns `last_scaled_at` (N) and
    `last_scaled_by`; every writer bumps `version`.
    """

    ENTITY: ClassVar[str] = Entity.ASG
    SYNC_ATTRS: ClassVar[tuple[str, ...]] = (
        "state",
        "min_size",
        "max_size",
        "desired_capacity",
        "azs",
        "launch_template_id",
        "launch_template_version",
        "instance_count",
        "in_service_count",
    )
    SCALING_ATTRS: ClassVar[tuple[str, ...]] = ("last_scaled_at", "last_scaled_by")

    fleet: str
    region: str
    name: str
    state: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    desired_capacity: int | None = None
    azs: tuple[str, ...] = ()
    launch_template_id: str | None = None
    launch_template_version: str | None = None
    instance_count: int | None = None
    in_service_count: int | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    deleted_at: str | None = None
    expires_at: int | None = None
    sync_version: int | None = None
    last_scaled_at: int | None = None
    last_scaled_by: str | None = None
    version: int = 0

    @property
    def key(self) -> Key:
        return keys.asg_key(self.fleet, self.region, self.name)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        fleet, region, name = _identity(item, keys.ASG_PREFIX, "name")
        return cls(
            fleet=fleet,
            region=region,
            name=name,
            state=_sym(item, "state"),
            min_size=_opt_int(item, "min_size"),
            max_size=_opt_int(item, "max_size"),
            desired_capacity=_opt_int(item, "desired_capacity"),
            azs=_strs(item, "azs"),
            launch_template_id=_sym(item, "launch_template_id"),
            launch_template_version=_sym(item, "launch_template_version"),
            instance_count=_opt_int(item, "instance_count"),
            in_service_count=_opt_int(item, "in_service_count"),
            first_seen=_sym(item, "first_seen"),
            last_seen=_sym(item, "last_seen"),
            deleted_at=_sym(item, "deleted_at"),
            expires_at=_opt_int(item, "expires_at"),
            sync_version=_opt_int(item, "sync_version"),
            last_scaled_at=_opt_int(item, "last_scaled_at"),
            last_scaled_by=_str(item, "last_scaled_by"),
            version=_int(item, "version"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceRecord:
    """`FLEET#<fleet>` / `INSTANCE#<region>#<instance-id>`: shared item.

    fleet-sync owns `SYNC_ATTRS` plus `first_seen`/`last_seen`/`terminated_at`/`expires_at`
    and `sync_version`; health-check owns `health*` attributes and `health_version`; every
    writer bumps `version`. `state == "terminated"` with `expires_at` is a tombstone.
    """

    ENTITY: ClassVar[str] = Entity.INSTANCE
    SYNC_ATTRS: ClassVar[tuple[str, ...]] = (
        "state",
        "az",
        "instance_type",
        "asg",
        "launch_template_id",
        "launch_template_version",
        "lifecycle_state",
    )
    HEALTH_ATTRS: ClassVar[tuple[str, ...]] = ("health", "health_reason", "health_checked_at")

    fleet: str
    region: str
    instance_id: str
    state: str | None = None
    az: str | None = None
    instance_type: str | None = None
    asg: str | None = None
    launch_template_id: str | None = None
    launch_template_version: str | None = None
    lifecycle_state: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    terminated_at: str | None = None
    expires_at: int | None = None
    sync_version: int | None = None
    health: str | None = None
    health_reason: str | None = None
    health_checked_at: str | None = None
    health_version: int | None = None
    version: int = 0

    @property
    def key(self) -> Key:
        return keys.instance_key(self.fleet, self.region, self.instance_id)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        fleet, region, instance_id = _identity(item, keys.INSTANCE_PREFIX, "instance_id")
        return cls(
            fleet=fleet,
            region=region,
            instance_id=instance_id,
            state=_sym(item, "state"),
            az=_sym(item, "az"),
            instance_type=_sym(item, "instance_type"),
            asg=_sym(item, "asg"),
            launch_template_id=_sym(item, "launch_template_id"),
            launch_template_version=_sym(item, "launch_template_version"),
            lifecycle_state=_sym(item, "lifecycle_state"),
            first_seen=_sym(item, "first_seen"),
            last_seen=_sym(item, "last_seen"),
            terminated_at=_sym(item, "terminated_at"),
            expires_at=_opt_int(item, "expires_at"),
            sync_version=_opt_int(item, "sync_version"),
            health=_sym(item, "health"),
            health_reason=_str(item, "health_reason"),
            health_checked_at=_sym(item, "health_checked_at"),
            health_version=_opt_int(item, "health_version"),
            version=_int(item, "version"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftRecord:
    """`FLEET#<fleet>` / `DRIFT#<kind>#<subject>`, owned by fleet-sync.

    Remembers when a drift was last notified (`last_notified_at`, N) so the same drift is not
    announced again within the window; expires (TTL) once the window has passed.
    """

    ENTITY: ClassVar[str] = Entity.DRIFT

    fleet: str
    kind: str
    subject: str
    region: str
    summary: str
    last_notified_at: int
    expires_at: int | None = None

    @property
    def key(self) -> Key:
        return keys.drift_key(self.fleet, self.kind, self.subject)

    def to_item(self) -> dict[str, Any]:
        return _compact(
            {
                **self.key.as_dict(),
                "entity": self.ENTITY,
                "fleet": self.fleet,
                "kind": self.kind,
                "subject": self.subject,
                "region": self.region,
                "summary": self.summary,
                "last_notified_at": self.last_notified_at,
                "expires_at": self.expires_at,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        return cls(
            fleet=_req(item, "fleet"),
            kind=_req(item, "kind"),
            subject=_req(item, "subject"),
            region=_req(item, "region"),
            summary=_str(item, "summary") or "",
            last_notified_at=_int(item, "last_notified_at"),
            expires_at=_opt_int(item, "expires_at"),
        )


Record = (
    FleetRecord | FleetIndexRecord | RegionStatusRecord | AsgRecord | InstanceRecord | DriftRecord
)

RECORD_TYPES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    Entity.FLEET: FleetRecord.from_item,
    Entity.FLEET_INDEX: FleetIndexRecord.from_item,
    Entity.REGION_STATUS: RegionStatusRecord.from_item,
    Entity.ASG: AsgRecord.from_item,
    Entity.INSTANCE: InstanceRecord.from_item,
    Entity.DRIFT: DriftRecord.from_item,
}
"""Parser per entity; later entities (lock, policy, ...) register theirs here."""


def parse_record(item: Mapping[str, Any]) -> Any:
    """The typed record for an item, or the item itself when its entity has no record type."""
    parser = RECORD_TYPES.get(str(item.get("entity", "")))
    return parser(item) if parser is not None else dict(item)
