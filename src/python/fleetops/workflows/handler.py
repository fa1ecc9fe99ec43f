"""workflow-tasks Lambda entry point (artifact dist/lambdas/workflow-tasks.zip; 256 MB; 5 min).

One function serves every Lambda task of the deployment, recovery and maintenance state
machines: the event names its `task` (e.g. `"deployment.validate"`) next to that task's fields
(see `tasks.TASKS`). Configuration and AWS clients are built at import, once per container: a bad
variable stops the function at cold start with one `ConfigError` naming every bad variable.

Errors leave as the Lambda `errorType` the state machines match: `InvalidInputError` (unknown
task or malformed field, named in the message; nothing was read or written),
`PreconditionFailed`, `FleetLocked`, `OutsideWindow`, `AwsCallFailed`, `TransientAwsError`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetops.core import observability
from fleetops.core.observability import MetricUnit, metrics
from fleetops.workflows.config import WorkflowConfig
from fleetops.workflows.deps import TaskDeps
from fleetops.workflows.dispatch import dispatch
from fleetops.workflows.tasks import TASKS

CONFIG = WorkflowConfig.from_env()
observability.configure(CONFIG)
DEPS = TaskDeps.build(CONFIG)


@observability.lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = event.get("task") if isinstance(event, dict) else None
    metrics.add_dimension(
        name="Task", value=task if isinstance(task, str) and task in TASKS else "invalid"
    )
    try:
        result = dispatch(event, DEPS, TASKS)
    except Exception as exc:
        metrics.add_metric(name="TaskFailed", unit=MetricUnit.Count, value=1)
        metrics.add_metadata(key="error", value=type(exc).__name__)
        raise
    metrics.add_metric(name="TaskSucceeded", unit=MetricUnit.Count, value=1)
    return result
