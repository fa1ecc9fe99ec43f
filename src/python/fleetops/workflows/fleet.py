"""Reads and the few writes the tasks make on the fleet itself, through `AwsClients`
(retried, behind per-dependency breakers), in any fleet region.

Why a task calls these instead of the state machine calling AWS natively: either the step has
logic around the call (aggregating health, idempotency), or the call is outside what native
integrations can do (another region; or `elasticloadbalancingv2`, see `traffic`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from fleetops.core.aws import AwsClients, error_code

HEALTHY = "Healthy"
IN_SERVICE = "InService"
STANDBY = "Standby"
MAX_STANDBY_BATCH = 20
"""EnterStandby / ExitStandby accept at most 20 instance IDs per call."""


@dataclass(frozen=True)
class AsgInstance:
    instance_id: str
    az: str
    lifecycle_state: str
    health_status: str

    @property
    def serving(self) -> bool:
        return self.lifecycle_state == IN_SERVICE and self.health_status == HEALTHY


def _instance(raw: dict[str, Any]) -> AsgInstance:
    return AsgInstance(
        instance_id=str(raw["InstanceId"]),
        az=str(raw.get("AvailabilityZone", "")),
        lifecycle_state=str(raw.get("LifecycleState", "")),
        health_status=str(raw.get("HealthStatus", "")),
    )


def instances_of(group: dict[str, Any]) -> list[AsgInstance]:
    return [_instance(raw) for raw in group.get("Instances", ())]


def tags_of(group: dict[str, Any]) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in group.get("Tags", ())}


def describe_asg(clients: AwsClients, region: str, name: str) -> dict[str, Any] | None:
    response = clients.call(
        "autoscaling", region, "describe_auto_scaling_groups", AutoScalingGroupNames=[name]
    )
    groups = response.get("AutoScalingGroups", [])
    return dict(groups[0]) if groups else None


def fleet_asgs(clients: AwsClients, region: str, tag_key: str, fleet: str) -> list[dict[str, Any]]:
    """Every Auto Scaling group tagged `<tag_key>=<fleet>` in `region`."""
    groups: list[dict[str, Any]] = []
    for page in clients.pages(
        "autoscaling",
        region,
        "describe_auto_scaling_groups",
        Filters=[{"Name": f"tag:{tag_key}", "Values": [fleet]}],
    ):
        groups.extend(page.get("AutoScalingGroups", ()))
    return groups


def target_health(clients: AwsClients, region: str, target_group_arn: str) -> dict[str, str]:
    """Target id -> state (`healthy`, `unhealthy`, `initial`, `draining`, `unused`...)."""
    response = clients.call(
        "elbv2", region, "describe_target_health", TargetGroupArn=target_group_arn
    )
    return {
        str(item["Target"]["Id"]): str(item.get("TargetHealth", {}).get("State", "unknown"))
        for item in response.get("TargetHealthDescriptions", ())
    }


def launch_template_version(
    clients: AwsClients, region: str, *, template_id: str | None, name: str | None, version: str
) -> tuple[str, str] | None:
    """(template id, version number) if that version exists, else None."""
    params: dict[str, Any] = {"Versions": [version]}
    if template_id:
        params["LaunchTemplateId"] = template_id
    else:
        params["LaunchTemplateName"] = name
    try:
        response = clients.call("ec2", region, "describe_launch_template_versions", **params)
    except ClientError as exc:
        if error_code(exc).startswith(("InvalidLaunchTemplate", "InvalidParameter")):
            return None
        raise
    versions = response.get("LaunchTemplateVersions", [])
    if not versions:
        return None
    found = versions[0]
    return str(found["LaunchTemplateId"]), str(found["VersionNumber"])


def set_listener_weights(
    clients: AwsClients, region: str, listener_arn: str, weights: Sequence[tuple[str, int]]
) -> None:
    """Forward the listener's default action to the target groups with these weights."""
    clients.call(
        "elbv2",
        region,
        "modify_listener",
        ListenerArn=listener_arn,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights
                    ]
                },
            }
        ],
    )


def listener_weights(clients: AwsClients, region: str, listener_arn: str) -> dict[str, int]:
    """Target group ARN -> weight of the listener's default forward action."""
    response = clients.call("elbv2", region, "describe_listeners", ListenerArns=[listener_arn])
    weights: dict[str, int] = {}
    for listener in response.get("Listeners", ()):
        for action in listener.get("DefaultActions", ()):
            if action.get("Type") != "forward":
                continue
            groups = action.get("ForwardConfig", {}).get("TargetGroups")
            if groups:
                for group in groups:
                    weights[str(group["TargetGroupArn"])] = int(group.get("Weight", 1))
            elif action.get("TargetGroupArn"):
                weights[str(action["TargetGroupArn"])] = 1
    return weights


def register_targets(
    clients: AwsClients, region: str, target_group_arn: str, instance_ids: Iterable[str]
) -> None:
    targets = [{"Id": instance_id} for instance_id in instance_ids]
    if targets:
        clients.call(
            "elbv2", region, "register_targets", TargetGroupArn=target_group_arn, Targets=targets
        )


def deregister_targets(
    clients: AwsClients, region: str, target_group_arn: str, instance_ids: Iterable[str]
) -> list[str]:
    """Deregister those of `instance_ids` that are registered; returns the ones deregistered."""
    registered = target_health(clients, region, target_group_arn)
    targets = [
        {"Id": instance_id}
        for instance_id in instance_ids
        if registered.get(instance_id, "unused") not in ("unused", "draining")
    ]
    if targets:
        clients.call(
            "elbv2",
            region,
            "deregister_targets",
            TargetGroupArn=target_group_arn,
            Targets=targets,
        )
    return [target["Id"] for target in targets]


def deregistration_delay(clients: AwsClients, region: str, target_group_arn: str) -> int:
    response = clients.call(
        "elbv2", region, "describe_target_group_attributes", TargetGroupArn=target_group_arn
    )
    for attribute in response.get("Attributes", ()):
        if attribute.get("Key") == "deregistration_delay.timeout_seconds":
            return int(attribute.get("Value") or 0)
    return 300


def command_statuses(
    clients: AwsClients, region: str, command_id: str, instance_ids: Iterable[str]
) -> dict[str, str]:
    """Instance id -> status of its invocation of an SSM Run Command (`Success`, `Failed`...)."""
    statuses: dict[str, str] = {}
    for instance_id in instance_ids:
        try:
            response = clients.call(
                "ssm",
                region,
                "get_command_invocation",
                CommandId=command_id,
                InstanceId=instance_id,
            )
            statuses[instance_id] = str(response.get("Status", "Unknown"))
        except ClientError as exc:
            if error_code(exc) in ("InvocationDoesNotExist", "InvalidCommandId"):
                statuses[instance_id] = "NotRun"
            else:
                raise
    return statuses


def instance_states(
    clients: AwsClients, region: str, instance_ids: Sequence[str]
) -> dict[str, str]:
    """Instance id -> EC2 state name; instances EC2 does not know are absent."""
    if not instance_ids:
        return {}
    states: dict[str, str] = {}
    for page in clients.pages("ec2", region, "describe_instances", InstanceIds=list(instance_ids)):
        for reservation in page.get("Reservations", ()):
            for instance in reservation.get("Instances", ()):
                states[str(instance["InstanceId"])] = str(instance["State"]["Name"])
    return states


def impaired_instances(clients: AwsClients, region: str, instance_ids: Sequence[str]) -> set[str]:
    """Instances whose EC2 status checks are `impaired` (unknown/initializing are not)."""
    if not instance_ids:
        return set()
    impaired: set[str] = set()
    for page in clients.pages(
        "ec2",
        region,
        "describe_instance_status",
        InstanceIds=list(instance_ids),
        IncludeAllInstances=True,
    ):
        for status in page.get("InstanceStatuses", ()):
            checks = (
                status.get("InstanceStatus", {}).get("Status"),
                status.get("SystemStatus", {}).get("Status"),
            )
            if "impaired" in checks:
                impaired.add(str(status["InstanceId"]))
    return impaired


def subnet_azs(clients: AwsClients, region: str, subnet_ids: Sequence[str]) -> dict[str, str]:
    if not subnet_ids:
        return {}
    response = clients.call("ec2", region, "describe_subnets", SubnetIds=list(subnet_ids))
    return {
        str(subnet["SubnetId"]): str(subnet["AvailabilityZone"])
        for subnet in response.get("Subnets", ())
    }
