"""Conditional writes of planned changes, with re-planning when another writer got there first.

Each change is one UpdateItem of fleet-sync's own attributes, conditional on `sync_version`
(see `RegistryTable.update_owned`). Health-check and scaling write other attributes and other
counters, so their updates neither block nor get overwritten by these. When the condition
fails (an overlapping fleet-sync run wrote the item), the item returned with the failure is
re-planned against the same observation: nothing left to do, or a fresh attempt on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetops.core.aws import DEPENDENCY_ERRORS, error_code, error_summary
from fleetops.core.errors import ConflictError
from fleetops.core.registry import RegistryTable
from fleetops.fleet_sync.diff import Action, Change, PlanContext, replan

SYNC_COUNTER = "sync_version"


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """`applied` is the action finally written; None when nothing was (error or no-op)."""

    applied: Action | None
    conflicts: int = 0
    error: str | None = None
    error_code: str | None = None


class ChangeWriter:
    def __init__(self, table: RegistryTable, *, max_conflicts: int = 3) -> None:
        self.table = table
        self.max_conflicts = max_conflicts

    def write(self, ctx: PlanContext, change: Change) -> WriteOutcome:
        current: Change | None = change
        conflicts = 0
        while current is not None:
            try:
                self.table.update_owned(
                    current.key,
                    owned=current.attributes,
                    counter=SYNC_COUNTER,
                    expected=current.expected_version,
                )
                return WriteOutcome(current.action, conflicts)
            except ConflictError as exc:
                conflicts += 1
                if conflicts > self.max_conflicts:
                    return WriteOutcome(None, conflicts, error_summary(exc), "ConflictError")
                current = replan(ctx, current, exc.current)
            except DEPENDENCY_ERRORS as exc:
                return WriteOutcome(None, conflicts, error_summary(exc), error_code(exc))
        return WriteOutcome(None, conflicts)
