"""Input models shared by the tasks, and the one way task input is validated.

Every task model forbids unknown fields (a typo must not be silently ignored) and is validated
before any AWS call, so malformed input fails with `InvalidInputError` naming each bad field and
has no side effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints

from fleetops.core.config import Region
from fleetops.core.events import validate

FLEET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/+=@-]{0,127}$"
"""Tag-value characters minus `#` (the registry's key separator)."""

EXECUTION_ARN_PATTERN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$"
ASG_NAME_PATTERN = r"^[A-Za-z0-9_+=,.@/-][A-Za-z0-9 _+=,.@/-]{0,254}$"
TARGET_GROUP_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[\w-]+/[0-9a-f]+$"
)
LISTENER_ARN_PATTERN = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/(app|net|gwy)/[\w-]+/[0-9a-f]+/[0-9a-f]+$"
INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8,17}$"

FleetName = Annotated[str, StringConstraints(pattern=FLEET_NAME_PATTERN)]
AsgName = Annotated[str, StringConstraints(pattern=ASG_NAME_PATTERN)]
TargetGroupArn = Annotated[str, StringConstraints(pattern=TARGET_GROUP_ARN_PATTERN)]
ListenerArn = Annotated[str, StringConstraints(pattern=LISTENER_ARN_PATTERN)]
InstanceId = Annotated[str, StringConstraints(pattern=INSTANCE_ID_PATTERN)]

__all__ = [
    "AsgName",
    "ExecutionRef",
    "FleetName",
    "InstanceId",
    "ListenerArn",
    "Model",
    "Region",
    "TargetGroupArn",
    "parse",
]


class Model(BaseModel):
    """Strict, immutable input model."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutionRef(Model):
    """`$$.Execution.Id` and `$$.Execution.Name` of the calling execution."""

    id: Annotated[str, StringConstraints(pattern=EXECUTION_ARN_PATTERN)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]

    @property
    def region(self) -> str:
        """The region the state machine runs in (its native integrations act there only)."""
        return self.id.split(":")[3]

    @property
    def account(self) -> str:
        return self.id.split(":")[4]


class LooseModel(BaseModel):
    """For the state a finishing step receives: whatever the execution accumulated."""

    model_config = ConfigDict(extra="allow", frozen=True)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], payload: Mapping[str, Any], *, prefix: str = "") -> M:
    """`model` from `payload`, or `InvalidInputError` naming every bad field (core.events)."""
    return validate(model, payload, prefix=prefix)
