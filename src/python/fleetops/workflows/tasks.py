"""Every task the workflow-tasks Lambda serves: `task` name -> input model and function."""

from __future__ import annotations

from types import MappingProxyType

from fleetops.workflows import deployment, maintenance, recovery
from fleetops.workflows.dispatch import Task

TASKS = MappingProxyType(
    {
        "deployment.validate": Task(deployment.ValidateRequest, deployment.validate),
        "deployment.check_green": Task(deployment.CheckGreenRequest, deployment.check_green),
        "deployment.shift_traffic": Task(deployment.ShiftRequest, deployment.shift_traffic),
        "deployment.check_step": Task(deployment.CheckStepRequest, deployment.check_step),
        "deployment.rollback": Task(deployment.RollbackRequest, deployment.rollback),
        "deployment.finish": Task(deployment.FinishRequest, deployment.finish),
        "maintenance.schedule": Task(maintenance.ScheduleRequest, maintenance.schedule),
        "maintenance.open_window": Task(maintenance.PlanRequest, maintenance.open_window),
        "maintenance.plan_batches": Task(maintenance.PlanRequest, maintenance.plan_batches),
        "maintenance.deregister": Task(maintenance.InstancesRequest, maintenance.deregister),
        "maintenance.validate": Task(maintenance.ValidateRequest, maintenance.validate),
        "maintenance.register": Task(maintenance.InstancesRequest, maintenance.register),
        "maintenance.check_healthy": Task(
            maintenance.CheckHealthyRequest, maintenance.check_healthy
        ),
        "maintenance.find_drained": Task(maintenance.InstancesRequest, maintenance.find_drained),
        "maintenance.check_stability": Task(
            maintenance.StabilityRequest, maintenance.check_stability
        ),
        "maintenance.finish": Task(maintenance.FinishRequest, maintenance.finish),
        "recovery.assess": Task(recovery.AssessRequest, recovery.assess),
        "recovery.plan": Task(recovery.PlanRequest, recovery.plan),
        "recovery.scale": Task(recovery.ScaleRequest, recovery.scale),
        "recovery.validate": Task(recovery.ValidateRequest, recovery.validate),
        "recovery.finish": Task(recovery.FinishRequest, recovery.finish),
    }
)
