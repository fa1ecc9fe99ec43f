"""What EC2 and the load balancers say about the instances of one region.

Per region, whatever the number of fleets in the run:
- DescribeInstanceStatus (`IncludeAllInstances`, 1000 per page): instance and system status
  checks of every instance in the region, paged; one pass serves every fleet. (Asking by
  instance id would cost a request per 100 instances and fail as a whole on one id EC2 has
  forgotten.)
- DescribeAutoScalingGroups for the fleets' ASG names (50 per request): live lifecycle state
  and ASG health of members, and the ASGs' target groups.
- DescribeTargetHealth once per target group attached to those ASGs.

A failure of the status read fails the region (every instance there is `unknown`); a failure
of an ASG or target-group read only makes the affected instances' load-balancer verdict
unknown. Faults are isolated per region by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fleetops.core.aws import AwsClients, error_summary
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import logger
from fleetops.health_check.records import Health

STATUS_PAGE_SIZE = 1000
ASG_NAMES_PER_REQUEST = 50
IMPAIRED_STATUS = "impaired"
UNHEALTHY_TARGET = "unhealthy"
RUNNING = "running"

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)


@dataclass(frozen=True, slots=True)
class StatusChecks:
    """DescribeInstanceStatus for one instance."""

    instance_id: str
    state: str
    az: str | None
    system: str
    instance: str
    failed_checks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TargetHealth:
    target_group: str
    state: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class AsgMember:
    asg: str
    lifecycle_state: str
    health_status: str


@dataclass
class RegionChecks:
    """Everything observed in one region."""

    region: str
    statuses: dict[str, StatusChecks] = field(default_factory=dict)
    members: dict[str, AsgMember] = field(default_factory=dict)
    asg_target_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    targets: dict[str, list[TargetHealth]] = field(default_factory=dict)
    asg_errors: dict[str, str] = field(default_factory=dict)
    target_group_errors: dict[str, str] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return bool(self.asg_errors or self.target_group_errors)

    def first_error(self) -> str | None:
        errors = {**self.asg_errors, **self.target_group_errors}
        if not errors:
            return None
        subject = next(iter(errors))
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{subject}: {errors[subject]}{more}"


@dataclass(frozen=True, slots=True)
class Observation:
    """This run's verdict about one instance; `checked=False` means it was not examined."""

    health: Health | None
    reason: str
    lifecycle_state: str | None = None
    asg: str | None = None
    asg_health: str | None = None

    @property
    def checked(self) -> bool:
        return self.health is not None


def _target_group_name(arn: str) -> str:
    # arn:aws:elasticloadbalancing:<region>:<acct>:targetgroup/<name>/<id>
    parts = arn.rsplit(":", maxsplit=1)[-1].split("/")
    return parts[1] if len(parts) >= 2 else arn


def _failed_details(block: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(detail.get("Name"))
        for detail in block.get("Details") or ()
        if detail.get("Status") == "failed"
    )


def _read_statuses(clients: AwsClients, checks: RegionChecks) -> None:
    for page in clients.pages(
        "ec2",
        checks.region,
        "describe_instance_status",
        IncludeAllInstances=True,
        MaxResults=STATUS_PAGE_SIZE,
    ):
        for raw in page.get("InstanceStatuses", ()):
            system = raw.get("SystemStatus") or {}
            instance = raw.get("InstanceStatus") or {}
            status = StatusChecks(
                instance_id=str(raw["InstanceId"]),
                state=str((raw.get("InstanceState") or {}).get("Name", "unknown")),
                az=raw.get("AvailabilityZone"),
                system=str(system.get("Status", "not-applicable")),
                instance=str(instance.get("Status", "not-applicable")),
                failed_checks=_failed_details(system) + _failed_details(instance),
            )
            checks.statuses[status.instance_id] = status


def _read_asgs(clients: AwsClients, checks: RegionChecks, asg_names: Sequence[str]) -> None:
    for start in range(0, len(asg_names), ASG_NAMES_PER_REQUEST):
        batch = list(asg_names[start : start + ASG_NAMES_PER_REQUEST])
        try:
            for page in clients.pages(
                "autoscaling",
                checks.region,
                "describe_auto_scaling_groups",
                AutoScalingGroupNames=batch,
                MaxRecords=100,
            ):
                for group in page.get("AutoScalingGroups", ()):
                    name = str(group["AutoScalingGroupName"])
                    checks.asg_target_groups[name] = tuple(group.get("TargetGroupARNs") or ())
                    for member in group.get("Instances", ()):
                        checks.members[str(member["InstanceId"])] = AsgMember(
                            asg=name,
                            lifecycle_state=str(member.get("LifecycleState", "")),
                            health_status=str(member.get("HealthStatus", "")),
                        )
        except AWS_ERRORS as exc:
            for name in batch:
                checks.asg_errors[name] = error_summary(exc)
            logger.warning(
                "ASG read failed",
                extra={"region": checks.region, "asgs": batch, "error": error_summary(exc)},
            )


def _read_target_health(clients: AwsClients, checks: RegionChecks) -> None:
    target_groups = sorted({arn for arns in checks.asg_target_groups.values() for arn in arns})
    for arn in target_groups:
        try:
            response = clients.call(
                "elbv2", checks.region, "describe_target_health", TargetGroupArn=arn
            )
        except AWS_ERRORS as exc:
            checks.target_group_errors[arn] = error_summary(exc)
            logger.warning(
                "target health read failed",
                extra={"region": checks.region, "target_group": arn, "error": error_summary(exc)},
            )
            continue
        name = _target_group_name(arn)
        for description in response.get("TargetHealthDescriptions", ()):
            target_id = str((description.get("Target") or {}).get("Id", ""))
            health = description.get("TargetHealth") or {}
            checks.targets.setdefault(target_id, []).append(
                TargetHealth(name, str(health.get("State", "")), health.get("Reason"))
            )


def fetch_region_checks(clients: AwsClients, region: str, asg_names: Iterable[str]) -> RegionChecks:
    """Read the region's status checks, ASG membership and target health.

    Raises when the status checks themselves cannot be read (the region counts as down).
    """
    checks = RegionChecks(region)
    _read_statuses(clients, checks)
    _read_asgs(clients, checks, sorted(set(asg_names)))
    _read_target_health(clients, checks)
    return checks


def observe(instance_id: str, registry_asg: str | None, checks: RegionChecks) -> Observation:
    """Combine the checks into one verdict for an instance.

    impaired: a failed system or instance status check, or `unhealthy` in any target group of
    its ASG. healthy: running, status checks not impaired (initializing counts as not impaired)
    and no load-balancer verdict missing. unknown: the load-balancer verdict could not be read.
    Not checked: EC2 no longer lists it, or it is not running.
    """
    status = checks.statuses.get(instance_id)
    member = checks.members.get(instance_id)
    asg = member.asg if member else registry_asg
    lifecycle = member.lifecycle_state if member else None
    asg_health = member.health_status if member else None
    if status is None:
        return Observation(None, "not listed by EC2", lifecycle, asg, asg_health)
    if status.state != RUNNING:
        return Observation(None, f"instance is {status.state}", lifecycle, asg, asg_health)

    reasons: list[str] = []
    failed = f" ({', '.join(status.failed_checks)} failed)" if status.failed_checks else ""
    if status.system == IMPAIRED_STATUS:
        reasons.append(f"system status impaired{failed}")
    if status.instance == IMPAIRED_STATUS:
        reasons.append(f"instance status impaired{failed}")
    for target in checks.targets.get(instance_id, ()):
        if target.state == UNHEALTHY_TARGET:
            reasons.append(f"target group {target.target_group} unhealthy ({target.reason or '-'})")
    if reasons:
        return Observation(Health.IMPAIRED, "; ".join(reasons), lifecycle, asg, asg_health)

    if asg is not None:
        if asg in checks.asg_errors:
            return Observation(
                Health.UNKNOWN,
                f"target health unavailable: {checks.asg_errors[asg]}",
                lifecycle,
                asg,
                asg_health,
            )
        missing = [
            arn
            for arn in checks.asg_target_groups.get(asg, ())
            if arn in checks.target_group_errors
        ]
        if missing:
            return Observation(
                Health.UNKNOWN,
                f"target health unavailable for {_target_group_name(missing[0])}: "
                f"{checks.target_group_errors[missing[0]]}",
                lifecycle,
                asg,
                asg_health,
            )
    return Observation(Health.HEALTHY, "status checks ok", lifecycle, asg, asg_health)
