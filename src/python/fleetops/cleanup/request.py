"""The inputs cleanup accepts, validated before anything is read or written.

1. The EventBridge schedule (`source: aws.events` / `aws.scheduler`, `detail-type: Scheduled
   Event`): every configured region, `DRY_RUN` as configured.
2. A manual invocation `{"regions": [...], "dry_run": true}`, both optional: `regions` must be
   configured ones; `dry_run` may make a run drier, never wetter: `"dry_run": false` where
   `DRY_RUN` is true is refused (deleting is decided per environment, not per event).

Unknown fields are rejected; every problem raises `InvalidInputError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from fleetops.cleanup.config import CleanupConfig
from fleetops.core.errors import InvalidInputError
from fleetops.core.events import ScheduledEvent, is_scheduled, json_object, validate


class ManualInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[str] | None = Field(default=None, min_length=1)
    dry_run: StrictBool | None = None


@dataclass(frozen=True)
class CleanupRequest:
    trigger: Literal["schedule", "manual"]
    regions: tuple[str, ...]
    dry_run: bool


def parse_request(event: Any, config: CleanupConfig) -> CleanupRequest:
    payload = json_object(event)
    if is_scheduled(payload):
        validate(ScheduledEvent, payload)
        return CleanupRequest(trigger="schedule", regions=config.regions, dry_run=config.dry_run)

    manual = validate(ManualInvocation, payload)
    regions = config.regions
    if manual.regions is not None:
        unknown = {
            f"regions.{index}": f"{region!r} is not a configured region ({', '.join(config.regions)})"
            for index, region in enumerate(manual.regions)
            if region not in config.regions
        }
        if unknown:
            raise InvalidInputError(unknown)
        regions = tuple(dict.fromkeys(manual.regions))
    if manual.dry_run is False and config.dry_run:
        raise InvalidInputError(
            {
                "dry_run": "false is not allowed: DRY_RUN is true for this environment "
                "(deletions are enabled per environment with DRY_RUN=false)"
            }
        )
    dry_run = config.dry_run if manual.dry_run is None else manual.dry_run
    return CleanupRequest(trigger="manual", regions=regions, dry_run=dry_run)
