"""Failures of backup and restore, named so the recovery workflow can branch on them.

A Lambda error's `errorType` is the class name: Step Functions can `Catch` on
`BackupNotFoundError`, `CorruptBackupError`, `RestoreTargetError`, `InvalidInputError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetops.core.errors import FleetOpsError, NotFoundError


class BackupNotFoundError(NotFoundError):
    """The named backup does not exist, or no verified backup exists. Nothing was written."""


class CorruptBackupError(FleetOpsError):
    """The backup does not match its manifest (or has none that parses). Nothing was written."""

    def __init__(self, backup_id: str, problems: Sequence[str]) -> None:
        self.backup_id = backup_id
        self.problems = list(problems)
        super().__init__(
            f"backup {backup_id} is corrupt or incomplete, refusing to restore: "
            + "; ".join(self.problems)
        )


class RestoreTargetError(FleetOpsError):
    """The target table cannot receive the restore (missing, wrong key schema). Nothing written."""


class RestoreFailedError(FleetOpsError):
    """Writing failed part-way; re-running the same restore is safe (puts are idempotent)."""

    def __init__(self, backup_id: str, target: str, written: int, cause: str) -> None:
        self.backup_id = backup_id
        self.target = target
        self.written = written
        super().__init__(
            f"restore of backup {backup_id} into {target} failed after {written} item(s): "
            f"{cause}; re-running it is safe"
        )


class BackupFailedError(FleetOpsError):
    """The backup could not be written or did not verify; it is not marked good."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        problems = result.get("problems") or [result.get("error")]
        super().__init__(
            f"backup {result.get('backup_id')} failed: " + "; ".join(str(p) for p in problems if p)
        )
