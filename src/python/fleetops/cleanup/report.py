"""What a cleanup run did, for the handler's result, the logs, SNS and metrics.

Actions (each listed with type, region, id and reason; the first `LISTING_LIMIT` of them):
`marked`, `unmarked` (no longer an orphan, mark removed), `deleted`, `pending` (marked, grace
period not over), `skipped` (kept on purpose: referenced, cap reached, changed since marked,
already gone, ...), `failed` (an AWS error); in a dry run `would_mark`, `would_unmark`,
`would_delete`. Counted but not listed: `in_use`, `retained` (younger than the retention).

Counts are per region and resource type, plus tombstones and backups; the run's status is
`ok`, `partial` (some region or part failed) or `failed` (every region failed).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fleetops.core.aws import error_code, error_summary
from fleetops.core.errors import FleetOpsError
from fleetops.core.notify import Notification
from fleetops.core.observability import emit_metrics

OK = "ok"
PARTIAL = "partial"
FAILED = "failed"
LISTING_LIMIT = 200
NOTIFY_LISTING_LIMIT = 100
"""SNS messages are limited to 256 KB: the notification lists fewer actions than the result."""

MARKED, UNMARKED, DELETED, PENDING, SKIPPED, FAILED_ACTION = (
    "marked",
    "unmarked",
    "deleted",
    "pending",
    "skipped",
    "failed",
)
IN_USE, RETAINED = "in_use", "retained"
DRY = {MARKED: "would_mark", UNMARKED: "would_unmark", DELETED: "would_delete"}


class DeletionBudget:
    """The per-run deletion cap, shared by every region and by backups (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.refused = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.used >= self.limit:
                self.refused += 1
                return False
            self.used += 1
            return True

    def give_back(self) -> None:
        """Return a unit taken for a delete that then did not happen (error, already gone)."""
        with self._lock:
            self.used = max(0, self.used - 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_deletions": self.limit,
            "used": self.used,
            "reached": self.refused > 0,
            "refused": self.refused,
        }


@dataclass
class PartResult:
    """One region, or the tombstone part, or the backup part."""

    name: str
    status: str = OK
    error: str | None = None
    error_code: str | None = None
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def fail(self, exc: BaseException) -> None:
        self.status = FAILED
        self.error = error_summary(exc)
        self.error_code = error_code(exc)

    def count(self, kind: str, action: str) -> None:
        self.counts.setdefault(kind, Counter())[action] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "counts": {kind: dict(sorted(c.items())) for kind, c in sorted(self.counts.items())},
        }


@dataclass
class CleanupReport:
    trigger: str
    dry_run: bool
    run_at: str
    budget: DeletionBudget
    regions: dict[str, PartResult] = field(default_factory=dict)
    tombstones: PartResult = field(default_factory=lambda: PartResult("tombstones"))
    backups: PartResult = field(default_factory=lambda: PartResult("backups"))
    actions: list[dict[str, Any]] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)
    duration_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, part: PartResult, kind: str, action: str, **details: Any) -> None:
        """Count an action (dry-run names applied) and list it with its details."""
        if self.dry_run:
            action = DRY.get(action, action)
        with self._lock:
            part.count(kind, action)
            self.totals[action] += 1
            if len(self.actions) < LISTING_LIMIT:
                self.actions.append({"action": action, "type": kind, **details})

    def count(self, part: PartResult, kind: str, action: str) -> None:
        """Count an action without listing it (`in_use`, `retained`)."""
        with self._lock:
            part.count(kind, action)
            self.totals[action] += 1

    @property
    def status(self) -> str:
        regions = list(self.regions.values())
        if regions and all(region.status == FAILED for region in regions):
            return FAILED
        parts = [*regions, self.tombstones, self.backups]
        return PARTIAL if any(part.status == FAILED for part in parts) else OK

    def as_dict(self, *, listing_limit: int = LISTING_LIMIT) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "run_at": self.run_at,
            "totals": dict(sorted(self.totals.items())),
            "cap": self.budget.as_dict(),
            "regions": {name: part.as_dict() for name, part in self.regions.items()},
            "tombstones": self.tombstones.as_dict(),
            "backups": self.backups.as_dict(),
            "actions": self.actions[:listing_limit],
            "actions_listed": min(len(self.actions), listing_limit),
            "actions_total": sum(self.totals.values())
            - self.totals[IN_USE]
            - self.totals[RETAINED],
            "duration_ms": self.duration_ms,
        }

    def notification(self) -> Notification:
        totals = self.totals
        prefix = "[dry run] " if self.dry_run else ""
        deleted = totals["would_delete" if self.dry_run else DELETED]
        marked = totals["would_mark" if self.dry_run else MARKED]
        unmarked = totals["would_unmark" if self.dry_run else UNMARKED]
        summary = (
            f"{prefix}{'would delete' if self.dry_run else 'deleted'} {deleted}, "
            f"{'would mark' if self.dry_run else 'marked'} {marked}, "
            f"{'would unmark' if self.dry_run else 'unmarked'} {unmarked}, "
            f"pending {totals[PENDING]}, skipped {totals[SKIPPED]}, failed {totals[FAILED_ACTION]}"
        )
        failed_parts = [
            part.name
            for part in [*self.regions.values(), self.tombstones, self.backups]
            if part.status == FAILED
        ]
        if failed_parts:
            summary += f"; failed: {', '.join(failed_parts)}"
        if self.budget.refused:
            summary += f"; deletion cap of {self.budget.limit} reached"
        severity = "warning" if failed_parts or totals[FAILED_ACTION] else "info"
        return Notification(
            kind="cleanup.report",
            title=f"{prefix}Cleanup {self.status}: {deleted} deleted, {marked} marked",
            summary=summary,
            details=self.as_dict(listing_limit=NOTIFY_LISTING_LIMIT),
            severity=severity,
        )


class CleanupFailedError(FleetOpsError):
    """Every region failed: the invocation fails so alarms on Lambda errors fire."""

    def __init__(self, report: CleanupReport) -> None:
        self.report = report
        details = "; ".join(
            f"{name}: {region.error}" for name, region in sorted(report.regions.items())
        )
        super().__init__(f"cleanup failed in every region: {details}")


def emit_report_metrics(report: CleanupReport) -> None:
    dry = str(report.dry_run).lower()
    for name, region in report.regions.items():
        values: dict[str, float] = {"CleanupRegionOk": 1 if region.status == OK else 0}
        for counter in region.counts.values():
            for action, count in counter.items():
                key = "Cleanup" + "".join(part.title() for part in action.split("_"))
                values[key] = values.get(key, 0) + count
        emit_metrics(values, dimensions={"Region": name, "DryRun": dry})
    for part in (report.tombstones, report.backups):
        values = {f"Cleanup{part.name.title()}Ok": 1 if part.status == OK else 0}
        for counter in part.counts.values():
            for action, count in counter.items():
                key = f"Cleanup{part.name.title()}" + "".join(p.title() for p in action.split("_"))
                values[key] = values.get(key, 0) + count
        emit_metrics(values, dimensions={"DryRun": dry})
