"""The fleet lock (`FLEET#<fleet>` / `LOCK`) as the workflows take and release it.

The state machines acquire and release the lock with native DynamoDB tasks:

- acquire: PutItem with `attribute_not_exists(pk) OR lock_expires_at < :now OR #owner = :owner`
  (a free, expired or already-ours lock), so exactly one workflow holds a fleet at a time and a
  retried acquire of our own lock succeeds;
- release: DeleteItem with `#owner = :owner`, so a workflow can only free its own lock.

Step Functions has no clock in epoch seconds, so a task computes the values those writes need
(`now`, `lock_expires_at`, as strings for DynamoDB `N`), and reads a lock to say who holds it.
"""

from __future__ import annotations

from typing import Any, Literal

from fleetops.core.clock import iso_utc
from fleetops.core.registry import RegistryTable, keys
from fleetops.workflows.models import ExecutionRef

LockKind = Literal["deployment", "maintenance"]
LOCK_RECORD_GRACE_SECONDS = 86400
"""An expired lock item stays this long (TTL `expires_at`) for people reading the registry."""


def lock_fields(
    fleet: str, kind: LockKind, execution: ExecutionRef, now: float, ttl_seconds: int
) -> dict[str, Any]:
    expires = int(now) + int(ttl_seconds)
    return {
        "pk": keys.fleet_pk(fleet),
        "sk": keys.LOCK_SK,
        "owner": execution.id,
        "kind": kind,
        "acquired_at": iso_utc(now),
        "now": str(int(now)),
        "expires_at": str(expires),
        "expires_at_iso": iso_utc(expires),
        "ttl_at": str(expires + LOCK_RECORD_GRACE_SECONDS),
    }


def held_lock(table: RegistryTable, fleet: str, now: float) -> dict[str, Any] | None:
    """The fleet's lock item if it is held (not expired), else None."""
    item = table.get(keys.lock_key(fleet))
    if item is None or int(item.get("lock_expires_at", 0)) < int(now):
        return None
    return item


def describe_holder(item: dict[str, Any] | None) -> str:
    if not item:
        return "another workflow (the lock was released since)"
    until = iso_utc(int(item.get("lock_expires_at", 0)))
    return f"{item.get('kind', 'a workflow')} {item.get('owner', '?')} until {until}"
