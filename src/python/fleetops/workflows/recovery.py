"""Tasks of the recovery workflow (`statemachines/recovery.asl.json`).

Native steps: the incident record (DynamoDB UpdateItem), DNS (aws-sdk route53, a global
service), the notification. The restore step invokes the backup component's restore Lambda.
Tasks here:

- `recovery.assess`: impact from the registry and live checks in every fleet region: unhealthy
  share by AZ and by region, whether the registry still knows the fleet, what this incident
  already did (its record).
- `recovery.plan`: AZ rebalance vs regional failover (scale up the healthy side), the scaling
  actions, whether to restore the registry, the Route 53 change.
- `recovery.scale`: applies the actions, idempotently across executions of the same incident:
  each action is claimed in the incident record with a conditional write before it is applied
  and skipped if it is already claimed, so a second execution never scales twice. A Lambda
  task, not a native one: the healthy side is often another region than the state machine's,
  and native AWS SDK integrations only act in their own region.
- `recovery.validate`: capacity and health targets met.
- `recovery.finish`: the outcome; the incident's final state.

Incident record: `FLEET#<fleet>` / `INCIDENT#<incident_id>`, entity `incident`, with `status`,
`strategy`, `executions` (SS), `actions` (map: action id -> what was applied, by which
execution), `restored_backup_id`, `summary`, `expires_at`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Annotated, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, StrictBool, StringConstraints

from fleetops.core.aws import error_summary
from fleetops.core.clock import iso_utc
from fleetops.core.errors import CircuitOpenError
from fleetops.core.registry import keys, serialize_item
from fleetops.core.registry.table import deserialize_item, serialize
from fleetops.workflows import fleet as aws
from fleetops.workflows.deps import TaskDeps
from fleetops.workflows.errors import PreconditionFailed
from fleetops.workflows.models import ExecutionRef, FleetName, Model, Region
from fleetops.workflows.outcome import Outcome, failure_text

INCIDENT_PREFIX = "INCIDENT#"
ROUTING_SK = "ROUTING"
RESTORE_REQUEST_FIELDS = frozenset({"dry_run", "backup_id"})
"""What the restore step sends the restore Lambda (`fleetops.backup.request.RestoreEvent`)."""
UNHEALTHY_REGISTRY_STATES = frozenset({"unhealthy", "impaired"})
Strategy = Literal["none", "az_rebalance", "regional_failover", "no_healthy_capacity"]


def incident_key(fleet: str, incident_id: str) -> keys.Key:
    return keys.Key(keys.fleet_pk(fleet), INCIDENT_PREFIX + incident_id)


class AzHealth(Model):
    """health-check's per-AZ view when its breaker opened (informational: assess re-reads)."""

    instances: Annotated[int, Field(strict=True, ge=0)]
    impaired: Annotated[int, Field(strict=True, ge=0)]
    unknown: Annotated[int, Field(strict=True, ge=0)] = 0


class RecoveryInput(Model):
    """The execution input of the recovery workflow (health-check starts it with execution
    name = incident_id). `unhealthy_share`/`by_az` are what health-check saw when its breaker
    opened; the assess step measures again from the registry and live checks before acting."""

    incident_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")]
    fleet: FleetName
    source: Literal["health-check", "alarm", "manual"]
    regions: Annotated[list[Region], Field(min_length=1, max_length=20)] | None = None
    dry_run: StrictBool = False
    wait_seconds: Annotated[int, Field(strict=True, ge=0, le=3600)] = 60
    validate_attempts: Annotated[int, Field(strict=True, ge=1, le=200)] = 10
    restore: Literal["auto", "always", "never"] = "auto"
    backup_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    unhealthy_share: Annotated[float, Field(ge=0, le=1)] | None = None
    by_az: dict[str, AzHealth] | None = None


class AssessRequest(Model):
    execution: ExecutionRef
    input: RecoveryInput


class GroupState(Model):
    region: str
    name: str
    desired: int
    min_size: int
    max_size: int
    subnets: list[str]
    subnet_azs: dict[str, str]
    instances: int
    serving: int
    unhealthy: int
    missing: int
    unhealthy_by_az: dict[str, int]
    total_by_az: dict[str, int]


class RegionState(Model):
    region: str
    reachable: bool
    error: str | None = None
    groups: list[GroupState] = Field(default_factory=list)
    registered_desired: int = 0

    @property
    def total(self) -> int:
        return sum(g.instances + g.missing for g in self.groups)

    @property
    def lost(self) -> int:
        return sum(g.unhealthy + g.missing for g in self.groups)

    @property
    def share(self) -> float:
        return self.lost / self.total if self.total else 0.0


class Assessment(Model):
    incident_id: str
    fleet: str
    source: str
    dry_run: bool
    wait_seconds: int
    validate_attempts: int
    restore: str
    backup_id: str | None
    regions: list[RegionState]
    registry_known: bool
    registry_missing: list[str]
    previous_actions: dict[str, Any]
    restored_backup_id: str | None
    started_at: str


class PlanRequest(Model):
    execution: ExecutionRef
    assessment: Assessment


class Action(Model):
    id: str
    region: str
    asg: str
    kind: str
    desired_from: int
    desired_to: int
    max_from: int
    max_to: int
    subnets_to: list[str] | None = None
    required_serving: int
    reason: str


class RecoveryPlan(Model):
    incident_id: str
    fleet: str
    strategy: Strategy
    summary: str
    actions: list[Action]
    failed_regions: list[str]
    failed_azs: dict[str, list[str]]
    dry_run: bool
    poll: dict[str, int]
    restore: dict[str, Any]
    dns: dict[str, Any]
    incident: dict[str, str]


class ScaleRequest(Model):
    execution: ExecutionRef
    plan: RecoveryPlan


class Target(Model):
    """A group and how many of its instances must be in service and healthy."""

    id: str
    region: Region
    asg: str
    required_serving: Annotated[int, Field(strict=True, ge=0)]


class ValidateRequest(Model):
    targets: list[Target]
    attempt: Annotated[int, Field(strict=True, ge=0)]


class FinishRequest(Model):
    execution: ExecutionRef
    state: dict[str, Any]


# -- assess ------------------------------------------------------------------------------------


def _group_state(
    deps: TaskDeps, region: str, group: dict[str, Any], flagged: set[str]
) -> GroupState:
    instances = aws.instances_of(group)
    ids = [i.instance_id for i in instances]
    impaired = aws.impaired_instances(
        deps.clients, region, [i.instance_id for i in instances if i.serving]
    )
    subnets = [s for s in str(group.get("VPCZoneIdentifier", "")).split(",") if s]
    subnet_azs = aws.subnet_azs(deps.clients, region, subnets)
    unhealthy_by_az: dict[str, int] = defaultdict(int)
    total_by_az: dict[str, int] = defaultdict(int)
    unhealthy = 0
    for instance in instances:
        total_by_az[instance.az] += 1
        if (
            not instance.serving
            or instance.instance_id in impaired
            or instance.instance_id in flagged
        ):
            unhealthy += 1
            unhealthy_by_az[instance.az] += 1
    desired = int(group.get("DesiredCapacity", 0))
    return GroupState(
        region=region,
        name=str(group["AutoScalingGroupName"]),
        desired=desired,
        min_size=int(group.get("MinSize", 0)),
        max_size=int(group.get("MaxSize", desired)),
        subnets=subnets,
        subnet_azs=subnet_azs,
        instances=len(ids),
        serving=len(ids) - unhealthy,
        unhealthy=unhealthy,
        missing=max(0, desired - len(ids)),
        unhealthy_by_az=dict(unhealthy_by_az),
        total_by_az=dict(total_by_az),
    )


def assess(request: AssessRequest, deps: TaskDeps) -> dict[str, Any]:
    spec = request.input
    configured = deps.config.regions
    regions = list(dict.fromkeys(spec.regions or configured))
    unknown = [r for r in regions if r not in configured]
    if unknown:
        raise PreconditionFailed(
            f"regions: {', '.join(unknown)} not among the fleet regions ({', '.join(configured)})"
        )
    table = deps.table
    pk = keys.fleet_pk(spec.fleet)
    items = list(table.query(pk))
    by_sk = {str(item["sk"]): item for item in items}
    registry_known = keys.META_SK in by_sk
    flagged = {
        str(item.get("instance_id"))
        for item in items
        if str(item["sk"]).startswith(keys.INSTANCE_PREFIX)
        and str(item.get("health", "")).lower() in UNHEALTHY_REGISTRY_STATES
    }
    incident = by_sk.get(INCIDENT_PREFIX + spec.incident_id) or {}

    states: list[RegionState] = []
    missing: list[str] = [] if registry_known else [f"fleet {spec.fleet} (META)"]
    for region in regions:
        registered = [
            item
            for sk, item in by_sk.items()
            if sk.startswith(keys.asg_prefix(region)) and item.get("state") != "deleted"
        ]
        registered_desired = sum(int(item.get("desired_capacity", 0)) for item in registered)
        try:
            groups = aws.fleet_asgs(deps.clients, region, deps.config.fleet_tag_key, spec.fleet)
            group_states = [_group_state(deps, region, group, flagged) for group in groups]
        except (ClientError, BotoCoreError, CircuitOpenError) as exc:
            states.append(
                RegionState(
                    region=region,
                    reachable=False,
                    error=error_summary(exc),
                    registered_desired=registered_desired,
                )
            )
            continue
        for group in group_states:
            if keys.asg_key(spec.fleet, region, group.name).sk not in by_sk:
                missing.append(f"group {region}/{group.name}")
        states.append(
            RegionState(
                region=region,
                reachable=True,
                groups=group_states,
                registered_desired=registered_desired,
            )
        )
    if not registry_known and not any(state.groups for state in states):
        raise PreconditionFailed(
            f"fleet: {spec.fleet!r} is neither in the registry nor found (tag "
            f"{deps.config.fleet_tag_key}) in {', '.join(regions)}"
        )
    assessment = Assessment(
        incident_id=spec.incident_id,
        fleet=spec.fleet,
        source=spec.source,
        dry_run=spec.dry_run or deps.config.dry_run,
        wait_seconds=spec.wait_seconds,
        validate_attempts=spec.validate_attempts,
        restore=spec.restore,
        backup_id=spec.backup_id,
        regions=states,
        registry_known=registry_known,
        registry_missing=missing,
        previous_actions=dict(incident.get("actions") or {}),
        restored_backup_id=incident.get("restored_backup_id"),
        started_at=iso_utc(deps.clock()),
    )
    return assessment.model_dump()


# -- plan --------------------------------------------------------------------------------------


def _distribute(amount: int, weights: dict[str, int]) -> dict[str, int]:
    """Split `amount` over keys proportionally to `weights` (largest remainder), all >= 0."""
    total = sum(weights.values())
    if amount <= 0 or not weights:
        return dict.fromkeys(weights, 0)
    if total <= 0:
        weights = dict.fromkeys(weights, 1)
        total = len(weights)
    exact = {key: amount * weight / total for key, weight in weights.items()}
    shares = {key: math.floor(value) for key, value in exact.items()}
    leftover = amount - sum(shares.values())
    for key in sorted(exact, key=lambda k: (shares[k] - exact[k], k))[:leftover]:
        shares[key] += 1
    return shares


def _scale_action(
    group: GroupState, extra: int, kind: str, reason: str, subnets_to: list[str] | None = None
) -> Action:
    desired_to = group.desired + extra
    return Action(
        id=f"{group.region}/{group.name}",
        region=group.region,
        asg=group.name,
        kind=kind,
        desired_from=group.desired,
        desired_to=desired_to,
        max_from=group.max_size,
        max_to=max(group.max_size, desired_to),
        subnets_to=subnets_to,
        required_serving=desired_to - group.unhealthy,
        reason=reason,
    )


def _routing_change(routing: dict[str, Any], failed_regions: set[str]) -> dict[str, Any]:
    """The Route 53 change moving traffic away from failed regions (operator-owned routing item:
    `FLEET#<fleet>` / `ROUTING` with `hosted_zone_id`, `record_name`, `record_type`, `policy`
    (`weighted` | `failover`), `ttl` and `records`: one per region with `region`,
    `set_identifier`, `values` or `alias_target`, and `weight` or `failover`)."""
    records = [dict(r) for r in routing.get("records") or []]
    policy = str(routing.get("policy", "weighted"))
    healthy = [r for r in records if r.get("region") not in failed_regions]
    if not healthy or not any(r.get("region") in failed_regions for r in records):
        return {"change": False, "reason": "no routing record points at a failed region"}

    def record_set(
        record: dict[str, Any], target: dict[str, Any], **routing_fields: Any
    ) -> dict[str, Any]:
        rrset: dict[str, Any] = {
            "Name": routing["record_name"],
            "Type": routing.get("record_type", "A"),
            "SetIdentifier": record["set_identifier"],
            **routing_fields,
        }
        if target.get("alias_target"):
            alias = target["alias_target"]
            rrset["AliasTarget"] = {
                "HostedZoneId": alias["hosted_zone_id"],
                "DNSName": alias["dns_name"],
                "EvaluateTargetHealth": bool(alias.get("evaluate_target_health", True)),
            }
        else:
            rrset["TTL"] = int(routing.get("ttl", 60))
            rrset["ResourceRecords"] = [{"Value": str(v)} for v in target.get("values") or []]
        if record.get("health_check_id"):
            rrset["HealthCheckId"] = record["health_check_id"]
        return rrset

    changes = []
    if policy == "failover":
        primary = next((r for r in records if r.get("failover") == "PRIMARY"), None)
        if primary is None or primary.get("region") not in failed_regions:
            return {"change": False, "reason": "the primary record's region has not failed"}
        target = healthy[0]
        changes.append(
            {
                "Action": "UPSERT",
                "ResourceRecordSet": record_set(primary, target, Failover="PRIMARY"),
            }
        )
    else:
        for record in records:
            weight = 0 if record.get("region") in failed_regions else int(record.get("weight", 100))
            changes.append(
                {"Action": "UPSERT", "ResourceRecordSet": record_set(record, record, Weight=weight)}
            )
    return {
        "change": True,
        "hosted_zone_id": str(routing["hosted_zone_id"]),
        "change_batch": {
            "Comment": f"fleet-ops recovery: traffic away from {', '.join(sorted(failed_regions))}",
            "Changes": changes,
        },
    }


def plan(request: PlanRequest, deps: TaskDeps) -> dict[str, Any]:
    assessment = request.assessment
    config = deps.config
    region_threshold = config.recovery_region_failure_share
    az_threshold = config.recovery_az_failure_share
    failed_regions: list[str] = []
    failed_azs: dict[str, list[str]] = {}
    notes: list[str] = []
    for state in assessment.regions:
        if not state.reachable:
            failed_regions.append(state.region)
            notes.append(f"{state.region} unreachable ({state.error})")
            continue
        if not state.groups:
            continue
        by_az_total: dict[str, int] = defaultdict(int)
        by_az_bad: dict[str, int] = defaultdict(int)
        for group in state.groups:
            for az, count in group.total_by_az.items():
                by_az_total[az] += count
            for az, count in group.unhealthy_by_az.items():
                by_az_bad[az] += count
        bad_azs = sorted(
            az
            for az, total in by_az_total.items()
            if total and by_az_bad[az] / total >= az_threshold
        )
        healthy_azs = sorted(set(by_az_total) - set(bad_azs))
        notes.append(
            f"{state.region}: {state.lost}/{state.total} unhealthy or missing"
            + (f", failed AZs {', '.join(bad_azs)}" if bad_azs else "")
        )
        if state.share >= region_threshold or (bad_azs and not healthy_azs):
            failed_regions.append(state.region)
        elif bad_azs:
            failed_azs[state.region] = bad_azs

    actions: list[Action] = []
    strategy: Strategy = "none"
    healthy_states = [
        s for s in assessment.regions if s.reachable and s.groups and s.region not in failed_regions
    ]
    if failed_regions:
        if not healthy_states:
            strategy = "no_healthy_capacity"
        else:
            strategy = "regional_failover"
            lost = 0
            for state in assessment.regions:
                if state.region in failed_regions:
                    lost += (
                        sum(g.desired for g in state.groups)
                        if state.reachable
                        else state.registered_desired
                    )
            groups = {f"{g.region}/{g.name}": g for s in healthy_states for g in s.groups}
            shares = _distribute(lost, {key: g.serving for key, g in groups.items()})
            actions = [
                _scale_action(
                    groups[key],
                    extra,
                    "regional_failover",
                    f"take over {extra} of the {lost} instance(s) of {', '.join(failed_regions)}",
                )
                for key, extra in sorted(shares.items())
                if extra > 0
            ]
    elif failed_azs:
        strategy = "az_rebalance"
        for state in assessment.regions:
            bad = set(failed_azs.get(state.region, ()))
            if not bad:
                continue
            lost = sum(g.unhealthy_by_az.get(az, 0) for g in state.groups for az in bad) + sum(
                g.missing for g in state.groups
            )
            candidates = {
                g.name: g
                for g in state.groups
                if any(az not in bad for az in g.subnet_azs.values())
            }
            serving_outside = {
                name: sum(
                    count - g.unhealthy_by_az.get(az, 0)
                    for az, count in g.total_by_az.items()
                    if az not in bad
                )
                for name, g in candidates.items()
            }
            shares = _distribute(lost, serving_outside)
            for name, extra in sorted(shares.items()):
                group = candidates[name]
                healthy_subnets = [s for s in group.subnets if group.subnet_azs.get(s) not in bad]
                subnets_to = healthy_subnets if len(healthy_subnets) < len(group.subnets) else None
                if extra > 0 or subnets_to:
                    actions.append(
                        _scale_action(
                            group,
                            extra,
                            "az_rebalance",
                            f"replace {extra} of the {lost} instance(s) lost in {', '.join(sorted(bad))}",
                            subnets_to,
                        )
                    )
    total_lost = sum(s.lost for s in assessment.regions)
    if strategy == "none":
        summary = "no region or AZ past its failure threshold" + (
            f" ({total_lost} unhealthy instance(s) left to health-check)" if total_lost else ""
        )
    elif strategy == "no_healthy_capacity":
        summary = f"every assessed region failed ({', '.join(failed_regions)}): no healthy side to scale up"
    elif strategy == "regional_failover":
        summary = f"regional failover away from {', '.join(failed_regions)}"
    else:
        summary = "AZ rebalance away from " + "; ".join(
            f"{region} {', '.join(azs)}" for region, azs in sorted(failed_azs.items())
        )
    summary += ": " + "; ".join(notes) if notes else ""

    wants_restore = assessment.restore == "always" or (
        assessment.restore == "auto" and bool(assessment.registry_missing)
    )
    already = assessment.restored_backup_id is not None and assessment.restore != "always"
    restore_request: dict[str, Any] = {"dry_run": assessment.dry_run}
    if assessment.backup_id:
        restore_request["backup_id"] = assessment.backup_id
    restore = {
        "needed": wants_restore and not already,
        "reason": (
            "registry lacks " + ", ".join(assessment.registry_missing[:5])
            if assessment.registry_missing
            else "requested"
        ),
        "request": restore_request,
    }

    dns: dict[str, Any] = {"change": False, "reason": "no regional failover"}
    if strategy == "regional_failover":
        routing = deps.table.get(keys.Key(keys.fleet_pk(assessment.fleet), ROUTING_SK))
        dns = (
            _routing_change(routing, set(failed_regions))
            if routing
            else {
                "change": False,
                "reason": f"no routing item (FLEET#{assessment.fleet} / {ROUTING_SK})",
            }
        )
    now = deps.clock()
    result = RecoveryPlan(
        incident_id=assessment.incident_id,
        fleet=assessment.fleet,
        strategy=strategy,
        summary=summary,
        actions=actions,
        failed_regions=failed_regions,
        failed_azs=failed_azs,
        dry_run=assessment.dry_run,
        poll={"attempts": assessment.validate_attempts, "wait_seconds": assessment.wait_seconds},
        restore=restore,
        dns=dns,
        incident={
            "pk": keys.fleet_pk(assessment.fleet),
            "sk": INCIDENT_PREFIX + assessment.incident_id,
            "now": iso_utc(now),
            "status": "dry_run" if assessment.dry_run else "recovering",
            "source": assessment.source,
            "expires_at": str(int(now) + config.record_ttl_seconds),
        },
    )
    return result.model_dump()


# -- scale -------------------------------------------------------------------------------------


def _claim(
    deps: TaskDeps, plan: RecoveryPlan, action: Action, execution: ExecutionRef
) -> dict[str, Any] | None:
    """Claim `action` in the incident record; returns the existing claim if another execution
    (or an earlier attempt of this one) made it."""
    table = deps.table
    key = incident_key(plan.fleet, plan.incident_id)
    claim = {
        "status": "claimed",
        "by": execution.id,
        "region": action.region,
        "asg": action.asg,
        "kind": action.kind,
        "desired_from": action.desired_from,
        "desired_to": action.desired_to,
        "at": iso_utc(deps.clock()),
    }
    try:
        table.guard.call(
            table.client.update_item,
            TableName=table.name,
            Key=key.as_dynamo(),
            UpdateExpression="SET #actions.#id = :claim",
            ConditionExpression="attribute_exists(#actions) AND attribute_not_exists(#actions.#id)",
            ExpressionAttributeNames={"#actions": "actions", "#id": action.id},
            ExpressionAttributeValues={":claim": serialize(claim)},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        current = deserialize_item(exc.response.get("Item") or {})
        if "actions" not in current:
            raise PreconditionFailed(
                f"incident record {key.sk} of fleet {plan.fleet} is missing (RecordIncident did not run?)"
            ) from None
        existing: dict[str, Any] = dict(current["actions"].get(action.id) or {"by": "?"})
        return existing
    return None


def _set_action_status(
    deps: TaskDeps, plan: RecoveryPlan, action: Action, status: str, error: str | None = None
) -> None:
    table = deps.table
    values: dict[str, Any] = {":status": serialize(status)}
    expression = "SET #actions.#id.#status = :status"
    if error:
        expression += ", #actions.#id.#error = :error"
        values[":error"] = serialize(error)
    table.guard.call(
        table.client.update_item,
        TableName=table.name,
        Key=incident_key(plan.fleet, plan.incident_id).as_dynamo(),
        UpdateExpression=expression,
        ExpressionAttributeNames={
            "#actions": "actions",
            "#id": action.id,
            "#status": "status",
            **({"#error": "error"} if error else {}),
        },
        ExpressionAttributeValues=values,
    )


def _release_claim(
    deps: TaskDeps, plan: RecoveryPlan, action: Action, execution: ExecutionRef
) -> None:
    table = deps.table
    table.guard.call(
        table.client.update_item,
        TableName=table.name,
        Key=incident_key(plan.fleet, plan.incident_id).as_dynamo(),
        UpdateExpression="REMOVE #actions.#id",
        ConditionExpression="#actions.#id.#by = :me",
        ExpressionAttributeNames={"#actions": "actions", "#id": action.id, "#by": "by"},
        ExpressionAttributeValues={":me": serialize(execution.id)},
    )


def _target(action: Action, desired_to: int) -> dict[str, Any]:
    """What validation expects of a group scaled to `desired_to`: every instance in service and
    healthy except those that were unhealthy when the incident was assessed."""
    unhealthy = action.desired_to - action.required_serving
    return {
        "id": action.id,
        "region": action.region,
        "asg": action.asg,
        "required_serving": max(0, desired_to - unhealthy),
    }


def scale(request: ScaleRequest, deps: TaskDeps) -> dict[str, Any]:
    plan = request.plan
    applied: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    if plan.dry_run:
        return {
            "applied": [],
            "skipped": [
                {"id": a.id, "reason": "dry run", "desired_to": a.desired_to} for a in plan.actions
            ],
            "targets": [],
        }
    for action in plan.actions:
        existing = _claim(deps, plan, action, request.execution)
        ours = existing is not None and existing.get("by") == request.execution.id
        if existing is not None and not (ours and existing.get("status") == "claimed"):
            # Applied (or being applied) for this incident already: never scale twice; validate
            # against what was applied then.
            desired_to = int(existing.get("desired_to", action.desired_to))
            skipped.append(
                {
                    "id": action.id,
                    "reason": f"already {existing.get('status', 'claimed')} by {existing.get('by')}",
                    "desired_to": desired_to,
                }
            )
            targets.append(_target(action, desired_to))
            continue
        params: dict[str, Any] = {
            "AutoScalingGroupName": action.asg,
            "DesiredCapacity": action.desired_to,
            "MaxSize": action.max_to,
        }
        if action.subnets_to:
            params["VPCZoneIdentifier"] = ",".join(action.subnets_to)
        try:
            deps.clients.call("autoscaling", action.region, "update_auto_scaling_group", **params)
        except (ClientError, BotoCoreError, CircuitOpenError):
            # Free the claim so a retry (this execution's or the next one's) can apply it.
            _release_claim(deps, plan, action, request.execution)
            raise
        _set_action_status(deps, plan, action, "applied")
        applied.append(
            {"id": action.id, "desired_from": action.desired_from, "desired_to": action.desired_to}
        )
        targets.append(_target(action, action.desired_to))
    return {"applied": applied, "skipped": skipped, "targets": targets}


# -- validate ----------------------------------------------------------------------------------


def validate(request: ValidateRequest, deps: TaskDeps) -> dict[str, Any]:
    attempt = request.attempt + 1
    shortfalls: list[str] = []
    met: list[str] = []
    for target in request.targets:
        group = aws.describe_asg(deps.clients, target.region, target.asg)
        if group is None:
            shortfalls.append(f"{target.id}: group not found")
            continue
        serving = sum(1 for i in aws.instances_of(group) if i.serving)
        if serving < target.required_serving:
            shortfalls.append(
                f"{target.id}: {serving}/{target.required_serving} in service and healthy"
            )
        else:
            met.append(f"{target.id}: {serving}/{target.required_serving}")
    summary = (
        f"capacity targets met ({'; '.join(met) or 'no scaling needed'})"
        if not shortfalls
        else "capacity targets not met: " + "; ".join(shortfalls)
    )
    return {
        "attempt": attempt,
        "met": not shortfalls,
        "summary": f"{summary} after {attempt} check(s)",
    }


# -- finish ------------------------------------------------------------------------------------


def finish(request: FinishRequest, deps: TaskDeps) -> dict[str, Any]:
    state = request.state
    raw_plan = state.get("plan")
    plan = RecoveryPlan.model_validate(raw_plan) if isinstance(raw_plan, dict) else None
    fleet = plan.fleet if plan else str(state.get("fleet", "?"))
    incident = plan.incident_id if plan else str(state.get("incident_id", "?"))
    what = f"Recovery of fleet {fleet} (incident {incident})"
    scaling = state.get("scaling") or {}
    applied = [
        f"{a['id']} {a['desired_from']}->{a['desired_to']}" for a in scaling.get("applied") or []
    ]
    skipped = [f"{s['id']} ({s['reason']})" for s in scaling.get("skipped") or []]
    parts: list[str] = []
    if applied:
        parts.append("scaled " + ", ".join(applied))
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    restore = state.get("restore")
    if isinstance(restore, dict) and restore.get("status"):
        parts.append(
            f"registry restore {restore.get('status')} from backup {restore.get('backup_id')} "
            f"({restore.get('items', '?')} items)"
        )
    dns = state.get("dns")
    if isinstance(dns, dict) and dns.get("change_id"):
        parts.append(f"Route 53 change {dns['change_id']} ({dns.get('status')})")
    done = "; ".join(parts)
    details: dict[str, Any] = {
        "fleet": fleet,
        "incident_id": incident,
        "execution": request.execution.id,
        "strategy": plan.strategy if plan else None,
        "scaling": scaling,
    }
    failure = state.get("failure")
    incident_status = "failed"
    if plan is None:
        error, message = failure_text(failure)
        outcome = Outcome(
            "recovery",
            "refused",
            "RecoveryRefused",
            f"{what} refused ({error}): {message}. Nothing was changed.",
            kind="recovery.refused",
            title=f"Recovery of {fleet} refused",
            severity="warning",
        )
        incident_status = ""
    elif failure is not None:
        error, message = failure_text(failure)
        name = {
            "NoHealthyCapacity": "NoHealthyCapacity",
            "RecoveryNotValidated": "RecoveryIncomplete",
        }.get(error, "RecoveryFailed")
        cause = f"{what} failed ({error}): {message}."
        if done:
            cause += f" Done before the failure: {done}."
        outcome = Outcome(
            "recovery",
            "failed",
            name,
            cause,
            kind="recovery.failed",
            title=f"Recovery of {fleet} FAILED",
            severity="critical",
        )
    elif plan.dry_run:
        planned = [f"{a.id} {a.desired_from}->{a.desired_to}" for a in plan.actions]
        outcome = Outcome(
            "recovery",
            "succeeded",
            "",
            f"{what}, dry run: {plan.summary}. Would scale: {', '.join(planned) or 'nothing'}; "
            f"restore: {'yes' if plan.restore.get('needed') else 'no'}; "
            f"DNS change: {'yes' if plan.dns.get('change') else 'no'}.",
            kind="recovery.dry_run",
            title=f"Recovery of {fleet}: dry run",
        )
        incident_status = "dry_run"
    else:
        outcome = Outcome(
            "recovery",
            "succeeded",
            "",
            f"{what} succeeded: {plan.summary}."
            + (f" {done[:1].upper()}{done[1:]}." if done else ""),
            kind="recovery.succeeded" if plan.strategy != "none" else "recovery.no_action",
            title=f"Recovery of {fleet}: {plan.strategy.replace('_', ' ')}",
            severity="warning" if plan.strategy != "none" else "info",
        )
        incident_status = "recovered"
    outcome.details = details
    rendered = outcome.render(deps)
    if plan is not None and incident_status:
        rendered["incident"] = serialize_item(
            {
                ":status": incident_status,
                ":summary": outcome.cause,
                ":now": iso_utc(deps.clock()),
            }
        )
    return rendered
