"""cleanup's variables on top of the shared ones (docs/CONVENTIONS.md).

| variable | meaning | default |
|---|---|---|
| BACKUP_BUCKET | bucket of `backups/<backup_id>/...` (see fleetops.backup.layout) | required |
| CLEANUP_RETENTION_DAYS | snapshots and AMIs younger than this are never orphans | 30 |
| CLEANUP_GRACE_DAYS | delay between marking an orphan and deleting it | 7 |
| CLEANUP_MAX_DELETIONS | fleet resources + backups deleted per run, at most | 50 |
| BACKUP_RETENTION_DAYS | backups older than this are deleted (never the latest verified) | 30 |
| TOMBSTONE_RETENTION_DAYS | registry tombstones older than this are deleted | 30 |
| TOMBSTONE_MAX_DELETIONS | registry tombstones deleted per run, at most | 1000 |
| CLEANUP_LEASE_SECONDS | run lease when the Lambda context does not give the remaining time | 660 |
| DRY_RUN | decide and report, change nothing | true, except `false` when ENVIRONMENT=dev |

`DRY_RUN` set explicitly always wins; unset, only dev deletes by default (set `DRY_RUN=false`
per environment to let staging or prod delete). All retention and cap values must be > 0.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from fleetops.backup.config import BucketName
from fleetops.core.config import BaseConfig

DAY_SECONDS = 86400


class CleanupConfig(BaseConfig):
    backup_bucket: BucketName
    cleanup_retention_days: int = Field(default=30, gt=0, le=3650)
    cleanup_grace_days: int = Field(default=7, gt=0, le=365)
    cleanup_max_deletions: int = Field(default=50, gt=0, le=10_000)
    backup_retention_days: int = Field(default=30, gt=0, le=3650)
    tombstone_retention_days: int = Field(default=30, gt=0, le=3650)
    tombstone_max_deletions: int = Field(default=1000, gt=0, le=100_000)
    cleanup_lease_seconds: int = Field(default=660, ge=60, le=7200)

    @model_validator(mode="before")
    @classmethod
    def _dry_run_default(cls, data: Any) -> Any:
        # DRY_RUN unset: dry run everywhere but dev. `from_env` leaves unset variables out.
        if isinstance(data, dict) and data.get("dry_run") in (None, ""):
            data = {**data, "dry_run": str(data.get("environment", "")).strip() != "dev"}
        return data

    @property
    def retention_seconds(self) -> int:
        return self.cleanup_retention_days * DAY_SECONDS

    @property
    def grace_seconds(self) -> int:
        return self.cleanup_grace_days * DAY_SECONDS

    @property
    def backup_retention_seconds(self) -> int:
        return self.backup_retention_days * DAY_SECONDS

    @property
    def tombstone_retention_seconds(self) -> int:
        return self.tombstone_retention_days * DAY_SECONDS
