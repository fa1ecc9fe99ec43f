"""Backups past retention: their objects, manifest and catalogue item, deleted.

A backup (`backups/<backup_id>/`) whose id time is older than `BACKUP_RETENTION_DAYS` is
deleted, except the latest verified one, which is always kept (whatever its age). If no
verified backup exists at all, nothing is deleted: old backups may be all there is. Prefixes
that are not backup ids are never touched. Each deleted backup counts against the run's
deletion cap.

Delete order: the `VERIFIED` marker first (the backup stops being a restore candidate), then the
data objects, then the manifest, then the registry catalogue item (`BACKUP`/`<backup_id>`). An
interrupted delete leaves at worst a backup without marker, which restore refuses and the next
run finishes deleting. Catalogue items older than the retention without any object in S3 (e.g.
failed attempts) are deleted too (not capped: they are registry rows).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from fleetops.backup import layout
from fleetops.backup.index import BackupIndex
from fleetops.backup.s3store import BackupBucket
from fleetops.backup.verify import latest_verified
from fleetops.cleanup.report import (
    DELETED,
    FAILED_ACTION,
    SKIPPED,
    CleanupReport,
    DeletionBudget,
    PartResult,
)
from fleetops.core.aws import error_summary
from fleetops.core.clock import iso_utc
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import logger

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)
BACKUP = "backup"
CATALOGUE = "backup_catalogue_item"


def delete_backup(bucket: BackupBucket, backup_id: str) -> int:
    """Delete every object of a backup, marker first and manifest last; returns the count."""
    keys = list(bucket.list_keys(layout.backup_prefix(backup_id)))
    marker = layout.verified_key(backup_id)
    manifest = layout.manifest_key(backup_id)
    ordered = [
        [key for key in keys if key == marker],
        [key for key in keys if key not in (marker, manifest)],
        [key for key in keys if key == manifest],
    ]
    deleted = 0
    for group in ordered:
        if group:
            deleted += bucket.delete_keys(group)
    return deleted


def sweep_backups(
    bucket: BackupBucket,
    index: BackupIndex,
    *,
    now: float,
    retention_seconds: float,
    budget: DeletionBudget,
    dry_run: bool,
    report: CleanupReport,
    part: PartResult,
) -> None:
    """Raises if the bucket cannot be listed; per-backup failures are recorded."""
    cutoff = now - retention_seconds
    cutoff_id = layout.backup_id_for(cutoff, "")[: len("YYYYMMDDTHHMMSSZ")]
    ids = sorted(
        backup_id
        for backup_id in map(layout.backup_id_of_prefix, bucket.list_prefixes(layout.PREFIX))
        if backup_id is not None
    )
    expired = [backup_id for backup_id in ids if layout.backup_time(backup_id) < cutoff]
    latest = latest_verified(bucket)
    reason = f"older than {int(retention_seconds // 86400)} days (before {iso_utc(cutoff)})"

    for backup_id in expired:
        details = {"id": backup_id}
        if latest is None:
            report.record(
                part,
                BACKUP,
                SKIPPED,
                reason="no verified backup exists: keeping every backup",
                **details,
            )
            continue
        if backup_id == latest:
            report.record(part, BACKUP, SKIPPED, reason="latest verified backup", **details)
            continue
        if not budget.take():
            report.record(part, BACKUP, SKIPPED, reason="deletion cap reached", **details)
            continue
        if dry_run:
            report.record(part, BACKUP, DELETED, reason=reason, **details)
            continue
        try:
            objects = delete_backup(bucket, backup_id)
            index.delete(backup_id)
        except AWS_ERRORS as exc:
            budget.give_back()
            report.record(part, BACKUP, FAILED_ACTION, reason=error_summary(exc), **details)
            continue
        logger.info("deleted expired backup", extra={"backup_id": backup_id, "objects": objects})
        report.record(part, BACKUP, DELETED, reason=reason, objects=objects, **details)

    # Catalogue rows of old attempts that left nothing in S3.
    in_s3 = set(ids)
    for item in index.table.query(layout.BACKUP_PK):
        backup_id = str(item.get("sk", ""))
        if not layout.is_backup_id(backup_id) or backup_id in in_s3 or backup_id >= cutoff_id:
            continue
        if dry_run:
            report.record(part, CATALOGUE, DELETED, reason=reason, id=backup_id)
            continue
        try:
            index.delete(backup_id)
        except AWS_ERRORS as exc:
            report.record(part, CATALOGUE, FAILED_ACTION, reason=error_summary(exc), id=backup_id)
            continue
        report.record(part, CATALOGUE, DELETED, reason=f"{reason}; no objects in S3", id=backup_id)
