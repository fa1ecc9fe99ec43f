"""The inputs backup and restore accept, validated before anything is read or written.

backup:
1. The EventBridge schedule (`source: aws.events` / `aws.scheduler`, `detail-type: Scheduled
   Event`): back up now. The backup id is derived from the event's `time` and `id`, so a
   redelivered event resumes or no-ops instead of taking a second backup.
2. A manual invocation `{"dry_run": true|false}` (or `{}`): `dry_run` scans and exports to
   nowhere, reporting counts and sizes without writing anything. The id is derived from the
   invocation's request id (Lambda's retries of an async invocation keep it).

restore:
`{"backup_id": "<id>", "target_table": "<name>", "create_table": false, "dry_run": false}`, every
field optional: `backup_id` omitted means the latest verified backup, `target_table` omitted
means the registry (`DDB_TABLE`). `dry_run` validates the whole backup and the target, writes
nothing.

Unknown fields are rejected (a typo must not silently change what a run does); every problem
raises `InvalidInputError` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictBool, StringConstraints

from fleetops.backup import layout
from fleetops.core.events import ScheduledEvent, is_scheduled, json_object, validate

TableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]
_BACKUP_ID = re.compile(layout.BACKUP_ID_PATTERN)


def _backup_id(value: str) -> str:
    if not _BACKUP_ID.match(value):
        raise ValueError("must be a backup id like 20261126T020000Z-1a2b3c4d")
    return value


BackupId = Annotated[str, AfterValidator(_backup_id)]


class ManualBackup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: StrictBool = False


class RestoreEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backup_id: BackupId | None = None
    target_table: TableName | None = None
    create_table: StrictBool = False
    dry_run: StrictBool = False


@dataclass(frozen=True)
class BackupRequest:
    trigger: Literal["schedule", "manual"]
    at: float
    """Epoch seconds the backup is taken for (the schedule's time, or now)."""
    seed: str
    """What makes the backup id unique: the event id or the request id."""
    event_id: str | None
    dry_run: bool


@dataclass(frozen=True)
class RestoreRequest:
    backup_id: str | None
    target_table: str | None
    create_table: bool
    dry_run: bool


def parse_backup_request(event: Any, *, now: float, request_id: str) -> BackupRequest:
    payload = json_object(event)
    if is_scheduled(payload):
        scheduled = validate(ScheduledEvent, payload)
        return BackupRequest(
            trigger="schedule",
            at=scheduled.time.timestamp(),
            seed=scheduled.id,
            event_id=scheduled.id,
            dry_run=False,
        )
    manual = validate(ManualBackup, payload)
    return BackupRequest(
        trigger="manual", at=now, seed=request_id, event_id=None, dry_run=manual.dry_run
    )


def parse_restore_request(event: Any) -> RestoreRequest:
    restore = validate(RestoreEvent, json_object(event))
    return RestoreRequest(
        backup_id=restore.backup_id,
        target_table=restore.target_table,
        create_table=restore.create_table,
        dry_run=restore.dry_run,
    )
