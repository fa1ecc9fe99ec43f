"""One real cleanup run at a time: a lease item in the registry (pk `CLEANUP`, sk `LEASE`).

Taken with one conditional update (absent, or its `lease_expires_at` (N) has passed), held for
the invocation's remaining time plus a margin, released at the end. A concurrent invocation
(a double delivery, an operator's manual run during the scheduled one) finds it held and stops
without doing anything, so two runs never race to delete the same resources or double the
per-run deletion cap. Dry runs change nothing and take no lease.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fleetops.backup.layout import CLEANUP_PK
from fleetops.core.clock import iso_utc
from fleetops.core.errors import ConflictError
from fleetops.core.registry import Condition, RegistryTable
from fleetops.core.registry.keys import Key

LEASE_KEY = Key(CLEANUP_PK, "LEASE")
LEASE_ENTITY = "cleanup_lease"


class RunLease:
    def __init__(self, table: RegistryTable) -> None:
        self.table = table

    def acquire(self, owner: str, *, now: float, seconds: float) -> dict[str, Any] | None:
        """None when acquired; otherwise the lease item as held by someone else."""
        condition = Condition.attribute_not_exists("pk") | Condition.compare(
            "lease_expires_at", "<", int(now)
        )
        try:
            self.table.update(
                LEASE_KEY,
                set_attrs={
                    "entity": LEASE_ENTITY,
                    "owner": owner,
                    "acquired_at": iso_utc(now),
                    "lease_expires_at": int(now + seconds),
                },
                condition=condition,
            )
        except ConflictError as exc:
            return exc.current or self.table.get(LEASE_KEY) or {}
        return None

    def release(self, owner: str) -> None:
        # ConflictError: taken over after our lease lapsed, not ours to release any more.
        with contextlib.suppress(ConflictError):
            self.table.update(
                LEASE_KEY,
                set_attrs={"lease_expires_at": 0},
                condition=Condition.equals("owner", owner),
            )
