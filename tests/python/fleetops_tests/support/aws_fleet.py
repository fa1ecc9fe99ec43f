"""Builders of real moto resources: the registry table, an SNS inbox, networks, fleets.

Everything goes through boto3 against moto (in-process `mock_aws` or a moto server via
`endpoint_url`), never through hand-written fakes, so the code under test sees AWS's real
response shapes, pagination and errors.

Two moto behaviours shape these helpers:
- an ASG launching its own instances puts them all in its first subnet, so balanced fleets are
  built by launching instances per AZ and attaching them (20 per AttachInstances call, as AWS);
- EC2 TerminateInstances on an ASG member makes the ASG launch a replacement, like AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from fleetops.core.registry import deserialize_item
from fleetops_tests.support.env import HOME_REGION, TABLE_NAME, TAG_KEY, TOPIC_NAME

IMAGE_ID = "ami-12c6146b"
"""An AMI moto knows in every region."""

ATTACH_LIMIT = 20


def aws(service: str, region: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


def create_registry_table(
    region: str = HOME_REGION, name: str = TABLE_NAME, endpoint_url: str | None = None
) -> None:
    """The registry table exactly as docs/CONVENTIONS.md describes it: pk/sk, TTL on expires_at."""
    ddb = aws("dynamodb", region, endpoint_url)
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def scan_table(
    region: str = HOME_REGION, name: str = TABLE_NAME, endpoint_url: str | None = None
) -> list[dict[str, Any]]:
    """Every item, deserialized (test assertions only: production code never scans)."""
    ddb = aws("dynamodb", region, endpoint_url)
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=name):
        items.extend(deserialize_item(raw) for raw in page["Items"])
    return items


def create_topic(
    region: str = HOME_REGION, name: str = TOPIC_NAME, endpoint_url: str | None = None
) -> str:
    arn: str = aws("sns", region, endpoint_url).create_topic(Name=name)["TopicArn"]
    return arn


class SnsInbox:
    """An SQS queue subscribed to a topic: what subscribers would receive, parsed."""

    def __init__(
        self, topic_arn: str, region: str = HOME_REGION, endpoint_url: str | None = None
    ) -> None:
        self.sqs = aws("sqs", region, endpoint_url)
        self.queue_url = self.sqs.create_queue(QueueName="fleetops-test-inbox")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        aws("sns", region, endpoint_url).subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn
        )

    def receive(self) -> list[dict[str, Any]]:
        """Drain the queue: SNS envelopes with `Subject`, `MessageAttributes` and `body` (parsed)."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["body"] = json.loads(envelope["Message"])
                received.append(envelope)
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@dataclass
class Network:
    region: str
    vpc_id: str
    subnets: dict[str, str]
    """AZ -> subnet id."""

    @property
    def azs(self) -> list[str]:
        return sorted(self.subnets)


def create_network(
    region: str, azs: Sequence[str] | None = None, endpoint_url: str | None = None
) -> Network:
    """A VPC with one /18 subnet per AZ (room for ~16k instances each); default AZs a, b, c."""
    zones = list(azs or (f"{region}a", f"{region}b", f"{region}c"))
    if len(zones) > 4:
        raise ValueError("at most 4 AZs fit the /16 VPC")
    ec2 = aws("ec2", region, endpoint_url)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {}
    for index, zone in enumerate(zones):
        subnet = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.0.{index * 64}.0/18", AvailabilityZone=zone
        )
        subnets[zone] = subnet["Subnet"]["SubnetId"]
    return Network(region, vpc_id, subnets)


@dataclass(frozen=True)
class LaunchTemplate:
    id: str
    name: str
    version: str


def create_launch_template(
    region: str,
    name: str = "fleet-lt",
    instance_type: str = "t3.micro",
    endpoint_url: str | None = None,
) -> LaunchTemplate:
    created = aws("ec2", region, endpoint_url).create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": instance_type},
    )["LaunchTemplate"]
    return LaunchTemplate(
        created["LaunchTemplateId"],
        created["LaunchTemplateName"],
        str(created["LatestVersionNumber"]),
    )


def launch_instances(
    region: str,
    *,
    network: Network,
    az: str,
    count: int,
    fleet: str | None,
    tag_key: str = TAG_KEY,
    launch_template: LaunchTemplate | None = None,
    batch_size: int = 500,
    extra_tags: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
) -> list[str]:
    """`count` running instances in `az`, tagged with the fleet (unless `fleet` is None)."""
    ec2 = aws("ec2", region, endpoint_url)
    tags = [{"Key": key, "Value": value} for key, value in (extra_tags or {}).items()]
    if fleet is not None:
        tags.append({"Key": tag_key, "Value": fleet})
    ids: list[str] = []
    remaining = count
    while remaining > 0:
        batch = min(batch_size, remaining)
        params: dict[str, Any] = {
            "MinCount": batch,
            "MaxCount": batch,
            "SubnetId": network.subnets[az],
        }
        if launch_template is not None:
            params["LaunchTemplate"] = {
                "LaunchTemplateId": launch_template.id,
                "Version": launch_template.version,
            }
        else:
            params["ImageId"] = IMAGE_ID
            params["InstanceType"] = "t3.micro"
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        reservation = ec2.run_instances(**params)
        ids.extend(instance["InstanceId"] for instance in reservation["Instances"])
        remaining -= batch
    return ids


@dataclass
class BuiltAsg:
    region: str
    name: str
    fleet: str
    instance_ids: list[str] = field(default_factory=list)
    per_az: dict[str, list[str]] = field(default_factory=dict)


def _spread(total: int, azs: Sequence[str]) -> dict[str, int]:
    base, extra = divmod(total, len(azs))
    return {az: base + (1 if index < extra else 0) for index, az in enumerate(azs)}


def create_asg(
    region: str,
    *,
    network: Network,
    fleet: str,
    name: str,
    instances: int | Mapping[str, int],
    launch_template: LaunchTemplate,
    tag_key: str = TAG_KEY,
    batch_size: int = 500,
    endpoint_url: str | None = None,
) -> BuiltAsg:
    """An ASG over the network's AZs with `instances` (a total spread evenly, or per AZ)."""
    per_az = _spread(instances, network.azs) if isinstance(instances, int) else dict(instances)
    total = sum(per_az.values())
    autoscaling = aws("autoscaling", region, endpoint_url)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=max(total * 2, 10),
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(network.subnets[az] for az in network.azs),
        LaunchTemplate={"LaunchTemplateId": launch_template.id, "Version": "$Latest"},
        Tags=[
            {
                "Key": tag_key,
                "Value": fleet,
                "PropagateAtLaunch": True,
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
            }
        ],
    )
    built = BuiltAsg(region, name, fleet)
    for az, count in per_az.items():
        if count == 0:
            continue
        ids = launch_instances(
            region,
            network=network,
            az=az,
            count=count,
            fleet=fleet,
            tag_key=tag_key,
            launch_template=launch_template,
            batch_size=batch_size,
            endpoint_url=endpoint_url,
        )
        for start in range(0, len(ids), ATTACH_LIMIT):
            autoscaling.attach_instances(
                AutoScalingGroupName=name, InstanceIds=ids[start : start + ATTACH_LIMIT]
            )
        built.per_az[az] = ids
        built.instance_ids.extend(ids)
    return built


@dataclass
class BuiltFleet:
    fleet: str
    networks: dict[str, Network]
    templates: dict[str, LaunchTemplate]
    asgs: dict[str, list[BuiltAsg]]
    """region -> ASGs."""

    def instance_ids(self, region: str) -> list[str]:
        return [iid for asg in self.asgs.get(region, []) for iid in asg.instance_ids]


def build_fleet(
    fleet: str,
    regions: Sequence[str],
    *,
    asgs_per_region: int = 2,
    instances_per_asg: int = 6,
    tag_key: str = TAG_KEY,
    networks: Mapping[str, Network] | None = None,
    batch_size: int = 500,
    endpoint_url: str | None = None,
) -> BuiltFleet:
    """A balanced fleet: in each region, ASGs `<fleet>-<n>` spread evenly over 3 AZs.

    Pass `networks` to put several fleets in the same VPCs (one network per region).
    """
    built = BuiltFleet(fleet, dict(networks or {}), {}, {})
    for region in regions:
        network = built.networks.get(region) or create_network(region, endpoint_url=endpoint_url)
        built.networks[region] = network
        template = create_launch_template(region, f"{fleet}-lt", endpoint_url=endpoint_url)
        built.templates[region] = template
        built.asgs[region] = [
            create_asg(
                region,
                network=network,
                fleet=fleet,
                name=f"{fleet}-{index}",
                instances=instances_per_asg,
                launch_template=template,
                tag_key=tag_key,
                batch_size=batch_size,
                endpoint_url=endpoint_url,
            )
            for index in range(1, asgs_per_region + 1)
        ]
    return built


def terminate_instances(
    region: str, instance_ids: Sequence[str], endpoint_url: str | None = None
) -> None:
    aws("ec2", region, endpoint_url).terminate_instances(InstanceIds=list(instance_ids))


def untag_instances(
    region: str,
    instance_ids: Sequence[str],
    tag_key: str = TAG_KEY,
    endpoint_url: str | None = None,
) -> None:
    """Remove the fleet tag: the instances vanish from the fleet's DescribeInstances results."""
    aws("ec2", region, endpoint_url).delete_tags(
        Resources=list(instance_ids), Tags=[{"Key": tag_key}]
    )
