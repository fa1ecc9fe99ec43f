"""What EC2 and Auto Scaling report for the fleets of one region.

Two paginated reads per region, whatever the fleet size: DescribeAutoScalingGroups and
DescribeInstances, both filtered on the fleet tag (its key when discovering, its values when
the run names fleets). Each page is folded into small frozen records and dropped, so memory
holds one raw page plus the compact inventory.

Fleet membership comes from each resource's own fleet tag. An instance's ASG, lifecycle state
and launch template version come from the ASG's instance list (authoritative), falling back to
the `aws:autoscaling:groupName` / `aws:ec2launchtemplate:*` tags EC2 puts on instances.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetops.core.aws import AwsClients
from fleetops.core.observability import logger

ASG_TAG = "aws:autoscaling:groupName"
LT_ID_TAG = "aws:ec2launchtemplate:id"
LT_VERSION_TAG = "aws:ec2launchtemplate:version"
_VALID_FLEET = re.compile(r"^[^#\s][^#]{0,127}$")
ASG_PAGE_SIZE = 100
GONE_STATES = frozenset({"terminated", "shutting-down"})


@dataclass(frozen=True, slots=True)
class AsgMember:
    instance_id: str
    az: str
    lifecycle_state: str
    health_status: str | None
    launch_template_id: str | None
    launch_template_version: str | None


@dataclass(frozen=True, slots=True)
class ObservedAsg:
    name: str
    fleet: str
    min_size: int
    max_size: int
    desired_capacity: int
    azs: tuple[str, ...]
    launch_template_id: str | None
    launch_template_version: str | None
    members: tuple[AsgMember, ...]

    @property
    def in_service(self) -> tuple[AsgMember, ...]:
        return tuple(member for member in self.members if member.lifecycle_state == "InService")


@dataclass(frozen=True, slots=True)
class ObservedInstance:
    instance_id: str
    fleet: str
    state: str
    az: str
    instance_type: str
    asg: str | None
    launch_template_id: str | None
    launch_template_version: str | None
    lifecycle_state: str | None

    @property
    def alive(self) -> bool:
        return self.state not in GONE_STATES


@dataclass
class RegionInventory:
    """Everything observed in one region, grouped by fleet."""

    region: str
    instances: dict[str, dict[str, ObservedInstance]] = field(default_factory=dict)
    asgs: dict[str, dict[str, ObservedAsg]] = field(default_factory=dict)
    pages: Counter[str] = field(default_factory=Counter)

    def fleets(self) -> set[str]:
        return set(self.instances) | set(self.asgs)

    def fleet_instances(self, fleet: str) -> Mapping[str, ObservedInstance]:
        return self.instances.get(fleet, {})

    def fleet_asgs(self, fleet: str) -> Mapping[str, ObservedAsg]:
        return self.asgs.get(fleet, {})


def _tags(raw: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in raw or ()}


def _fleet_of(tags: Mapping[str, str], tag_key: str, resource: str, region: str) -> str | None:
    value = tags.get(tag_key)
    if value is None:
        return None
    if not _VALID_FLEET.match(value):
        logger.warning(
            "ignoring resource with unusable fleet tag",
            extra={"resource": resource, "region": region, "tag_value": value},
        )
        return None
    return value


def _launch_template(spec: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    if not spec:
        return None, None
    template_id = spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName")
    version = spec.get("Version")
    return (str(template_id) if template_id else None, str(version) if version else None)


def _asg_launch_template(group: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if group.get("LaunchTemplate"):
        return _launch_template(group["LaunchTemplate"])
    mixed = group.get("MixedInstancesPolicy") or {}
    return _launch_template(mixed.get("LaunchTemplate", {}).get("LaunchTemplateSpecification"))


def _observe_asg(group: Mapping[str, Any], fleet: str) -> ObservedAsg:
    template_id, template_version = _asg_launch_template(group)
    members = []
    for raw in group.get("Instances", ()):
        member_template = _launch_template(raw.get("LaunchTemplate"))
        members.append(
            AsgMember(
                instance_id=raw["InstanceId"],
                az=raw.get("AvailabilityZone", ""),
                lifecycle_state=raw.get("LifecycleState", ""),
                health_status=raw.get("HealthStatus"),
                launch_template_id=member_template[0],
                launch_template_version=member_template[1],
            )
        )
    return ObservedAsg(
        name=group["AutoScalingGroupName"],
        fleet=fleet,
        min_size=int(group.get("MinSize", 0)),
        max_size=int(group.get("MaxSize", 0)),
        desired_capacity=int(group.get("DesiredCapacity", 0)),
        azs=tuple(sorted(group.get("AvailabilityZones", ()))),
        launch_template_id=template_id,
        launch_template_version=template_version,
        members=tuple(members),
    )


def _tag_filter(tag_key: str, fleets: Collection[str] | None) -> list[dict[str, Any]]:
    if fleets:
        return [{"Name": f"tag:{tag_key}", "Values": sorted(fleets)}]
    return [{"Name": "tag-key", "Values": [tag_key]}]


def fetch_region_inventory(
    clients: AwsClients,
    region: str,
    *,
    tag_key: str,
    fleets: Collection[str] | None = None,
    page_size: int = 1000,
) -> RegionInventory:
    """Read the region's fleet-tagged ASGs and instances; raises if any page finally fails."""
    inventory = RegionInventory(region=region)
    filters = _tag_filter(tag_key, fleets)
    membership: dict[str, tuple[str, AsgMember]] = {}

    for page in clients.pages(
        "autoscaling",
        region,
        "describe_auto_scaling_groups",
        Filters=filters,
        MaxRecords=ASG_PAGE_SIZE,
    ):
        inventory.pages["autoscaling.DescribeAutoScalingGroups"] += 1
        for group in page.get("AutoScalingGroups", ()):
            fleet = _fleet_of(
                _tags(group.get("Tags")), tag_key, group["AutoScalingGroupName"], region
            )
            if fleet is None:
                continue
            asg = _observe_asg(group, fleet)
            inventory.asgs.setdefault(fleet, {})[asg.name] = asg
            for member in asg.members:
                membership[member.instance_id] = (asg.name, member)

    for page in clients.pages(
        "ec2", region, "describe_instances", Filters=filters, MaxResults=page_size
    ):
        inventory.pages["ec2.DescribeInstances"] += 1
        for reservation in page.get("Reservations", ()):
            for raw in reservation.get("Instances", ()):
                instance = _observe_instance(raw, tag_key, region, membership)
                if instance is not None:
                    fleet_instances = inventory.instances.setdefault(instance.fleet, {})
                    fleet_instances[instance.instance_id] = instance
    return inventory


def _observe_instance(
    raw: Mapping[str, Any],
    tag_key: str,
    region: str,
    membership: Mapping[str, tuple[str, AsgMember]],
) -> ObservedInstance | None:
    instance_id = str(raw["InstanceId"])
    tags = _tags(raw.get("Tags"))
    fleet = _fleet_of(tags, tag_key, instance_id, region)
    if fleet is None:
        return None
    member = membership.get(instance_id)
    if member is not None:
        asg_name: str | None = member[0]
        lifecycle: str | None = member[1].lifecycle_state
        template_id = member[1].launch_template_id or tags.get(LT_ID_TAG)
        template_version = member[1].launch_template_version or tags.get(LT_VERSION_TAG)
    else:
        # Not (or no longer) listed by any ASG: a detached, terminated or unmanaged instance.
        state = raw.get("State", {}).get("Name")
        asg_name = tags.get(ASG_TAG) if state in GONE_STATES else None
        lifecycle = None
        template_id = tags.get(LT_ID_TAG)
        template_version = tags.get(LT_VERSION_TAG)
    return ObservedInstance(
        instance_id=instance_id,
        fleet=sys.intern(fleet),
        state=sys.intern(str(raw.get("State", {}).get("Name", "unknown"))),
        az=sys.intern(str(raw.get("Placement", {}).get("AvailabilityZone", ""))),
        instance_type=sys.intern(str(raw.get("InstanceType", ""))),
        asg=_intern(asg_name),
        launch_template_id=_intern(template_id),
        launch_template_version=_intern(template_version),
        lifecycle_state=_intern(lifecycle),
    )


def _intern(value: str | None) -> str | None:
    # Thousands of instances share a few states, AZs, types and templates: keep one copy each.
    return None if value is None else sys.intern(value)
