"""One SNS notification per new drift, never repeated within the window.

Claim, then publish: the drift record is first updated conditionally ("not notified since
`now - window`"), so two overlapping runs cannot both announce the same drift; only the
winner publishes. If publishing fails, the claim is rolled back so the next run tries again
(a late notification beats a lost one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fleetops.core.aws import DEPENDENCY_ERRORS, error_summary
from fleetops.core.errors import ConflictError
from fleetops.core.notify import Notifier
from fleetops.core.observability import logger
from fleetops.core.registry import Condition, DriftRecord, Entity, RegistryTable
from fleetops.fleet_sync.drift import Drift


class AlertStatus(StrEnum):
    NOTIFIED = "notified"
    SUPPRESSED = "suppressed"
    FAILED = "failed"


@dataclass(frozen=True)
class AlertOutcome:
    status: AlertStatus
    error: str | None = None


class DriftAlerter:
    def __init__(self, table: RegistryTable, notifier: Notifier, *, window_seconds: int) -> None:
        self.table = table
        self.notifier = notifier
        self.window_seconds = window_seconds

    def notify(self, drift: Drift, previous: DriftRecord | None, now: float) -> AlertOutcome:
        """Claim the drift for this window and publish it."""
        notified_at = int(now)
        record = DriftRecord(
            fleet=drift.fleet,
            kind=drift.kind.value,
            subject=drift.subject,
            region=drift.region,
            summary=drift.summary,
            last_notified_at=notified_at,
            expires_at=notified_at + self.window_seconds,
        )
        claim = Condition.attribute_not_exists("last_notified_at") | Condition.compare(
            "last_notified_at", "<=", notified_at - self.window_seconds
        )
        owned = {
            name: value for name, value in record.to_item().items() if name not in ("pk", "sk")
        }
        try:
            self.table.update(drift.key, set_attrs=owned, condition=claim)
        except ConflictError:
            return AlertOutcome(AlertStatus.SUPPRESSED)
        except DEPENDENCY_ERRORS as exc:
            return AlertOutcome(AlertStatus.FAILED, error_summary(exc))

        try:
            self.notifier.publish(drift.notification())
        except DEPENDENCY_ERRORS as exc:
            self._release(drift, previous, notified_at)
            return AlertOutcome(AlertStatus.FAILED, error_summary(exc))
        logger.info("drift notified", extra=drift.describe())
        return AlertOutcome(AlertStatus.NOTIFIED)

    def _release(self, drift: Drift, previous: DriftRecord | None, notified_at: int) -> None:
        """Undo our claim so the drift is due again; best effort (the claim expires anyway)."""
        restore = {
            "entity": Entity.DRIFT,
            "last_notified_at": previous.last_notified_at if previous else 0,
            "expires_at": previous.expires_at if previous else notified_at + self.window_seconds,
        }
        try:
            self.table.update(
                drift.key,
                set_attrs=restore,
                condition=Condition.equals("last_notified_at", notified_at),
            )
        except DEPENDENCY_ERRORS as exc:
            logger.warning(
                "could not release drift claim",
                extra={**drift.describe(), "error": error_summary(exc)},
            )
