"""One fleet-sync run: observe every region, compare with the registry, write only what changed.

Phases, and why in this order:

1. Inventory, every region in parallel and in isolation: a region whose reads fail (endpoint
   down, retries exhausted, breaker open) is marked failed and nothing of it is touched later;
   in particular its records are never tombstoned on the strength of a missing answer.
2. Registry: the fleet index (one Query) and, per fleet in scope, one paginated Query of its
   partition, or of the requested regions' slices only when the run covers some regions (see
   `registry_view`). Named fleets that exist nowhere are rejected here, before anything is
   written.
3. Plan per (region, fleet): changes (pure `diff`), region status, drifts.
4. Unless dry run, per region: conditional writes of the changes (up to 100 per transaction,
   transactions in parallel), then one batch of the region's wholly-owned items (region
   status, and fleet/index records of new fleets).
5. Drift notifications for new drifts (claim-then-publish, no repeat within the window).

Request cost: reads grow with pages (EC2, ASG, DynamoDB 1 MB pages); writes grow with changes
only (one transaction per 100), so a run over an unchanged fleet writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetops.core.aws import DEPENDENCY_ERRORS, AwsClients, text_timestamps_session
from fleetops.core.clock import Clock, iso_utc, system_clock
from fleetops.core.concurrency import map_concurrently
from fleetops.core.errors import NotFoundError
from fleetops.core.notify import Notifier
from fleetops.core.observability import logger, tracer
from fleetops.core.registry import FleetIndexRecord, FleetRecord, RegionStatusRecord, RegistryTable
from fleetops.fleet_sync.alerts import AlertStatus, DriftAlerter
from fleetops.fleet_sync.config import FleetSyncConfig
from fleetops.fleet_sync.diff import Action, PlanContext, plan_region
from fleetops.fleet_sync.drift import Drift, detect_drifts, is_due
from fleetops.fleet_sync.inventory import RegionInventory, fetch_region_inventory
from fleetops.fleet_sync.registry_view import FleetRegistryView, known_fleets, load_fleets
from fleetops.fleet_sync.report import FAILED, OK, RegionResult, SyncResult
from fleetops.fleet_sync.request import SyncRequest
from fleetops.fleet_sync.writer import ChangeWriter, PlannedChange, WriteOutcome


@dataclass
class SyncDeps:
    """Everything a run needs from outside; built once per container (cold start)."""

    config: FleetSyncConfig
    clients: AwsClients
    clock: Clock = system_clock
    table: RegistryTable = field(init=False)
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.table = RegistryTable.from_clients(self.clients, self.config)
        self.notifier = Notifier.from_clients(
            self.clients, self.config, source="fleet-sync", clock=self.clock
        )

    @classmethod
    def create(
        cls,
        config: FleetSyncConfig,
        *,
        endpoint_overrides: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
    ) -> SyncDeps:
        """The dependencies as the Lambda builds them; fleet-sync reads no AWS timestamps, so
        its clients skip converting them (see `text_timestamps_session`)."""
        clients = AwsClients.from_config(
            config, endpoint_overrides=endpoint_overrides, session=text_timestamps_session()
        )
        return cls(config=config, clients=clients, clock=clock)


@dataclass
class _RegionWork:
    """The plan for one region, across fleets."""

    changes: list[PlannedChange] = field(default_factory=list)
    unchanged: int = 0
    statuses: dict[str, RegionStatusRecord] = field(default_factory=dict)
    new_fleet_items: list[dict[str, Any]] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)


def run_sync(request: SyncRequest, deps: SyncDeps) -> SyncResult:
    return FleetSync(deps).run(request)


class FleetSync:
    def __init__(self, deps: SyncDeps) -> None:
        self.deps = deps
        self.config = deps.config
        self.writer = ChangeWriter(deps.table, concurrency=self.config.write_concurrency)
        self.alerter = DriftAlerter(
            deps.table, deps.notifier, window_seconds=self.config.drift_notify_window_seconds
        )

    @tracer.capture_method
    def run(self, request: SyncRequest) -> SyncResult:
        started = time.monotonic()
        now = self.deps.clock()
        result = SyncResult(
            trigger=request.trigger,
            dry_run=request.dry_run,
            regions={region: RegionResult(region) for region in request.regions},
        )
        inventories = self._read_inventories(request, result)
        if inventories:
            self._sync(request, inventories, result, now)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        logger.info(
            "fleet sync finished",
            extra={
                "status": result.status,
                "dry_run": request.dry_run,
                "counts": result.totals(),
                "regions": {name: region.status for name, region in result.regions.items()},
                "duration_ms": result.duration_ms,
            },
        )
        return result

    # -- phase 1 -----------------------------------------------------------------------------

    def _read_inventories(
        self, request: SyncRequest, result: SyncResult
    ) -> dict[str, RegionInventory]:
        def read(region: str) -> RegionInventory | BaseException:
            try:
                return fetch_region_inventory(
                    self.deps.clients,
                    region,
                    tag_key=self.config.fleet_tag_key,
                    fleets=request.fleets,
                    page_size=self.config.ec2_page_size,
                )
            except DEPENDENCY_ERRORS as exc:
                return exc

        outcomes = map_concurrently(read, request.regions, max_workers=len(request.regions))
        inventories: dict[str, RegionInventory] = {}
        for region, outcome in zip(request.regions, outcomes, strict=True):
            if isinstance(outcome, RegionInventory):
                inventories[region] = outcome
                result.regions[region].pages = dict(outcome.pages)
            else:
                result.regions[region].fail(outcome)
                logger.error(
                    "region inventory failed",
                    extra={"region": region, "error": result.regions[region].error},
                )
        return inventories

    # -- phases 2-5 --------------------------------------------------------------------------

    def _sync(
        self,
        request: SyncRequest,
        inventories: dict[str, RegionInventory],
        result: SyncResult,
        now: float,
    ) -> None:
        try:
            known = known_fleets(self.deps.table)
            fleets = self._fleets_in_scope(request, inventories, known)
            every_region = set(request.regions) >= set(self.config.regions)
            views = load_fleets(self.deps.table, fleets, None if every_region else request.regions)
        except NotFoundError:
            raise
        except DEPENDENCY_ERRORS as exc:
            for region in inventories:
                result.regions[region].fail(exc)
            logger.error(
                "registry read failed",
                extra={"error": result.regions[next(iter(inventories))].error},
            )
            return
        result.fleets = sorted(fleets)

        unregistered = {
            fleet for fleet, view in views.items() if view.meta is None or fleet not in known
        }
        detected: list[Drift] = []
        for region in request.regions:
            inventory = inventories.get(region)
            if inventory is None:
                if not request.dry_run:
                    self._record_failure(region, views, result.regions[region], now)
                continue
            work = self._plan_region(inventory, views, unregistered, known, now)
            region_result = result.regions[region]
            region_result.fleets = sorted(work.statuses)
            if request.dry_run:
                self._report_plan(work, region_result, result)
            else:
                self._apply(region, work, views, region_result, now)
            region_result.drifts_found = len(work.drifts)
            detected.extend(work.drifts)
        self._notify(detected, views, request.dry_run, result, now)

    def _fleets_in_scope(
        self, request: SyncRequest, inventories: dict[str, RegionInventory], known: Collection[str]
    ) -> set[str]:
        observed: set[str] = set()
        for inventory in inventories.values():
            observed |= inventory.fleets()
        if request.fleets is None:
            return observed | set(known)
        missing = [
            fleet for fleet in request.fleets if fleet not in observed and fleet not in known
        ]
        if missing:
            raise NotFoundError(
                "fleet(s) not found in any reachable region nor in the registry: "
                + ", ".join(missing)
            )
        return set(request.fleets)

    def _plan_region(
        self,
        inventory: RegionInventory,
        views: dict[str, FleetRegistryView],
        unregistered: set[str],
        known: Collection[str],
        now: float,
    ) -> _RegionWork:
        region = inventory.region
        work = _RegionWork()
        for fleet, view in sorted(views.items()):
            instances = inventory.fleet_instances(fleet)
            asgs = inventory.fleet_asgs(fleet)
            existing_instances = view.region_instances(region)
            existing_asgs = view.region_asgs(region)
            previous_status = view.region_status.get(region)
            if not (instances or asgs or existing_instances or existing_asgs or previous_status):
                continue
            ctx = PlanContext(fleet, region, now, self.config.tombstone_ttl_seconds)
            plan = plan_region(
                ctx,
                instances=instances,
                asgs=asgs,
                existing_instances=existing_instances,
                existing_asgs=existing_asgs,
            )
            work.changes.extend((ctx, change) for change in plan.changes)
            work.unchanged += plan.unchanged
            work.statuses[fleet] = RegionStatusRecord(
                fleet=fleet,
                region=region,
                status=OK,
                instance_count=sum(1 for instance in instances.values() if instance.alive),
                asg_count=len(asgs),
                synced_at=ctx.now_iso,
            )
            if fleet in unregistered and (instances or asgs):
                # A new fleet gets its META and index entries with the first region that sees it.
                unregistered.discard(fleet)
                if view.meta is None:
                    meta = FleetRecord(
                        fleet=fleet, tag_key=self.config.fleet_tag_key, first_seen=ctx.now_iso
                    )
                    work.new_fleet_items.append(meta.to_item())
                if fleet not in known:
                    index = FleetIndexRecord(fleet=fleet, first_seen=ctx.now_iso)
                    work.new_fleet_items.append(index.to_item())
            work.drifts.extend(
                detect_drifts(
                    fleet,
                    region,
                    instances=instances,
                    asgs=asgs,
                    az_imbalance_threshold=self.config.az_imbalance_threshold,
                )
            )
        return work

    def _report_plan(
        self, work: _RegionWork, region_result: RegionResult, result: SyncResult
    ) -> None:
        region_result.unchanged = work.unchanged
        for ctx, change in work.changes:
            self._count(region_result, change.action)
            result.add_change({**change.describe(), "fleet": ctx.fleet, "region": ctx.region})

    @staticmethod
    def _count(region_result: RegionResult, action: Action | None) -> None:
        if action is Action.CREATE:
            region_result.created += 1
        elif action is Action.UPDATE:
            region_result.updated += 1
        elif action is Action.TOMBSTONE:
            region_result.tombstoned += 1
        else:
            region_result.unchanged += 1

    @tracer.capture_method
    def _apply(
        self,
        region: str,
        work: _RegionWork,
        views: dict[str, FleetRegistryView],
        region_result: RegionResult,
        now: float,
    ) -> None:
        outcomes = self.writer.write_all(work.changes)
        region_result.unchanged = work.unchanged
        first_error: WriteOutcome | None = None
        for outcome in outcomes:
            region_result.conflicts += outcome.conflicts
            if outcome.error is not None:
                region_result.failed_writes += 1
                first_error = first_error or outcome
            else:
                self._count(region_result, outcome.applied)
        if first_error is not None:
            region_result.fail(
                message=f"{region_result.failed_writes} of {len(outcomes)} registry writes failed; "
                f"first: {first_error.error}",
                code=first_error.error_code,
            )

        puts = list(work.new_fleet_items)
        for fleet, observed_status in work.statuses.items():
            status = observed_status
            if not region_result.ok:
                status = _failed_status(observed_status, region_result, iso_utc(now))
            previous = views[fleet].region_status.get(region)
            if previous is None or not previous.same_status(status):
                puts.append(status.to_item())
        try:
            self.deps.table.batch_write(puts)
        except DEPENDENCY_ERRORS as exc:
            if region_result.ok:
                region_result.fail(exc)
        if not region_result.ok:
            logger.error(
                "region sync failed", extra={"region": region, "error": region_result.error}
            )

    def _record_failure(
        self,
        region: str,
        views: dict[str, FleetRegistryView],
        region_result: RegionResult,
        now: float,
    ) -> None:
        """Persist a failed region's status where the registry already tracks that fleet there."""
        puts = []
        for view in views.values():
            previous = view.region_status.get(region)
            if previous is None:
                continue
            status = _failed_status(previous, region_result, iso_utc(now))
            if not previous.same_status(status):
                puts.append(status.to_item())
        try:
            self.deps.table.batch_write(puts)
        except DEPENDENCY_ERRORS as exc:
            logger.warning(
                "could not record region failure", extra={"region": region, "error": str(exc)}
            )

    # -- phase 5 -----------------------------------------------------------------------------

    def _notify(
        self,
        drifts: list[Drift],
        views: dict[str, FleetRegistryView],
        dry_run: bool,
        result: SyncResult,
        now: float,
    ) -> None:
        window = self.config.drift_notify_window_seconds
        for drift in drifts:
            previous = views[drift.fleet].drifts.get(drift.key.sk)
            region_result = result.regions[drift.region]
            if not is_due(previous, now, window):
                status = AlertStatus.SUPPRESSED.value
            elif dry_run:
                status = "would_notify"
            else:
                outcome = self.alerter.notify(drift, previous, now)
                status = outcome.status.value
                if outcome.status is AlertStatus.NOTIFIED:
                    region_result.drifts_notified += 1
                elif outcome.status is AlertStatus.FAILED:
                    region_result.drifts_failed += 1
                    logger.warning(
                        "drift notification failed",
                        extra={**drift.describe(), "error": outcome.error},
                    )
            result.add_drift({**drift.describe(), "notification": status})


def _failed_status(
    status: RegionStatusRecord, region_result: RegionResult, now_iso: str
) -> RegionStatusRecord:
    return RegionStatusRecord(
        fleet=status.fleet,
        region=status.region,
        status=FAILED,
        error_code=region_result.error_code,
        error=region_result.error,
        instance_count=status.instance_count,
        asg_count=status.asg_count,
        synced_at=now_iso,
    )
