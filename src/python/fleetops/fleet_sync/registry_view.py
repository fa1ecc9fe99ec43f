"""What the registry holds for a fleet, read with one paginated Query of its partition.

One Query per fleet (pk `FLEET#<fleet>`) returns every region's records at once, so the read
cost grows with 1 MB pages, not with instances, and the view is split here by region and
entity for the per-region diff.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from fleetops.core.registry import (
    AsgRecord,
    DriftRecord,
    FleetRecord,
    InstanceRecord,
    RegionStatusRecord,
    RegistryTable,
    keys,
)


@dataclass
class FleetRegistryView:
    fleet: str
    meta: FleetRecord | None = None
    instances: dict[str, dict[str, InstanceRecord]] = field(default_factory=dict)
    asgs: dict[str, dict[str, AsgRecord]] = field(default_factory=dict)
    region_status: dict[str, RegionStatusRecord] = field(default_factory=dict)
    drifts: dict[str, DriftRecord] = field(default_factory=dict)

    def region_instances(self, region: str) -> dict[str, InstanceRecord]:
        return self.instances.get(region, {})

    def region_asgs(self, region: str) -> dict[str, AsgRecord]:
        return self.asgs.get(region, {})

    def add(self, record: object) -> None:
        if isinstance(record, InstanceRecord):
            self.instances.setdefault(record.region, {})[record.instance_id] = record
        elif isinstance(record, AsgRecord):
            self.asgs.setdefault(record.region, {})[record.name] = record
        elif isinstance(record, RegionStatusRecord):
            self.region_status[record.region] = record
        elif isinstance(record, DriftRecord):
            self.drifts[record.key.sk] = record
        elif isinstance(record, FleetRecord):
            self.meta = record
        # other entities (locks, backups, ...) are not fleet-sync's concern


def load_fleet(table: RegistryTable, fleet: str) -> FleetRegistryView:
    view = FleetRegistryView(fleet=fleet)
    for record in table.query_records(keys.fleet_pk(fleet)):
        view.add(record)
    return view


def known_fleets(table: RegistryTable) -> set[str]:
    """Every fleet ever registered (the `FLEETS` index partition)."""
    return {str(item["fleet"]) for item in table.query(keys.FLEET_INDEX_PK) if item.get("fleet")}


def load_fleets(table: RegistryTable, fleets: Iterable[str]) -> dict[str, FleetRegistryView]:
    return {fleet: load_fleet(table, fleet) for fleet in sorted(fleets)}
