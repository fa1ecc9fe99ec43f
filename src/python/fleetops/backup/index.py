"""The backup catalogue in the registry: pk `BACKUP`, sk `<backup_id>`, entity `backup`.

Owned whole by the backup function (cleanup deletes the items of the backups it deletes).

| attribute | meaning |
|---|---|
| `status` | `running`, `verified` (complete and read back), `partial` (a region's configuration failed), `failed` |
| `owner` | request id of the run that holds / held the claim |
| `lease_expires_at` (N) | while `running`: another run may take over once this is past |
| `started_at`, `finished_at`, `verified_at` | ISO-8601 |
| `trigger`, `event_id` | what started it |
| `manifest_key`, `items`, `bytes`, `failed_regions`, `error` | outcome |

A run first *claims* its backup id with one conditional update (no item yet, or a lapsed lease,
or a previous `failed` attempt), so two invocations for the same scheduled event never write
the same objects at once: the second sees `running` (or the finished status) and stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetops.backup import layout
from fleetops.core.errors import ConflictError
from fleetops.core.registry import Condition, RegistryTable

RUNNING = "running"
VERIFIED = "verified"
PARTIAL = "partial"
FAILED = "failed"
FINISHED = frozenset({VERIFIED, PARTIAL})


@dataclass(frozen=True)
class Claim:
    claimed: bool
    current: dict[str, Any] | None = None
    """The item as found when the claim was refused."""


class BackupIndex:
    def __init__(self, table: RegistryTable) -> None:
        self.table = table

    def get(self, backup_id: str) -> dict[str, Any] | None:
        return self.table.get(layout.index_key(backup_id))

    def claim(
        self,
        backup_id: str,
        *,
        owner: str,
        now: float,
        lease_seconds: float,
        attributes: Mapping[str, Any],
    ) -> Claim:
        condition = (
            Condition.attribute_not_exists("pk")
            | Condition.compare("lease_expires_at", "<", int(now))
            | Condition.equals("status", FAILED)
        )
        try:
            self.table.update(
                layout.index_key(backup_id),
                set_attrs={
                    **attributes,
                    "entity": layout.BACKUP_ENTITY,
                    "backup_id": backup_id,
                    "status": RUNNING,
                    "owner": owner,
                    "lease_expires_at": int(now + lease_seconds),
                    "error": None,
                    "finished_at": None,
                },
                condition=condition,
            )
        except ConflictError as exc:
            current = exc.current if exc.current is not None else self.get(backup_id)
            return Claim(False, current)
        return Claim(True)

    def finish(
        self, backup_id: str, *, owner: str, status: str, attributes: Mapping[str, Any]
    ) -> bool:
        """Record the outcome and drop the lease; False if another run took the claim over."""
        try:
            self.table.update(
                layout.index_key(backup_id),
                set_attrs={**attributes, "status": status, "lease_expires_at": None},
                condition=Condition.equals("owner", owner),
            )
        except ConflictError:
            return False
        return True

    def record(self, backup_id: str, attributes: Mapping[str, Any]) -> None:
        """Unconditional upsert of catalogue attributes (e.g. re-registering a verified backup)."""
        self.table.update(
            layout.index_key(backup_id),
            set_attrs={**attributes, "entity": layout.BACKUP_ENTITY, "backup_id": backup_id},
        )

    def delete(self, backup_id: str) -> None:
        key = layout.index_key(backup_id)
        self.table.guard.call(
            self.table.client.delete_item, TableName=self.table.name, Key=key.as_dynamo()
        )
