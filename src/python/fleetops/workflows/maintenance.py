"""Tasks of the maintenance workflow (`statemachines/maintenance.asl.json`).

Native steps: lock acquire/release and the failure tally (DynamoDB), enter/exit standby
(aws-sdk autoscaling), Run Command start and status (aws-sdk ssm), alarm reads (aws-sdk
cloudwatch), record and notification. Tasks here:

- `maintenance.schedule`: input, registry, the group; the plan (window, batches' shape, waits).
- `maintenance.open_window`: after waiting for the window: refuse outside it; the lock values.
- `maintenance.plan_batches`: the group's in-service instances in batches spread across AZs,
  and the failure budget.
- `maintenance.deregister` / `maintenance.register`: target group membership (ELBv2 is not
  reachable natively on moto's engine, see `deployment`), plus the drain time.
- `maintenance.validate`: the validation tests (command result per instance, EC2 state and
  status checks).
- `maintenance.check_healthy`: back in service and healthy in every target group.
- `maintenance.find_drained`: on abort, which of the run's instances are still in standby.
- `maintenance.check_stability`: the monitoring period against the fleet's alarms.
- `maintenance.finish`: the outcome of every ending.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from botocore.exceptions import ClientError
from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from fleetops.core.aws import error_code
from fleetops.core.clock import iso_utc
from fleetops.core.registry import keys
from fleetops.workflows import fleet as aws
from fleetops.workflows.deployment import AlarmsSeen
from fleetops.workflows.deps import TaskDeps
from fleetops.workflows.errors import OutsideWindow, PreconditionFailed
from fleetops.workflows.locks import describe_holder, held_lock, lock_fields
from fleetops.workflows.models import (
    AsgName,
    ExecutionRef,
    FleetName,
    InstanceId,
    Model,
    Region,
    TargetGroupArn,
)
from fleetops.workflows.outcome import Outcome, failure_text, record_times

PATCH_BASELINE = "AWS-RunPatchBaseline"
SUCCESS = "Success"
MAX_MONITOR_CHECKS = 60
WINDOW_START_SKEW_SECONDS = 5
"""`WaitForWindow` may wake marginally before the start by another clock than this function's."""


class Window(Model):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("window.end must be after window.start")
        return self


class MaintenanceInput(Model):
    """The execution input of the maintenance workflow."""

    fleet: FleetName
    region: Region
    asg: AsgName
    window: Window
    batch_size: Annotated[int, Field(strict=True, ge=1, le=aws.MAX_STANDBY_BATCH)]
    max_concurrency: Annotated[int, Field(strict=True, ge=1, le=40)]
    failure_tolerance: Annotated[float, Field(ge=0, le=1)]
    document: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{3,128}$")]
    target_group_arns: Annotated[list[TargetGroupArn], Field(max_length=5)]
    wait_seconds: Annotated[int, Field(strict=True, ge=0, le=3600)]
    monitor_seconds: Annotated[int, Field(strict=True, ge=0, le=86400)]
    document_parameters: dict[str, list[str]] | None = None
    command_timeout_seconds: Annotated[int, Field(strict=True, ge=30, le=172800)] = 3600
    poll_attempts: Annotated[int, Field(strict=True, ge=1, le=1000)] = 120
    drain_seconds: Annotated[int, Field(strict=True, ge=0, le=3600)] | None = None
    alarm_prefix: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    lock_grace_seconds: Annotated[int, Field(strict=True, ge=0, le=86400)] = 3600

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for index, arn in enumerate(self.target_group_arns):
            if arn.split(":")[3] != self.region:
                raise ValueError(f"target_group_arns.{index}: not in region {self.region}")
        return self


class MaintenancePlan(Model):
    fleet: str
    region: str
    asg: str
    window_start: str
    window_end: str
    batch_size: int
    max_concurrency: int
    failure_tolerance: float
    document: str
    document_parameters: dict[str, list[str]]
    command_timeout_seconds: int
    target_group_arns: list[str]
    wait_seconds: int
    poll_attempts: int
    drain_seconds: int
    monitor_checks: int
    monitor_interval_seconds: int
    monitor_seconds: int
    alarm_prefix: str
    lock_grace_seconds: int
    run_key: dict[str, str]
    execution: ExecutionRef
    started_at: str


class ScheduleRequest(Model):
    execution: ExecutionRef
    input: MaintenanceInput


class PlanRequest(Model):
    plan: MaintenancePlan


class InstancesRequest(Model):
    plan: MaintenancePlan
    instance_ids: Annotated[list[InstanceId], Field(max_length=1000)]


class CommandRef(Model):
    command_id: str | None = None


class ValidateRequest(Model):
    plan: MaintenancePlan
    instance_ids: Annotated[list[InstanceId], Field(min_length=1, max_length=aws.MAX_STANDBY_BATCH)]
    command: CommandRef


class CheckHealthyRequest(Model):
    plan: MaintenancePlan
    instance_ids: Annotated[list[InstanceId], Field(max_length=1000)]
    attempt: Annotated[int, Field(strict=True, ge=0)]
    failed: list[InstanceId] = Field(default_factory=list)


class StabilityRequest(Model):
    plan: MaintenancePlan
    alarms: AlarmsSeen
    check: Annotated[int, Field(strict=True, ge=0)]


class FinishRequest(Model):
    execution: ExecutionRef
    state: dict[str, Any]


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def schedule(request: ScheduleRequest, deps: TaskDeps) -> dict[str, Any]:
    spec = request.input
    execution = request.execution
    now = deps.clock()
    start = spec.window.start.astimezone(UTC)
    end = spec.window.end.astimezone(UTC)
    if end.timestamp() <= now:
        raise OutsideWindow(f"window: the maintenance window ended at {iso_utc(end.timestamp())}")
    if spec.region != execution.region:
        raise PreconditionFailed(
            f"region: this state machine runs in {execution.region} and its native AWS "
            f"integrations act there only; {spec.region} needs the workflow deployed there"
        )
    if spec.region not in deps.config.regions:
        raise PreconditionFailed(
            f"region: {spec.region} is not a fleet region ({', '.join(deps.config.regions)})"
        )
    table = deps.table
    problems: list[str] = []
    if table.get(keys.fleet_key(spec.fleet)) is None:
        raise PreconditionFailed(f"fleet: {spec.fleet!r} is not in the registry")
    if table.get(keys.asg_key(spec.fleet, spec.region, spec.asg)) is None:
        problems.append(f"asg: {spec.asg} is not a registered group of fleet {spec.fleet}")
    group = aws.describe_asg(deps.clients, spec.region, spec.asg)
    if group is None:
        problems.append(f"asg: Auto Scaling group {spec.asg} not found in {spec.region}")
    elif aws.tags_of(group).get(deps.config.fleet_tag_key) != spec.fleet:
        problems.append(f"asg: {spec.asg} is not tagged {deps.config.fleet_tag_key}={spec.fleet}")
    delays = []
    for index, arn in enumerate(spec.target_group_arns):
        try:
            delays.append(aws.deregistration_delay(deps.clients, spec.region, arn))
        except ClientError as exc:
            problems.append(f"target_group_arns.{index}: {error_code(exc)} for {arn}")
    if problems:
        raise PreconditionFailed(problems)

    if spec.monitor_seconds == 0 or spec.wait_seconds == 0:
        checks, interval = 1, spec.monitor_seconds
    else:
        checks = min(
            MAX_MONITOR_CHECKS, max(1, math.ceil(spec.monitor_seconds / spec.wait_seconds))
        )
        interval = spec.monitor_seconds // checks
    parameters = spec.document_parameters
    if parameters is None:
        parameters = {"Operation": ["Install"]} if spec.document == PATCH_BASELINE else {}
    plan = MaintenancePlan(
        fleet=spec.fleet,
        region=spec.region,
        asg=spec.asg,
        window_start=iso_utc(start.timestamp()),
        window_end=iso_utc(end.timestamp()),
        batch_size=spec.batch_size,
        max_concurrency=spec.max_concurrency,
        failure_tolerance=spec.failure_tolerance,
        document=spec.document,
        document_parameters=parameters,
        command_timeout_seconds=spec.command_timeout_seconds,
        target_group_arns=list(spec.target_group_arns),
        wait_seconds=spec.wait_seconds,
        poll_attempts=spec.poll_attempts,
        drain_seconds=(
            spec.drain_seconds if spec.drain_seconds is not None else max(delays, default=0)
        ),
        monitor_checks=checks,
        monitor_interval_seconds=interval,
        monitor_seconds=spec.monitor_seconds,
        alarm_prefix=spec.alarm_prefix or f"{spec.fleet}-",
        lock_grace_seconds=spec.lock_grace_seconds,
        run_key=keys.Key(
            keys.fleet_pk(spec.fleet), f"MAINTENANCE#{spec.region}#{execution.name}"
        ).as_dict(),
        execution=execution,
        started_at=iso_utc(now),
    )
    return plan.model_dump()


def open_window(request: PlanRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    now = deps.clock()
    start, end = (
        _parse_time(plan.window_start).timestamp(),
        _parse_time(plan.window_end).timestamp(),
    )
    if not start - WINDOW_START_SKEW_SECONDS <= now < end:
        raise OutsideWindow(
            f"window: it is {iso_utc(now)}, outside the maintenance window "
            f"{plan.window_start} - {plan.window_end}"
        )
    ttl = int(end - now) + plan.lock_grace_seconds
    return lock_fields(plan.fleet, "maintenance", plan.execution, now, ttl)


def _spread(instances: list[aws.AsgInstance]) -> list[str]:
    """Instance ids ordered round-robin across AZs, so a batch never empties one AZ first."""
    by_az: dict[str, list[str]] = defaultdict(list)
    for instance in sorted(instances, key=lambda i: i.instance_id):
        by_az[instance.az].append(instance.instance_id)
    ordered: list[str] = []
    queues = [by_az[az] for az in sorted(by_az)]
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


def plan_batches(request: PlanRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    group = aws.describe_asg(deps.clients, plan.region, plan.asg)
    if group is None:
        raise PreconditionFailed(f"asg: Auto Scaling group {plan.asg} not found in {plan.region}")
    in_service = [i for i in aws.instances_of(group) if i.lifecycle_state == aws.IN_SERVICE]
    ordered = _spread(in_service)
    batches = [ordered[i : i + plan.batch_size] for i in range(0, len(ordered), plan.batch_size)]
    budget = math.floor(plan.failure_tolerance * len(ordered) + 1e-9)
    return {
        "instance_ids": ordered,
        "batches": batches,
        "total": len(ordered),
        "budget": budget,
    }


def deregister(request: InstancesRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    done = {
        arn: aws.deregister_targets(deps.clients, plan.region, arn, request.instance_ids)
        for arn in plan.target_group_arns
    }
    return {"deregistered": done, "drain_seconds": plan.drain_seconds}


def register(request: InstancesRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    for arn in plan.target_group_arns:
        aws.register_targets(deps.clients, plan.region, arn, request.instance_ids)
    return {"registered": len(request.instance_ids) * len(plan.target_group_arns)}


def validate(request: ValidateRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    ids = request.instance_ids
    reasons: dict[str, str] = {}
    if not request.command.command_id:
        reasons = {i: f"{plan.document} was not started" for i in ids}
    else:
        statuses = aws.command_statuses(deps.clients, plan.region, request.command.command_id, ids)
        reasons = {i: f"{plan.document}: {s}" for i, s in statuses.items() if s != SUCCESS}
    states = aws.instance_states(deps.clients, plan.region, ids)
    for instance_id in ids:
        state = states.get(instance_id, "missing")
        if state != "running":
            reasons.setdefault(instance_id, f"instance is {state}")
    for instance_id in aws.impaired_instances(
        deps.clients, plan.region, [i for i in ids if states.get(i) == "running"]
    ):
        reasons.setdefault(instance_id, "EC2 status checks impaired")
    failed = sorted(reasons)
    return {
        "failed": failed,
        "passed": sorted(set(ids) - set(failed)),
        "reasons": reasons,
    }


def check_healthy(request: CheckHealthyRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    ids = request.instance_ids
    attempt = request.attempt + 1
    group = aws.describe_asg(deps.clients, plan.region, plan.asg)
    lifecycle = {i.instance_id: i for i in aws.instances_of(group)} if group else {}
    unhealthy: dict[str, str] = {}
    for instance_id in ids:
        instance = lifecycle.get(instance_id)
        if instance is None:
            unhealthy[instance_id] = "no longer in the group"
        elif not instance.serving:
            unhealthy[instance_id] = f"{instance.lifecycle_state}/{instance.health_status}"
    for arn in plan.target_group_arns:
        health = aws.target_health(deps.clients, plan.region, arn)
        for instance_id in ids:
            state = health.get(instance_id, "not registered")
            if state != "healthy":
                unhealthy.setdefault(instance_id, f"target {state}")
    final = not unhealthy or attempt >= plan.poll_attempts
    failed = sorted(set(request.failed) | (set(unhealthy) if final else set()))
    return {
        "attempt": attempt,
        "healthy": not unhealthy,
        "unhealthy": unhealthy,
        "failed": failed,
        "failed_count": str(len(failed)),
    }


def find_drained(request: InstancesRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    group = aws.describe_asg(deps.clients, plan.region, plan.asg)
    mine = set(request.instance_ids)
    standby = sorted(
        i.instance_id
        for i in (aws.instances_of(group) if group else [])
        if i.instance_id in mine and i.lifecycle_state in (aws.STANDBY, "EnteringStandby")
    )
    size = aws.MAX_STANDBY_BATCH
    return {
        "standby": standby,
        "standby_batches": [standby[i : i + size] for i in range(0, len(standby), size)],
        "instance_ids": sorted(mine),
    }


def check_stability(request: StabilityRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    check = request.check + 1
    firing = request.alarms.firing()
    elapsed = check * plan.monitor_interval_seconds
    if firing:
        summary = f"alarm(s) in ALARM {elapsed} s into the monitoring period: {', '.join(firing)}"
    else:
        summary = f"no alarm firing after {elapsed} s of {plan.monitor_seconds} s"
    return {
        "check": check,
        "stable": not firing,
        "done": check >= plan.monitor_checks,
        "summary": summary,
    }


def _failed_instances(state: dict[str, Any]) -> list[str]:
    failed: set[str] = set()
    for result in state.get("batch_results") or ():
        if isinstance(result, dict):
            failed.update(str(i) for i in result.get("failed") or ())
    return sorted(failed)


def finish(request: FinishRequest, deps: TaskDeps) -> dict[str, Any]:
    state = request.state
    raw_plan = state.get("plan")
    plan = MaintenancePlan.model_validate(raw_plan) if isinstance(raw_plan, dict) else None
    fleet = plan.fleet if plan else str(state.get("fleet", "?"))
    region = plan.region if plan else str(state.get("region", "?"))
    group = plan.asg if plan else str(state.get("asg", "?"))
    where = f"fleet {fleet} ({region}) group {group}"
    lock_acquired = bool((state.get("lock_state") or {}).get("acquired"))
    batches = state.get("batches") or {}
    total = int(batches.get("total", 0))
    budget = int(batches.get("budget", 0))
    tally = deps.table.get(keys.Key(**plan.run_key)) if plan else None
    failures = int((tally or {}).get("failures", 0))
    failed = _failed_instances(state)
    details: dict[str, Any] = {
        "fleet": fleet,
        "region": region,
        "asg": group,
        "execution": request.execution.id,
        "instances": total,
        "failures": failures,
        "failure_budget": budget,
        "failed_instances": failed,
    }
    failure = state.get("failure")
    restore_error = state.get("restore_error")
    record_status: str | None = None
    if failure is not None and not lock_acquired:
        error, message = failure_text(failure)
        if error == "DynamoDB.ConditionalCheckFailedException":
            holder = held_lock(deps.table, fleet, deps.clock())
            error, message = "FleetLocked", f"fleet {fleet} is locked by {describe_holder(holder)}"
        name = error if error in ("FleetLocked", "OutsideWindow") else "MaintenanceRefused"
        outcome = Outcome(
            "maintenance",
            "refused",
            name,
            f"Maintenance of {where} refused ({error}): {message}. Nothing was drained.",
            kind="maintenance.refused",
            title=f"Maintenance of {fleet} refused",
            severity="warning",
        )
    elif restore_error is not None:
        error, message = failure_text(failure) if failure else ("Unknown", "")
        _, restore_message = failure_text(restore_error)
        until = (state.get("lock") or {}).get("expires_at_iso", "its expiry")
        outcome = Outcome(
            "maintenance",
            "failed",
            "ServiceNotRestored",
            f"Maintenance of {where} aborted ({error}: {message}) and returning the drained "
            f"instances to service failed ({restore_message}). Exit standby and re-register them "
            f"by hand; the fleet stays locked until {until}.",
            kind="maintenance.restore_failed",
            title=f"Maintenance of {fleet}: SERVICE NOT RESTORED",
            severity="critical",
        )
        record_status = "restore_failed"
    elif failure is not None and failure.get("Error") == "UnstableAfterMaintenance":
        _, message = failure_text(failure)
        outcome = Outcome(
            "maintenance",
            "failed",
            "UnstableAfterMaintenance",
            f"Maintenance of {where} completed ({total} instance(s), {failures} failure(s)) but the "
            f"fleet is not stable: {message}.",
            kind="maintenance.unstable",
            title=f"Maintenance of {fleet}: unstable afterwards",
            severity="warning",
        )
        record_status = "unstable"
    elif failure is not None and state.get("batch_results") is not None:
        error, message = failure_text(failure)
        outcome = Outcome(
            "maintenance",
            "failed",
            "MonitoringFailed",
            f"Maintenance of {where} completed ({total} instance(s), {failures} failure(s)) but "
            f"the monitoring period could not run ({error}: {message}); check the alarms by hand.",
            kind="maintenance.monitoring_failed",
            title=f"Maintenance of {fleet}: monitoring failed",
            severity="warning",
        )
        record_status = "monitoring_failed"
    elif failure is not None:
        error, message = failure_text(failure)
        cause = f"Maintenance of {where} aborted ({error}): {message}."
        if state.get("drained") is None:
            cause += " No instance had been drained."
        else:
            restored = len(state["drained"].get("instance_ids") or [])
            still = (state.get("restored") or {}).get("unhealthy") or {}
            cause += f" {restored} drained instance(s) returned to service"
            cause += (
                f"; not healthy yet: {', '.join(sorted(still))}." if still else ", all healthy."
            )
        outcome = Outcome(
            "maintenance",
            "failed",
            "MaintenanceAborted",
            cause,
            kind="maintenance.aborted",
            title=f"Maintenance of {fleet} aborted",
            severity="warning",
        )
        record_status = "aborted"
    else:
        assert plan is not None
        failed_text = f": {', '.join(failed)}" if failed else ""
        outcome = Outcome(
            "maintenance",
            "succeeded",
            "",
            f"Maintenance of {where}: {total} instance(s) updated with {plan.document} in batches "
            f"of {plan.batch_size}; {failures} failure(s) within the budget of {budget}"
            f"{failed_text}; no alarm during {plan.monitor_seconds} s of monitoring.",
            kind="maintenance.succeeded",
            title=f"Maintenance of {fleet} succeeded",
        )
        record_status = "succeeded"
    if state.get("lock_release_error"):
        outcome.cause += f" Note: the lock could not be released: {failure_text(state['lock_release_error'])[1]}."
    outcome.details = details
    if plan is not None and record_status is not None:
        outcome.record = {
            **plan.run_key,
            "entity": "maintenance",
            "fleet": plan.fleet,
            "region": plan.region,
            "asg": plan.asg,
            "status": record_status,
            "error": outcome.error or None,
            "cause": outcome.cause,
            "document": plan.document,
            "instances": total,
            "failures": failures,
            "failure_budget": budget,
            "failed_instances": failed or None,
            "window_start": plan.window_start,
            "window_end": plan.window_end,
            "execution": request.execution.id,
            "started_at": plan.started_at,
            **record_times(deps),
        }
    return outcome.render(deps)
