"""What the registry holds for a fleet: its whole partition, or only some regions' slices.

A run over every region reads each fleet with one paginated Query of its partition (pk
`FLEET#<fleet>`), all regions at once. A run over some regions (the deployed schedule runs one
invocation per region) reads only those regions' instance and ASG slices (sk prefixes
`INSTANCE#<region>#`, `ASG#<region>#`) plus the fleet's small items (`META`, `REGION#`,
`DRIFT#`): an invocation then parses 1/N of the fleet, which is what keeps its CPU and memory
flat as regions are added. Either way the read cost grows with 1 MB pages, not with instances.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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


def load_fleet(
    table: RegistryTable, fleet: str, regions: Iterable[str] | None = None
) -> FleetRegistryView:
    """The fleet's records; `regions=None`: every region (one partition query)."""
    view = FleetRegistryView(fleet=fleet)
    pk = keys.fleet_pk(fleet)
    if regions is None:
        prefixes: list[str | None] = [None]
    else:
        prefixes = [keys.META_SK, keys.REGION_PREFIX, keys.DRIFT_PREFIX]
        for region in regions:
            prefixes += [keys.asg_prefix(region), keys.instance_prefix(region)]
    for prefix in prefixes:
        for record in table.query_records(pk, sk_prefix=prefix):
            view.add(record)
    return view


def known_fleets(table: RegistryTable) -> set[str]:
    """Every fleet ever registered (the `FLEETS` index partition)."""
    return {str(item["fleet"]) for item in table.query(keys.FLEET_INDEX_PK) if item.get("fleet")}


def load_fleets(
    table: RegistryTable, fleets: Iterable[str], regions: Collection[str] | None = None
) -> dict[str, FleetRegistryView]:
    return {fleet: load_fleet(table, fleet, regions) for fleet in sorted(fleets)}
