"""One cleanup run: lease, fleet resources per region, tombstones, backups, report.

1. Unless dry run, take the run lease (a concurrent run stops with `status: skipped`).
2. Fleet resources, every region in parallel and in isolation: a region that cannot be read is
   `failed` in the report and nothing of it is touched; the others go on. One deletion budget
   (`CLEANUP_MAX_DELETIONS`) is shared by all regions and then by backups.
3. Registry tombstones past retention (capped by `TOMBSTONE_MAX_DELETIONS`).
4. Backups past retention (never the latest verified).
5. Report: returned, logged (one structured line), published on SNS (`cleanup.report`), EMF
   metrics; the lease is released. Only a run in which every region failed raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fleetops.backup.index import BackupIndex
from fleetops.backup.s3store import BackupBucket
from fleetops.cleanup.backups import sweep_backups
from fleetops.cleanup.config import CleanupConfig
from fleetops.cleanup.lease import RunLease
from fleetops.cleanup.report import (
    CleanupFailedError,
    CleanupReport,
    DeletionBudget,
    PartResult,
    emit_report_metrics,
)
from fleetops.cleanup.request import CleanupRequest
from fleetops.cleanup.sweep import RegionSweeper, SweepSettings
from fleetops.cleanup.tombstones import sweep_tombstones
from fleetops.core.aws import AwsClients, error_summary
from fleetops.core.clock import Clock, iso_utc, system_clock
from fleetops.core.concurrency import map_concurrently
from fleetops.core.errors import FleetOpsError
from fleetops.core.notify import Notifier
from fleetops.core.observability import logger, tracer
from fleetops.core.registry import RegistryTable

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)


@dataclass
class CleanupDeps:
    config: CleanupConfig
    clients: AwsClients
    clock: Clock = system_clock
    table: RegistryTable = field(init=False)
    bucket: BackupBucket = field(init=False)
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.table = RegistryTable.from_clients(self.clients, self.config)
        self.bucket = BackupBucket.from_clients(self.clients, self.config)
        self.notifier = Notifier.from_clients(
            self.clients, self.config, source="cleanup", clock=self.clock
        )


@dataclass(frozen=True)
class Skipped:
    """The run did nothing because another one holds the lease."""

    holder: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "skipped",
            "reason": "another cleanup run holds the lease",
            "holder": {k: self.holder.get(k) for k in ("owner", "acquired_at", "lease_expires_at")},
        }


def run_cleanup(
    request: CleanupRequest, deps: CleanupDeps, *, owner: str, lease_seconds: float | None = None
) -> CleanupReport | Skipped:
    lease = RunLease(deps.table)
    if not request.dry_run:
        held = lease.acquire(
            owner,
            now=deps.clock(),
            seconds=lease_seconds or deps.config.cleanup_lease_seconds,
        )
        if held is not None:
            logger.warning("cleanup skipped: lease held", extra={"holder": held.get("owner")})
            return Skipped(held)
    try:
        return Cleanup(deps).run(request)
    finally:
        if not request.dry_run:
            try:
                lease.release(owner)
            except AWS_ERRORS as exc:
                logger.warning(
                    "could not release cleanup lease", extra={"error": error_summary(exc)}
                )


class Cleanup:
    def __init__(self, deps: CleanupDeps) -> None:
        self.deps = deps
        self.config = deps.config

    @tracer.capture_method
    def run(self, request: CleanupRequest) -> CleanupReport:
        started = time.monotonic()
        now = self.deps.clock()
        budget = DeletionBudget(self.config.cleanup_max_deletions)
        report = CleanupReport(
            trigger=request.trigger,
            dry_run=request.dry_run,
            run_at=iso_utc(now),
            budget=budget,
            regions={region: PartResult(region) for region in request.regions},
        )
        settings = SweepSettings(
            tag_key=self.config.fleet_tag_key,
            now=now,
            retention_seconds=self.config.retention_seconds,
            grace_seconds=self.config.grace_seconds,
            dry_run=request.dry_run,
        )

        def sweep_region(region: str) -> None:
            part = report.regions[region]
            try:
                RegionSweeper(
                    self.deps.clients,
                    region,
                    settings=settings,
                    report=report,
                    part=part,
                    budget=budget,
                ).run()
            except AWS_ERRORS as exc:
                part.fail(exc)
                logger.error("region cleanup failed", extra={"region": region, "error": part.error})

        map_concurrently(sweep_region, request.regions, max_workers=len(request.regions))

        try:
            sweep_tombstones(
                self.deps.table,
                regions=request.regions,
                now=now,
                retention_seconds=self.config.tombstone_retention_seconds,
                limit=self.config.tombstone_max_deletions,
                dry_run=request.dry_run,
                report=report,
                part=report.tombstones,
            )
        except AWS_ERRORS as exc:
            report.tombstones.fail(exc)
            logger.error("tombstone cleanup failed", extra={"error": report.tombstones.error})

        try:
            sweep_backups(
                self.deps.bucket,
                BackupIndex(self.deps.table),
                now=now,
                retention_seconds=self.config.backup_retention_seconds,
                budget=budget,
                dry_run=request.dry_run,
                report=report,
                part=report.backups,
            )
        except AWS_ERRORS as exc:
            report.backups.fail(exc)
            logger.error("backup cleanup failed", extra={"error": report.backups.error})

        report.duration_ms = int((time.monotonic() - started) * 1000)
        self._publish(report)
        if report.status == "failed":
            raise CleanupFailedError(report)
        return report

    def _publish(self, report: CleanupReport) -> None:
        logger.info("cleanup report", extra={"report": report.as_dict()})
        emit_report_metrics(report)
        try:
            self.deps.notifier.publish(report.notification())
        except AWS_ERRORS as exc:
            logger.warning(
                "cleanup report notification failed", extra={"error": error_summary(exc)}
            )
