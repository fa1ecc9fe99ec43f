"""Real moto resources for cleanup tests: orphans, resources in use, references, tombstones."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from fleetops_tests.support import aws_fleet
from fleetops_tests.support.env import TAG_KEY

FLEET = "web"
DAY = 86400
MOTO_NOW = time.time()
"""Roughly when moto stamps resources created by a test (real time)."""


class Clock:
    """A settable clock: `clock.now` is what the code under test sees."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * DAY


def fleet_tags(resource_type: str, **extra: str) -> list[dict[str, Any]]:
    tags = [{"Key": TAG_KEY, "Value": FLEET}, *({"Key": k, "Value": v} for k, v in extra.items())]
    return [{"ResourceType": resource_type, "Tags": tags}]


def ec2(region: str) -> Any:
    return aws_fleet.aws("ec2", region)


def tags_of(region: str, resource_id: str) -> dict[str, str]:
    response = ec2(region).describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
    return {tag["Key"]: tag["Value"] for tag in response["Tags"]}


@dataclass
class RegionWorld:
    region: str
    network: aws_fleet.Network
    instance_id: str
    orphan_volume: str
    attached_volume: str
    untagged_volume: str
    orphan_snapshot: str
    orphan_image: str
    lt_image: str
    """Referenced by version 1 of a launch template whose latest version uses another AMI."""
    instance_image: str
    """Used by a running instance."""
    lt_image_snapshot: str
    """The snapshot behind `lt_image` (fleet-tagged): referenced by that AMI."""
    orphan_eni: str
    attached_eni: str
    template_id: str
    extra: dict[str, str] = field(default_factory=dict)

    def orphans(self) -> dict[str, str]:
        return {
            self.orphan_volume: "volume",
            self.orphan_snapshot: "snapshot",
            self.orphan_image: "image",
            self.orphan_eni: "network_interface",
        }

    def kept(self) -> list[str]:
        return [
            self.attached_volume,
            self.untagged_volume,
            self.lt_image,
            self.instance_image,
            self.lt_image_snapshot,
            self.attached_eni,
        ]


def tagged_image(region: str, name: str) -> str:
    client = ec2(region)
    image_id: str = client.register_image(Name=name, RootDeviceName="/dev/sda1")["ImageId"]
    client.create_tags(Resources=[image_id], Tags=[{"Key": TAG_KEY, "Value": FLEET}])
    return image_id


def image_snapshot(region: str, image_id: str) -> str:
    image = ec2(region).describe_images(ImageIds=[image_id])["Images"][0]
    return str(image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])


def orphan_volume(region: str, **tags: str) -> str:
    volume: str = ec2(region).create_volume(
        AvailabilityZone=f"{region}a", Size=1, TagSpecifications=fleet_tags("volume", **tags)
    )["VolumeId"]
    return volume


def build_region(region: str) -> RegionWorld:
    client = ec2(region)
    network = aws_fleet.create_network(region)
    (instance_id,) = aws_fleet.launch_instances(
        region, network=network, az=f"{region}a", count=1, fleet=FLEET
    )
    attached = orphan_volume(region)
    client.attach_volume(VolumeId=attached, InstanceId=instance_id, Device="/dev/sdf")
    untagged = client.create_volume(AvailabilityZone=f"{region}a", Size=1)["VolumeId"]
    source = orphan_volume(region)
    snapshot = client.create_snapshot(VolumeId=source, TagSpecifications=fleet_tags("snapshot"))[
        "SnapshotId"
    ]
    client.delete_volume(VolumeId=source)

    orphan_image = tagged_image(region, "orphan")
    lt_image = tagged_image(region, "in-template")
    template = client.create_launch_template(
        LaunchTemplateName=f"{FLEET}-cleanup-lt",
        LaunchTemplateData={"ImageId": lt_image, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    client.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"],
        LaunchTemplateData={"ImageId": aws_fleet.IMAGE_ID, "InstanceType": "t3.micro"},
    )
    instance_image = tagged_image(region, "on-instance")
    client.run_instances(
        ImageId=instance_image,
        MinCount=1,
        MaxCount=1,
        SubnetId=network.subnets[f"{region}a"],
        InstanceType="t3.micro",
    )
    lt_snapshot = image_snapshot(region, lt_image)
    client.create_tags(Resources=[lt_snapshot], Tags=[{"Key": TAG_KEY, "Value": FLEET}])

    subnet = network.subnets[f"{region}a"]
    orphan_eni = client.create_network_interface(
        SubnetId=subnet, TagSpecifications=fleet_tags("network-interface")
    )["NetworkInterface"]["NetworkInterfaceId"]
    attached_eni = client.create_network_interface(
        SubnetId=subnet, TagSpecifications=fleet_tags("network-interface")
    )["NetworkInterface"]["NetworkInterfaceId"]
    client.attach_network_interface(
        NetworkInterfaceId=attached_eni, InstanceId=instance_id, DeviceIndex=1
    )
    return RegionWorld(
        region=region,
        network=network,
        instance_id=instance_id,
        orphan_volume=orphan_volume(region),
        attached_volume=attached,
        untagged_volume=untagged,
        orphan_snapshot=snapshot,
        orphan_image=orphan_image,
        lt_image=lt_image,
        instance_image=instance_image,
        lt_image_snapshot=lt_snapshot,
        orphan_eni=orphan_eni,
        attached_eni=attached_eni,
        template_id=template["LaunchTemplateId"],
    )


def exists(region: str, resource_id: str) -> bool:
    client = ec2(region)
    prefix = resource_id.split("-", 1)[0]
    try:
        if prefix == "vol":
            return bool(client.describe_volumes(VolumeIds=[resource_id])["Volumes"])
        if prefix == "snap":
            return bool(client.describe_snapshots(SnapshotIds=[resource_id])["Snapshots"])
        if prefix == "ami":
            return bool(client.describe_images(ImageIds=[resource_id])["Images"])
        if prefix == "eni":
            return bool(
                client.describe_network_interfaces(NetworkInterfaceIds=[resource_id])[
                    "NetworkInterfaces"
                ]
            )
    except Exception as exc:  # moto raises *.NotFound for a deleted id
        if "NotFound" in str(exc) or "Unavailable" in str(exc):
            return False
        raise
    raise ValueError(resource_id)


def put_backup(bucket: str, backup_id: str, *, verified: bool, region: str = "us-east-1") -> None:
    """A backup's objects as the backup Lambda lays them out (content irrelevant here)."""
    s3 = aws_fleet.aws("s3", region)
    prefix = f"backups/{backup_id}/"
    for name in ("registry.jsonl.gz", "config.jsonl.gz", "manifest.json"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"{}")
    if verified:
        s3.put_object(
            Bucket=bucket,
            Key=prefix + "VERIFIED",
            Body=json.dumps({"backup_id": backup_id}).encode(),
        )
