"""The outcome of a run: the result dict the handler returns, and its EMF metrics.

Per region: `status` (`ok`/`failed`) with the error, record counts (created, updated,
tombstoned, unchanged, failed), drifts found/notified. The run is `ok`, `partial` (some regions
failed) or `failed` (every region failed: the only case in which the invocation fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetops.core.aws import error_code, error_summary
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import emit_metrics

OK = "ok"
FAILED = "failed"
PARTIAL = "partial"
LISTING_LIMIT = 200
"""At most this many changes / drifts are listed in a result (counts are always complete)."""


@dataclass
class RegionResult:
    region: str
    status: str = OK
    error: str | None = None
    error_code: str | None = None
    fleets: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    tombstoned: int = 0
    unchanged: int = 0
    failed_writes: int = 0
    conflicts: int = 0
    drifts_found: int = 0
    drifts_notified: int = 0
    drifts_failed: int = 0
    pages: dict[str, int] = field(default_factory=dict)

    def fail(
        self,
        exc: BaseException | None = None,
        *,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        self.status = FAILED
        self.error = message or (error_summary(exc) if exc is not None else None)
        self.error_code = code or (error_code(exc) if exc is not None else None)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "tombstoned": self.tombstoned,
            "unchanged": self.unchanged,
            "failed": self.failed_writes,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "fleets": self.fleets,
            "counts": self.counts(),
            "conflicts_resolved": self.conflicts,
            "drifts": {
                "found": self.drifts_found,
                "notified": self.drifts_notified,
                "failed": self.drifts_failed,
            },
            "pages": self.pages,
        }


@dataclass
class SyncResult:
    trigger: str
    dry_run: bool
    regions: dict[str, RegionResult]
    fleets: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    change_count: int = 0
    drifts: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: int = 0

    @property
    def status(self) -> str:
        failed = sum(1 for region in self.regions.values() if not region.ok)
        if failed == 0:
            return OK
        return FAILED if failed == len(self.regions) else PARTIAL

    def add_change(self, change: dict[str, Any]) -> None:
        self.change_count += 1
        if len(self.changes) < LISTING_LIMIT:
            self.changes.append(change)

    def add_drift(self, drift: dict[str, Any]) -> None:
        if len(self.drifts) < LISTING_LIMIT:
            self.drifts.append(drift)

    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(("created", "updated", "tombstoned", "unchanged", "failed"), 0)
        for region in self.regions.values():
            for name, value in region.counts().items():
                totals[name] += value
        return totals

    def as_dict(self) -> dict[str, Any]:
        regions = self.regions.values()
        result: dict[str, Any] = {
            "status": self.status,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "fleets": self.fleets,
            "regions": {name: region.as_dict() for name, region in self.regions.items()},
            "counts": self.totals(),
            "drifts": {
                "found": sum(region.drifts_found for region in regions),
                "notified": sum(region.drifts_notified for region in regions),
                "failed": sum(region.drifts_failed for region in regions),
                "items": self.drifts,
            },
            "duration_ms": self.duration_ms,
        }
        if self.dry_run:
            result["changes"] = {"count": self.change_count, "items": self.changes}
        return result


class SyncFailedError(FleetOpsError):
    """Every region failed: the invocation fails so alarms on Lambda errors fire."""

    def __init__(self, result: SyncResult) -> None:
        self.result = result
        details = "; ".join(
            f"{name}: {region.error}" for name, region in sorted(result.regions.items())
        )
        super().__init__(f"fleet sync failed in every region: {details}")


def emit_result_metrics(result: SyncResult) -> None:
    """One EMF document per region (dimension `Region`): SyncStatus (1 ok, 0 failed) and counts."""
    for name, region in result.regions.items():
        values: dict[str, float] = {
            "SyncStatus": 1 if region.ok else 0,
            "RecordsCreated": region.created,
            "RecordsUpdated": region.updated,
            "RecordsTombstoned": region.tombstoned,
            "RecordsUnchanged": region.unchanged,
            "WritesFailed": region.failed_writes,
            "DriftsFound": region.drifts_found,
            "DriftsNotified": region.drifts_notified,
        }
        emit_metrics(values, dimensions={"Region": name, "DryRun": str(result.dry_run).lower()})
