"""Conditional writes of planned changes, with re-planning when another writer got there first.

Each change is an update of fleet-sync's own attributes, conditional on `sync_version` (see
`RegistryTable.update_owned`); changes go out up to 100 per TransactWriteItems
(`update_owned_batch`), so a first sync of 10,000 instances is 100 requests, not 10,000, and
the client CPU per change drops about tenfold. Health-check and scaling write other attributes
and other counters, so their updates neither block nor get overwritten by these. When a
condition fails (an overlapping fleet-sync run wrote the item), the item returned with the
failure is re-planned against the same observation: nothing left to do, or a fresh attempt on
top of it in the next transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetops.core.aws import DEPENDENCY_ERRORS, error_code, error_summary
from fleetops.core.concurrency import map_concurrently
from fleetops.core.registry import TRANSACTION_LIMIT, OwnedUpdate, RegistryTable
from fleetops.fleet_sync.diff import Action, Change, PlanContext, replan

SYNC_COUNTER = "sync_version"

PlannedChange = tuple[PlanContext, Change]


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """`applied` is the action finally written; None when nothing was (error or no-op)."""

    applied: Action | None
    conflicts: int = 0
    error: str | None = None
    error_code: str | None = None


class ChangeWriter:
    def __init__(
        self,
        table: RegistryTable,
        *,
        max_conflicts: int = 3,
        concurrency: int = 4,
        batch_size: int = TRANSACTION_LIMIT,
    ) -> None:
        if not 1 <= batch_size <= TRANSACTION_LIMIT:
            raise ValueError(f"batch_size must be within 1..{TRANSACTION_LIMIT}")
        self.table = table
        self.max_conflicts = max_conflicts
        self.concurrency = concurrency
        self.batch_size = batch_size

    def write_all(self, changes: Sequence[PlannedChange]) -> list[WriteOutcome]:
        """One outcome per change, in order. A failed transaction fails only its own changes."""
        batches = [
            changes[start : start + self.batch_size]
            for start in range(0, len(changes), self.batch_size)
        ]
        outcomes = map_concurrently(self._write_batch, batches, max_workers=self.concurrency)
        return [outcome for batch in outcomes for outcome in batch]

    def _write_batch(self, batch: Sequence[PlannedChange]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome | None] = [None] * len(batch)
        conflicts = [0] * len(batch)
        current: dict[int, Change] = {index: change for index, (_, change) in enumerate(batch)}
        while current:
            indices = list(current)
            updates = [
                OwnedUpdate(
                    current[index].key,
                    current[index].attributes,
                    SYNC_COUNTER,
                    current[index].expected_version,
                )
                for index in indices
            ]
            try:
                results = self.table.update_owned_batch(updates)
            except DEPENDENCY_ERRORS as exc:
                for index in indices:
                    outcomes[index] = WriteOutcome(
                        None, conflicts[index], error_summary(exc), error_code(exc)
                    )
                break
            next_round: dict[int, Change] = {}
            for index, conflict in zip(indices, results, strict=True):
                change = current[index]
                if conflict is None:
                    outcomes[index] = WriteOutcome(change.action, conflicts[index])
                    continue
                conflicts[index] += 1
                if conflicts[index] > self.max_conflicts:
                    outcomes[index] = WriteOutcome(
                        None, conflicts[index], error_summary(conflict), "ConflictError"
                    )
                    continue
                replanned = replan(batch[index][0], change, conflict.current)
                if replanned is None:
                    outcomes[index] = WriteOutcome(None, conflicts[index])
                else:
                    next_round[index] = replanned
            current = next_round
        return [outcome or WriteOutcome(None) for outcome in outcomes]
