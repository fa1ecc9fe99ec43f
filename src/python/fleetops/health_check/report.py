"""The outcome of a run: the result dict the handler returns, and its EMF metrics.

    {
      "status": "ok" | "partial" | "failed",   # failed: every region's checks failed
      "trigger": "schedule" | "manual", "dry_run": false, "window_start": "...Z",
      "regions": {"us-east-1": {"status": "ok" | "degraded" | "failed", "error": null}},
      "fleets": {
        "<fleet>": {
          "breaker": {"state": "closed" | "open", "reason", "threshold", "unhealthy_share",
                      "unknown_share", "incident_id", "recovery", "notification", ...},
          "budget": {"window_start", "limit", "az_limits", "spent", "spent_this_run"},
          "regions": {"us-east-1": {<counts>}},
          "counts": {<counts>},
          "actions": [{"instance_id", "action", "outcome", "reason", ...}],
          "flapping": ["i-..."]
        }
      },
      "counts": {<counts over every fleet and region>},
      "duration_ms": 123
    }

Counts: checked (= healthy + impaired + unknown), healthy, impaired, unknown, rebooted,
replaced, would_reboot, would_replace, skipped_budget, skipped_breaker, action_failed,
flapping, not_checked (not running / gone from EC2), conflicts (lost a race with an overlapping
run, which handled the instance), write_failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fleetops.core.aws import error_summary
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import MetricUnit, emit_metrics, metrics

OK = "ok"
DEGRADED = "degraded"
FAILED = "failed"
PARTIAL = "partial"
LISTING_LIMIT = 200

COUNT_NAMES = (
    "checked",
    "healthy",
    "impaired",
    "unknown",
    "rebooted",
    "replaced",
    "would_reboot",
    "would_replace",
    "skipped_budget",
    "skipped_breaker",
    "action_failed",
    "flapping",
    "not_checked",
    "conflicts",
    "write_failed",
)

_METRIC_NAMES = {
    "checked": "InstancesChecked",
    "healthy": "InstancesHealthy",
    "impaired": "InstancesImpaired",
    "unknown": "InstancesUnknown",
    "rebooted": "InstancesRebooted",
    "replaced": "InstancesReplaced",
    "skipped_budget": "RemediationsSkippedBudget",
    "skipped_breaker": "RemediationsSkippedBreaker",
    "action_failed": "RemediationsFailed",
    "flapping": "InstancesFlapping",
    "write_failed": "RegistryWritesFailed",
}


def empty_counts() -> Counter[str]:
    return Counter(dict.fromkeys(COUNT_NAMES, 0))


@dataclass
class RegionStatus:
    region: str
    status: str = OK
    error: str | None = None

    def fail(self, exc: BaseException) -> None:
        self.status = FAILED
        self.error = error_summary(exc)

    def degrade(self, error: str | None) -> None:
        if self.status == OK:
            self.status = DEGRADED
            self.error = error

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error}


@dataclass
class FleetResult:
    fleet: str
    regions: dict[str, Counter[str]] = field(default_factory=dict)
    breaker: dict[str, Any] = field(default_factory=lambda: {"state": "closed"})
    budget: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    flapping: list[str] = field(default_factory=list)
    error: str | None = None

    def count(self, region: str, name: str, amount: int = 1) -> None:
        self.regions.setdefault(region, empty_counts())[name] += amount

    def add_action(self, action: dict[str, Any]) -> None:
        if len(self.actions) < LISTING_LIMIT:
            self.actions.append(action)

    def totals(self) -> Counter[str]:
        totals = empty_counts()
        for counts in self.regions.values():
            totals.update(counts)
        return totals

    @property
    def breaker_open(self) -> bool:
        return bool(self.breaker.get("state") == "open")

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "breaker": self.breaker,
            "budget": self.budget,
            "regions": {name: dict(counts) for name, counts in sorted(self.regions.items())},
            "counts": dict(self.totals()),
            "actions": self.actions,
            "flapping": sorted(self.flapping)[:LISTING_LIMIT],
        }
        if self.error:
            result["error"] = self.error
        return result


@dataclass
class HealthResult:
    trigger: str
    dry_run: bool
    window_start: str
    regions: dict[str, RegionStatus]
    fleets: dict[str, FleetResult] = field(default_factory=dict)
    duration_ms: int = 0

    @property
    def status(self) -> str:
        failed = sum(1 for region in self.regions.values() if region.status == FAILED)
        if failed and failed == len(self.regions):
            return FAILED
        if (
            failed
            or any(region.status != OK for region in self.regions.values())
            or any(fleet.error for fleet in self.fleets.values())
        ):
            return PARTIAL
        return OK

    def totals(self) -> Counter[str]:
        totals = empty_counts()
        for fleet in self.fleets.values():
            totals.update(fleet.totals())
        return totals

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "window_start": self.window_start,
            "regions": {name: region.as_dict() for name, region in self.regions.items()},
            "fleets": {name: fleet.as_dict() for name, fleet in sorted(self.fleets.items())},
            "counts": dict(self.totals()),
            "duration_ms": self.duration_ms,
        }


class HealthCheckFailedError(FleetOpsError):
    """Every region's checks failed: the invocation fails so alarms on Lambda errors fire
    (after the breaker has done its part: notification and recovery workflow)."""

    def __init__(self, result: HealthResult) -> None:
        self.result = result
        details = "; ".join(
            f"{name}: {region.error}" for name, region in sorted(result.regions.items())
        )
        super().__init__(f"health checks failed in every region: {details}")


def emit_result_metrics(result: HealthResult) -> None:
    """EMF: per region `RegionCheckOk`; per fleet and region the counts; per fleet the breaker;
    for the invocation (flushed by the handler decorator) `RunOk` and `RunDuration`."""
    metrics.add_metric(name="RunOk", unit=MetricUnit.Count, value=1 if result.status == OK else 0)
    metrics.add_metric(
        name="RunDuration", unit=MetricUnit.Milliseconds, value=float(result.duration_ms)
    )
    dry_run = str(result.dry_run).lower()
    for name, region in result.regions.items():
        emit_metrics(
            {"RegionCheckOk": 1 if region.status == OK else 0},
            dimensions={"Region": name, "DryRun": dry_run},
        )
    for fleet_name, fleet in result.fleets.items():
        for region_name, counts in fleet.regions.items():
            emit_metrics(
                {metric: counts[count] for count, metric in _METRIC_NAMES.items()},
                dimensions={"Fleet": fleet_name, "Region": region_name, "DryRun": dry_run},
            )
        emit_metrics(
            {"BreakerOpen": 1 if fleet.breaker_open else 0},
            dimensions={"Fleet": fleet_name, "DryRun": dry_run},
        )
        share = fleet.breaker.get("unhealthy_share")
        if share is not None:
            emit_metrics(
                {"UnhealthyShare": float(share) * 100},
                dimensions={"Fleet": fleet_name, "DryRun": dry_run},
                unit=MetricUnit.Percent,
            )
