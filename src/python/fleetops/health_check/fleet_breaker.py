"""The fleet breaker: a broad outage stops remediation and starts the recovery workflow.

Rebooting and replacing instances one by one is right when a few are sick; when a large share
of a fleet looks sick at once (an AZ or dependency outage, a bad deployment) or cannot be
checked at all (EC2 or the load balancers not answering), replacing them would kill the fleet.
So, per fleet and run: when (impaired + unknown) / checked > BREAKER_UNHEALTHY_SHARE and at
least BREAKER_MIN_INSTANCES are impaired or unknown, the breaker is open:

1. nothing is remediated in this run (health fields are still recorded);
2. `states:StartExecution` of the recovery workflow, named `hc-<fleet>-<window-start-epoch>`, so
   every run in the same window asks for the same execution and at most one is ever started:
   Step Functions answers a repeat with the same name and input with the running execution
   (reported `started`), and with `ExecutionAlreadyExists` otherwise (`already_started`);
3. one SNS notification per fleet and window: the breaker-trip item `FLEET#<fleet>` /
   `BREAKER#<window-start>` is claimed conditionally (`attribute_not_exists(notified_at)`),
   only the winner publishes, and a failed publish releases the claim for the next run.

A dry run reports what it would do and calls neither Step Functions nor SNS.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetops.core.aws import AwsClients, ClientError, error_code, error_summary
from fleetops.core.errors import ConflictError
from fleetops.core.notify import Notification, Notifier
from fleetops.core.observability import logger
from fleetops.core.registry import Condition, RegistryTable
from fleetops.health_check.checks import AWS_ERRORS
from fleetops.health_check.config import HealthCheckConfig
from fleetops.health_check.records import BreakerTrip, Health, execution_name, iso_key_time

SOURCE = "health-check"
ALREADY_EXISTS = "ExecutionAlreadyExists"
NO_AZ = "unknown-az"


@dataclass
class FleetTally:
    """Checked instances of one fleet in this run, by verdict, AZ and region."""

    total: int = 0
    impaired: int = 0
    unknown: int = 0
    regions: set[str] = field(default_factory=set)
    by_az: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, region: str, az: str | None, health: Health) -> None:
        self.total += 1
        self.regions.add(region)
        counts = self.by_az.setdefault(az or NO_AZ, Counter())
        counts["instances"] += 1
        if health is Health.IMPAIRED:
            self.impaired += 1
            counts["impaired"] += 1
        elif health is Health.UNKNOWN:
            self.unknown += 1
            counts["unknown"] += 1

    @property
    def unhealthy_share(self) -> float:
        return round(self.impaired / self.total, 4) if self.total else 0.0

    @property
    def unknown_share(self) -> float:
        return round(self.unknown / self.total, 4) if self.total else 0.0

    @property
    def at_risk_share(self) -> float:
        return round((self.impaired + self.unknown) / self.total, 4) if self.total else 0.0

    def az_summary(self) -> dict[str, dict[str, int]]:
        return {
            az: {name: counts[name] for name in ("instances", "impaired", "unknown")}
            for az, counts in sorted(self.by_az.items())
        }


@dataclass(frozen=True)
class BreakerVerdict:
    open: bool
    reason: str | None
    threshold: float


def evaluate(tally: FleetTally, *, threshold: float, min_instances: int) -> BreakerVerdict:
    at_risk = tally.impaired + tally.unknown
    if tally.total == 0 or at_risk < min_instances or tally.at_risk_share <= threshold:
        return BreakerVerdict(False, None, threshold)
    reason = (
        f"{tally.impaired} impaired and {tally.unknown} unknown of {tally.total} instances "
        f"({tally.at_risk_share:.0%} > {threshold:.0%})"
    )
    return BreakerVerdict(True, reason, threshold)


def recovery_input(incident_id: str, fleet: str, tally: FleetTally) -> dict[str, Any]:
    """The recovery workflow's input (contract with the workflows package)."""
    return {
        "incident_id": incident_id,
        "fleet": fleet,
        "source": SOURCE,
        "regions": sorted(tally.regions),
        "unhealthy_share": tally.unhealthy_share,
        "by_az": tally.az_summary(),
    }


@dataclass
class TripOutcome:
    incident_id: str
    recovery: str
    """started | already_started | failed | would_start"""
    execution_arn: str | None = None
    notification: str = "none"
    """notified | suppressed | failed | would_notify"""
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        described = {
            "incident_id": self.incident_id,
            "recovery": self.recovery,
            "execution_arn": self.execution_arn,
            "notification": self.notification,
        }
        if self.error:
            described["error"] = self.error
        return described


class RecoveryTrigger:
    def __init__(
        self,
        config: HealthCheckConfig,
        clients: AwsClients,
        table: RegistryTable,
        notifier: Notifier,
    ) -> None:
        self.config = config
        self.clients = clients
        self.table = table
        self.notifier = notifier

    def trip(
        self,
        fleet: str,
        tally: FleetTally,
        verdict: BreakerVerdict,
        *,
        window_start: int,
        now: float,
        dry_run: bool,
    ) -> TripOutcome:
        incident_id = execution_name(fleet, window_start)
        if dry_run:
            return TripOutcome(incident_id, "would_start", notification="would_notify")
        outcome = self._start(incident_id, fleet, tally)
        incident = BreakerTrip(
            fleet=fleet,
            incident_id=incident_id,
            window_start=window_start,
            opened_at=int(now),
            regions=tuple(sorted(tally.regions)),
            unhealthy_share=tally.unhealthy_share,
            unknown_share=tally.unknown_share,
            by_az=tally.az_summary(),
            execution_arn=outcome.execution_arn,
            recovery=outcome.recovery,
            expires_at=int(now) + self.config.action_ttl_seconds,
        )
        outcome.notification = self._notify(incident, tally, verdict, outcome, now)
        return outcome

    def _start(self, incident_id: str, fleet: str, tally: FleetTally) -> TripOutcome:
        arn = self.config.recovery_state_machine_arn
        try:
            response = self.clients.call(
                "stepfunctions",
                self.config.recovery_region,
                "start_execution",
                stateMachineArn=arn,
                name=incident_id,
                input=json.dumps(recovery_input(incident_id, fleet, tally), sort_keys=True),
            )
        except ClientError as exc:
            if error_code(exc) == ALREADY_EXISTS:
                execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{incident_id}"
                return TripOutcome(incident_id, "already_started", execution_arn)
            return self._failed(incident_id, fleet, exc)
        except AWS_ERRORS as exc:
            return self._failed(incident_id, fleet, exc)
        logger.warning(
            "recovery workflow started",
            extra={"fleet": fleet, "incident_id": incident_id, "arn": response["executionArn"]},
        )
        return TripOutcome(incident_id, "started", str(response["executionArn"]))

    @staticmethod
    def _failed(incident_id: str, fleet: str, exc: BaseException) -> TripOutcome:
        logger.error(
            "could not start the recovery workflow",
            extra={"fleet": fleet, "incident_id": incident_id, "error": error_summary(exc)},
        )
        return TripOutcome(incident_id, "failed", error=error_summary(exc))

    def _notify(
        self,
        incident: BreakerTrip,
        tally: FleetTally,
        verdict: BreakerVerdict,
        outcome: TripOutcome,
        now: float,
    ) -> str:
        notified_at = int(now)
        try:
            self.table.update(
                incident.key,
                set_attrs={**incident.attributes(), "notified_at": notified_at},
                condition=Condition.attribute_not_exists("notified_at"),
            )
        except ConflictError:
            return "suppressed"
        except AWS_ERRORS as exc:
            outcome.error = outcome.error or error_summary(exc)
            return "failed"
        notification = Notification(
            kind="health.breaker_open",
            severity="critical",
            title=f"fleet {incident.fleet}: health-check breaker open, recovery {outcome.recovery}",
            summary=(
                f"{verdict.reason}; remediation stopped for fleet {incident.fleet}; "
                f"recovery workflow {incident.incident_id}: {outcome.recovery}"
            ),
            details={
                "incident_id": incident.incident_id,
                "fleet": incident.fleet,
                "regions": list(incident.regions),
                "unhealthy_share": tally.unhealthy_share,
                "unknown_share": tally.unknown_share,
                "threshold": verdict.threshold,
                "by_az": tally.az_summary(),
                "recovery": outcome.recovery,
                "execution_arn": outcome.execution_arn,
                "window_start": iso_key_time(incident.window_start),
            },
        )
        try:
            self.notifier.publish(notification)
        except AWS_ERRORS as exc:
            outcome.error = outcome.error or error_summary(exc)
            self._release(incident, notified_at)
            return "failed"
        return "notified"

    def _release(self, incident: BreakerTrip, notified_at: int) -> None:
        try:
            self.table.update(
                incident.key,
                set_attrs={"notified_at": None},
                condition=Condition.equals("notified_at", notified_at),
            )
        except AWS_ERRORS as exc:
            logger.warning(
                "could not release incident claim",
                extra={"incident_id": incident.incident_id, "error": str(exc)},
            )


def flapping_notification(fleet: str, instances: Iterable[Mapping[str, Any]]) -> Notification:
    listed = list(instances)
    return Notification(
        kind="health.flapping",
        severity="warning",
        title=f"fleet {fleet}: {len(listed)} instance(s) flapping",
        summary=(
            f"{len(listed)} instance(s) of fleet {fleet} keep switching between healthy and "
            "impaired; they are reported, not remediated"
        ),
        details={"fleet": fleet, "instances": listed},
    )
