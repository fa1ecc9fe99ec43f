"""Errors a task raises on purpose. The class name is the Lambda `errorType`, which is the
`Error` a state machine's Retry / Catch matches, so these names are part of the ASL contract.

- `InvalidInputError` (core): malformed task input; nothing was read or written. Never retried.
- `PreconditionFailed`: the request is well-formed but the fleet is not in a state to do it
  (unknown fleet or region, unhealthy fleet, missing launch template version...). Never retried.
- `FleetLocked`: another deployment or maintenance holds the fleet's lock. Never retried.
- `OutsideWindow`: a maintenance is asked to start outside its window. Never retried.
- `TransientAwsError`: AWS kept failing transiently (throttling, 5xx, network, open breaker)
  after the in-process retries; the state machine retries the task with backoff.
- `AwsCallFailed`: AWS rejected a call for a reason another attempt will not fix.
"""

from __future__ import annotations

from fleetops.core.errors import FleetOpsError, InvalidInputError


class TaskError(FleetOpsError):
    """Root of the deliberate task failures (besides `InvalidInputError`)."""


class PreconditionFailed(TaskError):
    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class FleetLocked(TaskError):
    pass


class OutsideWindow(TaskError):
    pass


class TransientAwsError(TaskError):
    pass


class AwsCallFailed(TaskError):
    pass


RETRYABLE_TASK_ERRORS = ("TransientAwsError",)
"""errorType values the definitions retry (next to Lambda's own service errors)."""

__all__ = [
    "RETRYABLE_TASK_ERRORS",
    "AwsCallFailed",
    "FleetLocked",
    "InvalidInputError",
    "OutsideWindow",
    "PreconditionFailed",
    "TaskError",
    "TransientAwsError",
]
