"""Invocation payloads: the EventBridge scheduled event, and strict validation of any input.

One definition for every function. Why not Powertools' parser: importing
`aws_lambda_powertools.utilities.parser` builds every envelope model it ships (API Gateway,
Cognito, DynamoDB, ...: ~130 ms and ~8 MiB at each cold start, measured with `-X importtime`),
and the functions need one model. The fields below are those of Powertools' `EventBridgeModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fleetops.core.errors import InvalidInputError

M = TypeVar("M", bound=BaseModel)


class ScheduledEvent(BaseModel):
    """An EventBridge (or EventBridge Scheduler) scheduled event."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: Literal["aws.events", "aws.scheduler"]
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    detail: dict[str, Any]
    replay_name: str | None = Field(default=None, alias="replay-name")

    @field_validator("detail", mode="before")
    @classmethod
    def _scheduler_detail(cls, value: Any) -> Any:
        """EventBridge Scheduler sends an empty detail as the string "{}" (as Powertools' model
        accepts it)."""
        return {} if value == "{}" else value


def is_scheduled(payload: Mapping[str, Any]) -> bool:
    """Whether a payload claims to be an EventBridge event (then it must validate as one)."""
    return "source" in payload or "detail-type" in payload


def json_object(event: Any) -> dict[str, Any]:
    """The payload as a dict, or `InvalidInputError` when it is not a JSON object."""
    if not isinstance(event, Mapping):
        raise InvalidInputError({"event": f"must be a JSON object, got {type(event).__name__}"})
    return dict(event)


def field_errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """Field path -> message, for every problem pydantic found."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "event"
        fields[prefix + name] = error["msg"].removeprefix("Value error, ")
    return fields


def validate(model: type[M], payload: Mapping[str, Any], *, prefix: str = "") -> M:
    """`model` from `payload`, or `InvalidInputError` naming every bad field."""
    try:
        return model.model_validate(dict(payload))
    except ValidationError as exc:
        raise InvalidInputError(field_errors(exc, prefix)) from None
