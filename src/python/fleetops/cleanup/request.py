"""The inputs cleanup accepts, validated before anything is read or written.

1. The EventBridge schedule (`source: aws.events` / `aws.scheduler`, `detail-type: Scheduled
   Event`): every configured region, `DRY_RUN` as configured.
2. A manual invocation `{"regions": [...], "dry_run": true}`, both optional: `regions` must be
   configured ones; `dry_run` may make a run drier, never wetter: `"dry_run": false` where
   `DRY_RUN` is true is refused (deleting is decided per environment, not per event).

Unknown fields are rejected; every problem raises `InvalidInputError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from fleetops.cleanup.config import CleanupConfig
from fleetops.core.errors import InvalidInputError


class ScheduledEvent(EventBridgeModel):
    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


class ManualInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[str] | None = Field(default=None, min_length=1)
    dry_run: StrictBool | None = None


@dataclass(frozen=True)
class CleanupRequest:
    trigger: Literal["schedule", "manual"]
    regions: tuple[str, ...]
    dry_run: bool


def _field_errors(exc: ValidationError) -> dict[str, str]:
    return {
        ".".join(str(part) for part in error["loc"]) or "event": error["msg"]
        for error in exc.errors(include_url=False)
    }


def parse_request(event: Any, config: CleanupConfig) -> CleanupRequest:
    if not isinstance(event, Mapping):
        raise InvalidInputError({"event": f"must be a JSON object, got {type(event).__name__}"})
    payload = dict(event)
    if "source" in payload or "detail-type" in payload:
        try:
            parse(event=payload, model=ScheduledEvent)
        except ValidationError as exc:
            raise InvalidInputError(_field_errors(exc)) from None
        return CleanupRequest(trigger="schedule", regions=config.regions, dry_run=config.dry_run)

    try:
        manual = parse(event=payload, model=ManualInvocation)
    except ValidationError as exc:
        raise InvalidInputError(_field_errors(exc)) from None
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
