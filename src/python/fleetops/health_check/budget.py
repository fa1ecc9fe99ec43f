"""The remediation budget: at most a share of a fleet, and of each AZ, remediated per window.

One registry item per fleet and window, `FLEET#<fleet>` / `BUDGET#<window-start>`, holding
`spent` and one `spent_<az>` counter per AZ. Every action (reboot or replacement) spends one
unit, by one conditional UpdateItem:

    ADD spent :1, spent_<az> :1
    IF (attribute_not_exists(spent) OR spent < :limit)
       AND (attribute_not_exists(spent_<az>) OR spent_<az> < :az_limit)

so fleet and AZ counters move together or not at all, and two overlapping invocations cannot
both spend the last unit: DynamoDB serialises the two updates and the second one's condition
fails. A unit spent on an action that then failed or lost its race is refunded (`ADD -1`).
The budget counts instances put at risk, so replacing an instance whose reboot already spent a
unit in the same window costs nothing more (the caller decides that, see `run`).

Limits: floor(share x live instances) of the fleet (every region, as the registry counts them)
and of each AZ, but at least REMEDIATION_BUDGET_MIN so small fleets can still heal; computed
with decimals so 0.29 x 100 is 29. A dry run reads the item once and spends in memory only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fleetops.core.errors import ConflictError
from fleetops.core.registry import Condition, Key, RegistryTable
from fleetops.health_check.records import ENTITY_BUDGET, az_counter, budget_key, iso_key_time

SPENT = "spent"


class Spend(StrEnum):
    SPENT = "spent"
    FLEET_EXHAUSTED = "fleet_exhausted"
    AZ_EXHAUSTED = "az_exhausted"

    @property
    def ok(self) -> bool:
        return self is Spend.SPENT


def share_of(size: int, share: float, minimum: int) -> int:
    if size <= 0:
        return 0
    return max(minimum, math.floor(Decimal(str(share)) * size))


@dataclass(frozen=True)
class BudgetLimits:
    fleet: int
    by_az: Mapping[str, int]

    @classmethod
    def compute(
        cls, fleet_size: int, az_sizes: Mapping[str, int], *, share: float, minimum: int
    ) -> BudgetLimits:
        return cls(
            fleet=share_of(fleet_size, share, minimum),
            by_az={az: share_of(size, share, minimum) for az, size in sorted(az_sizes.items())},
        )

    def az(self, az: str | None) -> int | None:
        """The AZ's limit; None when the instance has no AZ on record (fleet limit only)."""
        return None if az is None else self.by_az.get(az, 0)


@dataclass
class RemediationBudget:
    """One fleet's budget for one window."""

    table: RegistryTable
    fleet: str
    window_start: int
    window_seconds: int
    limits: BudgetLimits
    dry_run: bool = False
    spent_fleet: int | None = None
    """The fleet counter after this run's last successful spend (None: not known)."""
    spent_this_run: int = 0
    _simulated: dict[str, int] | None = field(default=None, repr=False)

    @property
    def key(self) -> Key:
        return budget_key(self.fleet, self.window_start)

    @property
    def expires_at(self) -> int:
        # Kept one extra window so a person can still see what the last window spent.
        return self.window_start + 2 * self.window_seconds

    def spend(self, az: str | None) -> Spend:
        """Take one unit for an action in `az`, or say which limit is exhausted."""
        az_limit = self.limits.az(az)
        if self.limits.fleet <= 0:
            return Spend.FLEET_EXHAUSTED
        if az_limit is not None and az_limit <= 0:
            return Spend.AZ_EXHAUSTED
        if self.dry_run:
            return self._simulate(az, az_limit)

        counters = {SPENT: 1}
        condition = Condition.attribute_not_exists(SPENT) | Condition.compare(
            SPENT, "<", self.limits.fleet
        )
        if az is not None and az_limit is not None:
            counter = az_counter(az)
            counters[counter] = 1
            condition = condition & (
                Condition.attribute_not_exists(counter) | Condition.compare(counter, "<", az_limit)
            )
        try:
            updated = self.table.update(
                self.key,
                set_attrs={
                    "entity": ENTITY_BUDGET,
                    "fleet": self.fleet,
                    "window_start": iso_key_time(self.window_start),
                    "window_end": self.window_start + self.window_seconds,
                    "limit": self.limits.fleet,
                    "az_limits": dict(self.limits.by_az),
                    "expires_at": self.expires_at,
                },
                add=counters,
                condition=condition,
            )
        except ConflictError as exc:
            current = exc.current or {}
            if int(str(current.get(SPENT) or 0)) >= self.limits.fleet:
                return Spend.FLEET_EXHAUSTED
            return Spend.AZ_EXHAUSTED
        self.spent_fleet = int(updated.get(SPENT, 0))
        self.spent_this_run += 1
        return Spend.SPENT

    def refund(self, az: str | None) -> None:
        """Give back a unit whose action did not happen (best effort: raises AWS errors)."""
        if self.dry_run:
            if self._simulated is not None:
                self._simulated[SPENT] -= 1
                if az is not None:
                    self._simulated[az_counter(az)] -= 1
            self.spent_this_run -= 1
            return
        counters = {SPENT: -1}
        if az is not None and self.limits.az(az) is not None:
            counters[az_counter(az)] = -1
        try:
            updated = self.table.update(
                self.key, add=counters, condition=Condition.compare(SPENT, ">", 0)
            )
        except ConflictError:
            return
        self.spent_fleet = int(updated.get(SPENT, 0))
        self.spent_this_run -= 1

    def _simulate(self, az: str | None, az_limit: int | None) -> Spend:
        if self._simulated is None:
            item = self.table.get(self.key) or {}
            self._simulated = {
                name: int(value)
                for name, value in item.items()
                if name == SPENT or name.startswith(f"{SPENT}_")
            }
        spent = self._simulated.get(SPENT, 0)
        if spent >= self.limits.fleet:
            return Spend.FLEET_EXHAUSTED
        if az is not None and az_limit is not None:
            counter = az_counter(az)
            if self._simulated.get(counter, 0) >= az_limit:
                return Spend.AZ_EXHAUSTED
            self._simulated[counter] = self._simulated.get(counter, 0) + 1
        self._simulated[SPENT] = spent + 1
        self.spent_fleet = spent + 1
        self.spent_this_run += 1
        return Spend.SPENT

    def describe(self) -> dict[str, Any]:
        return {
            "window_start": iso_key_time(self.window_start),
            "limit": self.limits.fleet,
            "az_limits": dict(self.limits.by_az),
            "spent": self.spent_fleet,
            "spent_this_run": self.spent_this_run,
        }
