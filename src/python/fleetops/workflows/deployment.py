"""Tasks of the blue/green deployment workflow (`statemachines/deployment.asl.json`).

Native steps (in the definition): lock acquire/release (DynamoDB), create / delete Auto Scaling
groups (aws-sdk autoscaling), alarm reads (aws-sdk cloudwatch), the record (DynamoDB), the
notification (SNS). Tasks here hold the logic around them:

- `deployment.validate`: input, registry, launch template version, fleet health, plan.
- `deployment.check_green`: are green's instances in service and healthy in its target group.
- `deployment.shift_traffic` / `deployment.rollback`: listener weights. Lambda rather than the
  native `aws-sdk:elasticloadbalancingv2:modifyListener` because the workflows are run and tested
  on moto's Step Functions engine, which cannot call that service (it maps aws-sdk service names
  to boto3 clients one to one, and boto3 calls it `elbv2`).
- `deployment.check_step`: target health plus the alarms the definition read, after each step.
- `deployment.finish`: the outcome (cause, notification, record) of every ending.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator

from fleetops.core.clock import iso_utc
from fleetops.core.registry import keys
from fleetops.workflows import fleet as aws
from fleetops.workflows.deps import TaskDeps
from fleetops.workflows.errors import FleetLocked, PreconditionFailed
from fleetops.workflows.locks import describe_holder, held_lock, lock_fields
from fleetops.workflows.models import (
    AsgName,
    ExecutionRef,
    FleetName,
    ListenerArn,
    Model,
    Region,
    TargetGroupArn,
)
from fleetops.workflows.outcome import Outcome, failure_text, record_times

StrictInt = Annotated[int, Field(strict=True)]
_GREEN_SUFFIX = re.compile(r"-deploy-[0-9a-f]{8}$")
_LOCK_CONFLICT_ERRORS = frozenset({"DynamoDB.ConditionalCheckFailedException", "FleetLocked"})


class LaunchTemplateRef(Model):
    id: Annotated[str, StringConstraints(pattern=r"^lt-[0-9a-f]{8,17}$")] | None = None
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_().\-/]{3,128}$")] | None = None
    version: Annotated[str, StringConstraints(pattern=r"^([1-9][0-9]*|\$Latest|\$Default)$")]

    @model_validator(mode="after")
    def _one_of_id_or_name(self) -> Self:
        if (self.id is None) == (self.name is None):
            raise ValueError("give exactly one of 'id' or 'name'")
        return self


class HealthPoll(Model):
    attempts: Annotated[int, Field(strict=True, ge=1, le=720)]
    wait_seconds: Annotated[int, Field(strict=True, ge=0, le=3600)]


class DeploymentInput(Model):
    """The execution input of the deployment workflow."""

    fleet: FleetName
    region: Region
    blue_asg: AsgName
    launch_template: LaunchTemplateRef
    listener_arn: ListenerArn
    blue_target_group_arn: TargetGroupArn
    green_target_group_arn: TargetGroupArn
    traffic_steps: Annotated[list[StrictInt], Field(min_length=1, max_length=10)]
    health_poll: HealthPoll
    hold_seconds: Annotated[int, Field(strict=True, ge=0, le=86400)]
    lock_ttl_seconds: Annotated[int, Field(strict=True, ge=60, le=7 * 86400)]
    step_wait_seconds: Annotated[int, Field(strict=True, ge=0, le=3600)] | None = None
    alarm_prefix: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    green_asg: AsgName | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        steps = self.traffic_steps
        if any(step < 1 or step > 100 for step in steps):
            raise ValueError("traffic_steps: every step is a percentage from 1 to 100")
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise ValueError("traffic_steps: must be strictly increasing")
        if steps[-1] != 100:
            raise ValueError("traffic_steps: the last step must be 100")
        if self.blue_target_group_arn == self.green_target_group_arn:
            raise ValueError("green_target_group_arn: must differ from blue_target_group_arn")
        for name in ("listener_arn", "blue_target_group_arn", "green_target_group_arn"):
            arn_region = getattr(self, name).split(":")[3]
            if arn_region != self.region:
                raise ValueError(f"{name}: is in {arn_region}, not in region {self.region}")
        if self.green_asg is not None and self.green_asg == self.blue_asg:
            raise ValueError("green_asg: must differ from blue_asg")
        return self


class GreenSpec(Model):
    name: str
    launch_template_id: str
    launch_template_version: str
    min_size: int
    max_size: int
    desired_capacity: int
    vpc_zone_identifier: str
    target_group_arns: list[str]
    health_check_type: str
    health_check_grace_period: int
    tags: list[dict[str, Any]]


class DeploymentPlan(Model):
    """What `deployment.validate` decided; every later task receives it."""

    fleet: str
    region: str
    blue_asg: str
    listener_arn: str
    blue_target_group_arn: str
    green_target_group_arn: str
    traffic_steps: list[int]
    health_poll: HealthPoll
    step_wait_seconds: int
    hold_seconds: int
    alarm_prefix: str
    green: GreenSpec
    blue_desired_capacity: int
    lock: dict[str, str]
    execution: ExecutionRef
    started_at: str


class ValidateRequest(Model):
    execution: ExecutionRef
    input: DeploymentInput


class CheckGreenRequest(Model):
    plan: DeploymentPlan
    attempt: Annotated[int, Field(strict=True, ge=0)]


class ShiftRequest(Model):
    plan: DeploymentPlan
    index: Annotated[int, Field(strict=True, ge=0)]


class AlarmsSeen(Model):
    """What the native `cloudwatch:describeAlarms` step read: names and states side by side."""

    metric_names: list[str] = Field(default_factory=list)
    metric_states: list[str] = Field(default_factory=list)
    composite_names: list[str] = Field(default_factory=list)
    composite_states: list[str] = Field(default_factory=list)

    def firing(self) -> list[str]:
        pairs = [
            *zip(self.metric_names, self.metric_states, strict=False),
            *zip(self.composite_names, self.composite_states, strict=False),
        ]
        return sorted({name for name, state in pairs if state == "ALARM"})


class CheckStepRequest(Model):
    plan: DeploymentPlan
    index: Annotated[int, Field(strict=True, ge=0)]
    alarms: AlarmsSeen


class RollbackRequest(Model):
    plan: DeploymentPlan


class FinishRequest(Model):
    execution: ExecutionRef
    state: dict[str, Any]


def green_name(blue: str, execution: ExecutionRef) -> str:
    token = hashlib.sha256(execution.id.encode()).hexdigest()[:8]
    base = _GREEN_SUFFIX.sub("", blue)[: 255 - len("-deploy-") - 8]
    return f"{base}-deploy-{token}"


def validate(request: ValidateRequest, deps: TaskDeps) -> dict[str, Any]:
    spec = request.input
    execution = request.execution
    problems: list[str] = []
    now = deps.clock()
    tag_key = deps.config.fleet_tag_key

    if spec.region != execution.region:
        raise PreconditionFailed(
            f"region: this state machine runs in {execution.region} and its native AWS "
            f"integrations act there only; {spec.region} needs the workflow deployed there"
        )
    if spec.region not in deps.config.regions:
        raise PreconditionFailed(
            f"region: {spec.region} is not a fleet region ({', '.join(deps.config.regions)})"
        )

    # Registry: the fleet, its region and the blue group are known.
    table = deps.table
    if table.get(keys.fleet_key(spec.fleet)) is None:
        raise PreconditionFailed(f"fleet: {spec.fleet!r} is not in the registry")
    if table.get(keys.region_status_key(spec.fleet, spec.region)) is None:
        problems.append(f"region: fleet {spec.fleet} has no registry entry for {spec.region}")
    asg_item = table.get(keys.asg_key(spec.fleet, spec.region, spec.blue_asg))
    if asg_item is None or asg_item.get("state") == "deleted":
        problems.append(
            f"blue_asg: {spec.blue_asg} is not a registered group of fleet {spec.fleet}"
        )

    # The fleet is not held by another deployment or maintenance (the conditional write that
    # follows is what guarantees it; this only refuses early with a clear message).
    holder = held_lock(table, spec.fleet, now)
    if holder is not None and holder.get("owner") != execution.id:
        raise FleetLocked(f"fleet {spec.fleet} is locked by {describe_holder(holder)}")

    # Live: blue exists, belongs to the fleet, and is healthy.
    blue = aws.describe_asg(deps.clients, spec.region, spec.blue_asg)
    if blue is None:
        problems.append(f"blue_asg: Auto Scaling group {spec.blue_asg} not found in {spec.region}")
        raise PreconditionFailed(problems)
    if aws.tags_of(blue).get(tag_key) != spec.fleet:
        problems.append(f"blue_asg: {spec.blue_asg} is not tagged {tag_key}={spec.fleet}")
    desired = int(blue.get("DesiredCapacity", 0))
    instances = aws.instances_of(blue)
    serving = [instance.instance_id for instance in instances if instance.serving]
    if desired < 1:
        problems.append(f"blue_asg: {spec.blue_asg} has no capacity to deploy from (desired 0)")
    elif len(serving) < desired:
        problems.append(
            f"fleet unhealthy: {len(serving)}/{desired} instances of {spec.blue_asg} are in "
            "service and healthy"
        )
    health = aws.target_health(deps.clients, spec.region, spec.blue_target_group_arn)
    not_healthy = sorted(i for i in serving if health.get(i) != "healthy")
    if not_healthy:
        problems.append(
            "fleet unhealthy: not healthy in the blue target group: "
            + ", ".join(f"{i} ({health.get(i, 'not registered')})" for i in not_healthy[:5])
        )
    flagged = [
        item.get("instance_id", "?")
        for item in table.query(
            keys.fleet_pk(spec.fleet), sk_prefix=keys.instance_prefix(spec.region)
        )
        if item.get("asg") == spec.blue_asg
        and item.get("state") != "terminated"
        and str(item.get("health", "")).lower() in ("unhealthy", "impaired")
    ]
    if flagged:
        problems.append(f"fleet unhealthy: health-check flags {', '.join(sorted(flagged)[:5])}")

    # The new launch template version exists.
    template = spec.launch_template
    found = aws.launch_template_version(
        deps.clients,
        spec.region,
        template_id=template.id,
        name=template.name,
        version=template.version,
    )
    if found is None:
        problems.append(
            f"launch_template: version {template.version} of {template.id or template.name} "
            f"not found in {spec.region}"
        )

    green = spec.green_asg or green_name(spec.blue_asg, execution)
    if aws.describe_asg(deps.clients, spec.region, green) is not None:
        problems.append(f"green_asg: an Auto Scaling group named {green} already exists")

    step_wait = (
        spec.health_poll.wait_seconds if spec.step_wait_seconds is None else spec.step_wait_seconds
    )
    budget = (
        spec.health_poll.attempts * spec.health_poll.wait_seconds
        + len(spec.traffic_steps) * step_wait
        + spec.hold_seconds
        + deps.config.lock_ttl_margin_seconds
    )
    if spec.lock_ttl_seconds < budget:
        problems.append(
            f"lock_ttl_seconds: {spec.lock_ttl_seconds} s is shorter than the workflow's own "
            f"waits plus margin ({budget} s); the lock could expire mid-deployment"
        )
    if problems:
        raise PreconditionFailed(problems)
    assert found is not None

    tags = [
        {"Key": key, "Value": value, "PropagateAtLaunch": True}
        for key, value in sorted(aws.tags_of(blue).items())
        if not key.startswith("aws:") and key != "fleetops:deployment"
    ]
    tags.append({"Key": "fleetops:deployment", "Value": execution.name, "PropagateAtLaunch": True})
    plan = DeploymentPlan(
        fleet=spec.fleet,
        region=spec.region,
        blue_asg=spec.blue_asg,
        listener_arn=spec.listener_arn,
        blue_target_group_arn=spec.blue_target_group_arn,
        green_target_group_arn=spec.green_target_group_arn,
        traffic_steps=list(spec.traffic_steps),
        health_poll=spec.health_poll,
        step_wait_seconds=step_wait,
        hold_seconds=spec.hold_seconds,
        alarm_prefix=spec.alarm_prefix or f"{spec.fleet}-",
        green=GreenSpec(
            name=green,
            launch_template_id=found[0],
            launch_template_version=found[1],
            min_size=int(blue.get("MinSize", desired)),
            max_size=max(int(blue.get("MaxSize", desired)), desired),
            desired_capacity=desired,
            vpc_zone_identifier=str(blue.get("VPCZoneIdentifier", "")),
            target_group_arns=[spec.green_target_group_arn],
            health_check_type="ELB",
            health_check_grace_period=int(blue.get("HealthCheckGracePeriod", 300)),
            tags=tags,
        ),
        blue_desired_capacity=desired,
        lock=lock_fields(spec.fleet, "deployment", execution, now, spec.lock_ttl_seconds),
        execution=execution,
        started_at=iso_utc(now),
    )
    return plan.model_dump()


def _green_health(plan: DeploymentPlan, deps: TaskDeps) -> tuple[bool, str]:
    green = plan.green
    group = aws.describe_asg(deps.clients, plan.region, green.name)
    if group is None:
        return False, f"green Auto Scaling group {green.name} not found"
    serving = [i.instance_id for i in aws.instances_of(group) if i.serving]
    health = aws.target_health(deps.clients, plan.region, plan.green_target_group_arn)
    healthy = [i for i in serving if health.get(i) == "healthy"]
    desired = green.desired_capacity
    summary = (
        f"{len(healthy)}/{desired} instances of green {green.name} are in service and "
        "healthy in the green target group"
    )
    others = sorted(i for i in health if i not in healthy)
    if others:
        summary += " (" + ", ".join(f"{i}: {health[i]}" for i in others[:5]) + ")"
    return len(healthy) >= desired, summary


def check_green(request: CheckGreenRequest, deps: TaskDeps) -> dict[str, Any]:
    healthy, summary = _green_health(request.plan, deps)
    attempt = request.attempt + 1
    return {
        "attempt": attempt,
        "healthy": healthy,
        "summary": f"{summary} after {attempt} check(s)",
    }


def shift_traffic(request: ShiftRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    if request.index >= len(plan.traffic_steps):
        raise PreconditionFailed(f"index: {request.index} is past the last traffic step")
    green_weight = plan.traffic_steps[request.index]
    aws.set_listener_weights(
        deps.clients,
        plan.region,
        plan.listener_arn,
        [
            (plan.blue_target_group_arn, 100 - green_weight),
            (plan.green_target_group_arn, green_weight),
        ],
    )
    return {
        "index": request.index,
        "green_weight": green_weight,
        "last": request.index == len(plan.traffic_steps) - 1,
    }


def check_step(request: CheckStepRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    weight = plan.traffic_steps[min(request.index, len(plan.traffic_steps) - 1)]
    firing = request.alarms.firing()
    healthy, summary = _green_health(plan, deps)
    problems = []
    if firing:
        problems.append(f"alarm(s) in ALARM: {', '.join(firing)}")
    if not healthy:
        problems.append(summary)
    if problems:
        return {"ok": False, "summary": f"at {weight}% traffic to green: " + "; ".join(problems)}
    return {"ok": True, "summary": f"at {weight}% traffic to green: {summary}, no alarm firing"}


def rollback(request: RollbackRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    aws.set_listener_weights(
        deps.clients,
        plan.region,
        plan.listener_arn,
        [(plan.blue_target_group_arn, 100), (plan.green_target_group_arn, 0)],
    )
    weights = aws.listener_weights(deps.clients, plan.region, plan.listener_arn)
    if weights.get(plan.green_target_group_arn, 0) != 0 or not weights.get(
        plan.blue_target_group_arn
    ):
        raise PreconditionFailed(f"listener still forwards {weights} after the rollback")
    return {"blue_weight": 100, "green_weight": 0}


def finish(request: FinishRequest, deps: TaskDeps) -> dict[str, Any]:
    state = request.state
    raw_plan = state.get("plan")
    plan = DeploymentPlan.model_validate(raw_plan) if isinstance(raw_plan, dict) else None
    fleet = plan.fleet if plan else str(state.get("fleet", "?"))
    region = plan.region if plan else str(state.get("region", "?"))
    where = f"fleet {fleet} ({region})"
    lock_acquired = bool((state.get("lock_state") or {}).get("acquired"))
    notes: list[str] = []
    for key, what in (
        ("green_removal_error", "green could not be removed"),
        ("lock_release_error", "the lock could not be released"),
    ):
        if state.get(key):
            notes.append(f"{what}: {failure_text(state[key])[1]}")

    details: dict[str, Any] = {"fleet": fleet, "region": region, "execution": request.execution.id}
    if plan:
        details.update(
            blue_asg=plan.blue_asg,
            green_asg=plan.green.name,
            launch_template_id=plan.green.launch_template_id,
            launch_template_version=plan.green.launch_template_version,
            traffic_steps=plan.traffic_steps,
        )
    record_status: str | None = None
    failure = state.get("failure")
    if state.get("retire_failure"):
        _, message = failure_text(state["retire_failure"])
        assert plan is not None
        outcome = Outcome(
            "deployment",
            "failed",
            "BlueNotRemoved",
            f"Deployment to {where} is live: green {plan.green.name} serves 100% of the listener, "
            f"but blue {plan.blue_asg} could not be removed ({message}); remove it by hand.",
            kind="deployment.cleanup_failed",
            title=f"Deployment of {fleet}: blue group not removed",
            severity="warning",
        )
        record_status = "cleanup_failed"
    elif failure is None:
        assert plan is not None
        outcome = Outcome(
            "deployment",
            "succeeded",
            "",
            f"Deployed {plan.green.launch_template_id} version {plan.green.launch_template_version} "
            f"to {where}: green {plan.green.name} serves 100% of the listener after steps "
            f"{plan.traffic_steps}; blue {plan.blue_asg} removed after a {plan.hold_seconds} s hold.",
            kind="deployment.succeeded",
            title=f"Deployment of {fleet} succeeded",
        )
        record_status = "succeeded"
    elif not lock_acquired:
        error, message = failure_text(failure)
        if error in _LOCK_CONFLICT_ERRORS:
            if error != "FleetLocked":
                holder = held_lock(deps.table, fleet, deps.clock())
                message = f"fleet {fleet} is locked by {describe_holder(holder)}"
            outcome = Outcome(
                "deployment",
                "refused",
                "FleetLocked",
                f"Deployment to {where} refused: {message}. Nothing was changed.",
                kind="deployment.refused",
                title=f"Deployment of {fleet} refused: fleet locked",
                severity="warning",
            )
        else:
            outcome = Outcome(
                "deployment",
                "refused",
                "DeploymentRefused",
                f"Deployment to {where} refused ({error}): {message}. Nothing was changed.",
                kind="deployment.refused",
                title=f"Deployment of {fleet} refused",
                severity="warning",
            )
    elif state.get("rollback_error"):
        error, message = failure_text(failure)
        _, rollback_message = failure_text(state["rollback_error"])
        green = plan.green.name if plan else "?"
        until = plan.lock.get("expires_at_iso", "?") if plan else "?"
        outcome = Outcome(
            "deployment",
            "failed",
            "RollbackFailed",
            f"Deployment to {where} failed ({error}: {message}) and its rollback failed too "
            f"({rollback_message}): traffic may still reach green {green}. Point the listener "
            f"back at blue by hand; the fleet stays locked until {until} so no other workflow "
            "acts on it meanwhile.",
            kind="deployment.rollback_failed",
            title=f"Deployment of {fleet}: ROLLBACK FAILED",
            severity="critical",
        )
        record_status = "rollback_failed"
    else:
        error, message = failure_text(failure)
        blue = plan.blue_asg if plan else "?"
        green = plan.green.name if plan else "?"
        cause = (
            f"Deployment to {where} rolled back ({error}): {message}. Traffic is back on blue "
            f"{blue} (100%), green {green} was removed and the lock released."
        )
        outcome = Outcome(
            "deployment",
            "failed",
            "DeploymentRolledBack",
            cause,
            kind="deployment.rolled_back",
            title=f"Deployment of {fleet} rolled back",
            severity="warning",
        )
        details["failure"] = {"error": error, "message": message}
        record_status = "rolled_back"
    if notes:
        outcome.cause += " Note: " + "; ".join(notes) + "."
    outcome.details = details
    if plan is not None and record_status is not None:
        outcome.record = {
            "pk": keys.fleet_pk(plan.fleet),
            "sk": f"DEPLOYMENT#{plan.region}#{request.execution.name}",
            "entity": "deployment",
            "fleet": plan.fleet,
            "region": plan.region,
            "status": record_status,
            "error": outcome.error or None,
            "cause": outcome.cause,
            "blue_asg": plan.blue_asg,
            "green_asg": plan.green.name,
            "launch_template_id": plan.green.launch_template_id,
            "launch_template_version": plan.green.launch_template_version,
            "traffic_steps": plan.traffic_steps,
            "execution": request.execution.id,
            "started_at": plan.started_at,
            **record_times(deps),
        }
    return outcome.render(deps)
