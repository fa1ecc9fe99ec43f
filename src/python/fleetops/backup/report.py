"""The outcome of a backup or restore run: the dict the handler returns, and its EMF metrics.

Backup statuses: `verified` (complete, read back, marked good), `partial` (the registry is
verified but some region's configuration is missing: not marked good), `failed` (the invocation
fails), `already_done` / `in_progress` (a redelivered or concurrent invocation that had nothing
to do), `dry_run` / `dry_run_partial`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetops.backup.manifest import Manifest, RegionEntry
from fleetops.backup.s3store import StoredObject
from fleetops.backup.verify import VerifyReport
from fleetops.core.observability import MetricUnit, emit_metrics

GOOD_STATUSES = frozenset({"verified", "already_done", "in_progress", "dry_run"})


@dataclass
class BackupResult:
    backup_id: str
    trigger: str
    dry_run: bool
    status: str = "running"
    note: str | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    regions: dict[str, RegionEntry] = field(default_factory=dict)
    excluded_items: int = 0
    resumed: bool = False
    duration_ms: int = 0

    def add_object(self, name: str, stored: StoredObject, items: int) -> None:
        self.objects[name] = {
            "key": stored.key,
            "items": items,
            "bytes": stored.bytes,
            "sha256": stored.sha256,
        }

    def adopt(self, manifest: Manifest, report: VerifyReport) -> None:
        """Take counts from the manifest (also when resuming an earlier attempt's backup)."""
        for entry in manifest.objects:
            check = report.objects.get(entry.name)
            self.objects[entry.name] = {
                "key": entry.key,
                "items": entry.items,
                "bytes": entry.bytes,
                "sha256": entry.sha256,
                "verified": bool(check and check.ok),
            }
        self.regions = dict(manifest.regions)

    @property
    def items(self) -> int:
        return int(self.objects.get("registry", {}).get("items", 0))

    @property
    def bytes(self) -> int:
        return sum(int(entry.get("bytes", 0)) for entry in self.objects.values())

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "status": self.status,
            "backup_id": self.backup_id,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "items": self.items,
            "bytes": self.bytes,
            "objects": self.objects,
            "regions": {
                name: region.model_dump(mode="json") for name, region in self.regions.items()
            },
            "excluded_items": self.excluded_items,
            "duration_ms": self.duration_ms,
        }
        if self.resumed:
            result["resumed"] = True
        if self.note:
            result["note"] = self.note
        if self.error:
            result["error"] = self.error
        if self.problems:
            result["problems"] = self.problems
        return result


def emit_backup_metrics(result: BackupResult) -> None:
    """BackupSucceeded (1/0), items and bytes written, duration."""
    if result.status in ("already_done", "in_progress"):
        return
    dimensions = {"Function": "backup", "DryRun": str(result.dry_run).lower()}
    emit_metrics(
        {
            "BackupSucceeded": 1 if result.status in GOOD_STATUSES else 0,
            "BackupItems": result.items,
            "BackupFailedRegions": sum(1 for r in result.regions.values() if r.status != "ok"),
        },
        dimensions=dimensions,
    )
    emit_metrics({"BackupBytes": result.bytes}, dimensions=dimensions, unit=MetricUnit.Bytes)
    emit_metrics(
        {"BackupDuration": result.duration_ms}, dimensions=dimensions, unit=MetricUnit.Milliseconds
    )
