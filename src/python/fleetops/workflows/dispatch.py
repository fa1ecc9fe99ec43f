"""Route a task event to its handler: `{"task": "<workflow>.<step>", ...fields}`.

An event that is not an object, lacks `task`, names an unknown task or carries malformed fields
fails with `InvalidInputError` before anything is read or written. AWS failures leave as
`TransientAwsError` (the state machine retries) or `AwsCallFailed` (it does not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from fleetops.core.aws import error_summary, is_transient
from fleetops.core.errors import CircuitOpenError, InvalidInputError
from fleetops.core.events import json_object
from fleetops.core.observability import logger
from fleetops.workflows.deps import TaskDeps
from fleetops.workflows.errors import AwsCallFailed, TransientAwsError
from fleetops.workflows.models import parse

TaskFn = Callable[[Any, TaskDeps], Mapping[str, Any]]


@dataclass(frozen=True)
class Task:
    model: type[BaseModel]
    run: TaskFn


def dispatch(event: Any, deps: TaskDeps, tasks: Mapping[str, Task]) -> dict[str, Any]:
    event = json_object(event)
    name = event.get("task")
    known = ", ".join(sorted(tasks))
    if name is None:
        raise InvalidInputError({"task": f"required; one of {known}"})
    if not isinstance(name, str) or name not in tasks:
        raise InvalidInputError({"task": f"unknown task {name!r}; expected one of {known}"})
    spec = tasks[name]
    request = parse(spec.model, {key: value for key, value in event.items() if key != "task"})
    logger.append_keys(task=name)
    try:
        result = dict(spec.run(request, deps))
    except (ClientError, BotoCoreError, CircuitOpenError) as exc:
        summary = f"{name}: {error_summary(exc)}"
        if isinstance(exc, CircuitOpenError) or is_transient(exc):
            logger.warning("task failed transiently", extra={"error": summary})
            raise TransientAwsError(summary) from exc
        logger.error("task failed", extra={"error": summary})
        raise AwsCallFailed(summary) from exc
    logger.info("task done", extra={"result_keys": sorted(result)})
    return result
