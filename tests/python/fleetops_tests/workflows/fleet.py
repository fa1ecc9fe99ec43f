"""Build a fleet in moto: registry table, notification inbox, network, load balancer with blue and
green target groups, launch template versions, Auto Scaling groups tagged with the fleet; and
registry items as fleet-sync would have written them.

Generic enough for `fleetops_tests.support` (its `aws_fleet` is announced but not there yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3

from fleetops.core.clock import iso_utc
from fleetops.core.registry import (
    FleetIndexRecord,
    FleetRecord,
    RegionStatusRecord,
    RegistryTable,
    keys,
)
from fleetops_tests.support.aws_fleet import IMAGE_ID as AMI
from fleetops_tests.support.aws_fleet import create_launch_template, create_network
from fleetops_tests.support.env import TAG_KEY
from fleetops_tests.workflows.harness import HOME, TABLE


def registry_table(region: str = HOME) -> RegistryTable:
    return RegistryTable(boto3.client("dynamodb", region_name=region), TABLE)


@dataclass
class RegionFleet:
    """One region of a fleet: network, launch template, load balancer, groups."""

    fleet: str
    region: str
    azs: tuple[str, ...] = ("a", "b", "c")
    ec2: Any = field(init=False)
    asg: Any = field(init=False)
    elbv2: Any = field(init=False)
    subnets: dict[str, str] = field(default_factory=dict)
    launch_template_id: str = ""
    vpc_id: str = ""
    listener_arn: str = ""
    blue_tg: str = ""
    green_tg: str = ""

    def __post_init__(self) -> None:
        self.ec2 = boto3.client("ec2", region_name=self.region)
        self.asg = boto3.client("autoscaling", region_name=self.region)
        self.elbv2 = boto3.client("elbv2", region_name=self.region)
        network = create_network(self.region, [f"{self.region}{az}" for az in self.azs])
        self.vpc_id = network.vpc_id
        self.subnets = dict(network.subnets)
        self.launch_template_id = create_launch_template(self.region, f"{self.fleet}-lt").id

    def new_template_version(self, image: str = AMI) -> str:
        version = self.ec2.create_launch_template_version(
            LaunchTemplateId=self.launch_template_id,
            LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small"},
        )["LaunchTemplateVersion"]
        return str(version["VersionNumber"])

    def load_balancer(self) -> None:
        """An ALB whose listener forwards to blue (100) and green (0), all tagged with the fleet:
        the deployed roles may change only load balancing resources that carry the fleet tag."""
        tags = [{"Key": TAG_KEY, "Value": self.fleet}]
        lb = self.elbv2.create_load_balancer(
            Name=f"{self.fleet}-alb",
            Subnets=list(self.subnets.values())[:2],
            Type="application",
            Tags=tags,
        )["LoadBalancers"][0]
        tgs = []
        for color in ("blue", "green"):
            tg = self.elbv2.create_target_group(
                Name=f"{self.fleet}-{color}",
                Protocol="HTTP",
                Port=80,
                VpcId=self.vpc_id,
                TargetType="instance",
                Tags=tags,
            )["TargetGroups"][0]["TargetGroupArn"]
            self.elbv2.modify_target_group_attributes(
                TargetGroupArn=tg,
                Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}],
            )
            tgs.append(tg)
        self.blue_tg, self.green_tg = tgs
        self.listener_arn = self.elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": self.blue_tg, "Weight": 100},
                            {"TargetGroupArn": self.green_tg, "Weight": 0},
                        ]
                    },
                }
            ],
            Tags=tags,
        )["Listeners"][0]["ListenerArn"]

    def group(
        self,
        name: str,
        desired: int,
        *,
        azs: tuple[str, ...] | None = None,
        target_groups: list[str] | None = None,
        version: str = "1",
        max_size: int | None = None,
    ) -> list[str]:
        subnets = [self.subnets[f"{self.region}{az}"] for az in (azs or self.azs)]
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=min(desired, 1),
            MaxSize=max_size or max(desired * 2, 1),
            DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": self.launch_template_id, "Version": version},
            VPCZoneIdentifier=",".join(subnets),
            TargetGroupARNs=target_groups or [],
            Tags=[{"Key": TAG_KEY, "Value": self.fleet, "PropagateAtLaunch": True}],
        )
        return self.instance_ids(name)

    def describe(self, name: str) -> dict[str, Any] | None:
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        return groups[0] if groups else None

    def instance_ids(self, name: str) -> list[str]:
        group = self.describe(name)
        return sorted(i["InstanceId"] for i in group["Instances"]) if group else []

    def lifecycle(self, name: str) -> dict[str, str]:
        group = self.describe(name)
        return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]} if group else {}

    def target_states(self, tg: str) -> dict[str, str]:
        health = self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return {item["Target"]["Id"]: item["TargetHealth"]["State"] for item in health}

    def weights(self) -> dict[str, int]:
        listener = self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]
        action = listener["DefaultActions"][0]
        if "ForwardConfig" in action:
            return {
                tg["TargetGroupArn"]: int(tg.get("Weight", 1))
                for tg in action["ForwardConfig"]["TargetGroups"]
            }
        return {action["TargetGroupArn"]: 1}


class FleetRegion(Protocol):
    """What `seed_registry` reads of a region: its name and an Auto Scaling client."""

    region: str
    asg: Any


def seed_registry(
    table: RegistryTable, fleet: str, regions: Sequence[FleetRegion], *, now: float = 1_700_000_000
) -> None:
    """Registry items as fleet-sync writes them: fleet, index, region status, groups, instances."""
    seen = iso_utc(now)
    items: list[dict[str, Any]] = [
        FleetRecord(fleet=fleet, tag_key=TAG_KEY, first_seen=seen).to_item(),
        FleetIndexRecord(fleet=fleet, first_seen=seen).to_item(),
    ]
    for region_fleet in regions:
        groups = region_fleet.asg.describe_auto_scaling_groups(
            Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [fleet]}]
        )["AutoScalingGroups"]
        count = 0
        for group in groups:
            name = group["AutoScalingGroupName"]
            items.append(
                {
                    **keys.asg_key(fleet, region_fleet.region, name).as_dict(),
                    "entity": "asg",
                    "fleet": fleet,
                    "region": region_fleet.region,
                    "name": name,
                    "state": "active",
                    "min_size": group["MinSize"],
                    "max_size": group["MaxSize"],
                    "desired_capacity": group["DesiredCapacity"],
                    "azs": sorted(group["AvailabilityZones"]),
                    "sync_version": 1,
                    "version": 1,
                }
            )
            for instance in group["Instances"]:
                count += 1
                items.append(
                    {
                        **keys.instance_key(
                            fleet, region_fleet.region, instance["InstanceId"]
                        ).as_dict(),
                        "entity": "instance",
                        "fleet": fleet,
                        "region": region_fleet.region,
                        "instance_id": instance["InstanceId"],
                        "state": "running",
                        "az": instance["AvailabilityZone"],
                        "asg": name,
                        "lifecycle_state": instance["LifecycleState"],
                        "sync_version": 1,
                        "version": 1,
                    }
                )
        items.append(
            RegionStatusRecord(
                fleet=fleet,
                region=region_fleet.region,
                status="ok",
                instance_count=count,
                asg_count=len(groups),
                synced_at=seen,
            ).to_item()
        )
    table.batch_write(items)
