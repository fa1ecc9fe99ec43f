"""The two inputs of the scheduled fleet functions (fleet-sync, health-check), validated before
anything is read or written.

1. The EventBridge schedule (`source: aws.events`, `detail-type: Scheduled Event`; EventBridge
   Scheduler's `aws.scheduler` too): every fleet, in every configured region, or in the
   configured regions listed in its optional `regions` field. The deployment uses the latter
   to fan a schedule out into one invocation per region (an input transformer adds `regions`
   to the event), so each invocation's work is one region's, in parallel, in isolation.
2. A manual invocation `{"fleets": [...], "regions": [...], "dry_run": true}`; every field is
   optional, unknown fields are rejected (a typo must not silently widen a run).

Anything else raises `InvalidInputError` naming each bad field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from fleetops.core.config import BaseConfig
from fleetops.core.errors import InvalidInputError
from fleetops.core.events import ScheduledEvent as EventBridgeSchedule
from fleetops.core.events import is_scheduled, json_object, validate

FLEET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/+=@-]{0,127}$"
"""Tag-value characters, minus `#` (the registry's key separator)."""

FleetName = Annotated[str, StringConstraints(pattern=FLEET_NAME_PATTERN)]


class ScheduledEvent(EventBridgeSchedule):
    regions: list[str] | None = Field(default=None, min_length=1)


class ManualInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fleets: list[FleetName] | None = Field(default=None, min_length=1)
    regions: list[str] | None = Field(default=None, min_length=1)
    dry_run: StrictBool = False


@dataclass(frozen=True)
class FleetRunRequest:
    """What one run does. `fleets=None` means every fleet (discovered or registered)."""

    trigger: Literal["schedule", "manual"]
    regions: tuple[str, ...]
    fleets: tuple[str, ...] | None
    dry_run: bool


def parse_fleet_run(
    event: Any, config: BaseConfig, *, config_dry_run: bool = False
) -> FleetRunRequest:
    """Validate an invocation payload into a `FleetRunRequest`, or raise `InvalidInputError`.

    `config_dry_run`: the function honours the `DRY_RUN` variable too (a function that changes
    the fleet does; fleet-sync, which only records it, does not).
    """
    forced = config_dry_run and config.dry_run
    payload = json_object(event)
    if is_scheduled(payload):
        scheduled = validate(ScheduledEvent, payload)
        return FleetRunRequest(
            trigger="schedule",
            regions=_regions(scheduled.regions, config),
            fleets=None,
            dry_run=forced,
        )

    manual = validate(ManualInvocation, payload)
    fleets = tuple(dict.fromkeys(manual.fleets)) if manual.fleets is not None else None
    return FleetRunRequest(
        trigger="manual",
        regions=_regions(manual.regions, config),
        fleets=fleets,
        dry_run=forced or manual.dry_run,
    )


def _regions(requested: list[str] | None, config: BaseConfig) -> tuple[str, ...]:
    """The requested regions (deduplicated, in order), each one a configured region."""
    if requested is None:
        return config.regions
    unknown = {
        f"regions.{index}": f"{region!r} is not a configured region ({', '.join(config.regions)})"
        for index, region in enumerate(requested)
        if region not in config.regions
    }
    if unknown:
        raise InvalidInputError(unknown)
    return tuple(dict.fromkeys(requested))
