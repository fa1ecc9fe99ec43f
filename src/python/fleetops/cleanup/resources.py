"""What exists in a region and what references what: the facts the orphan rules judge.

Candidates: resources carrying the fleet tag (`FLEET_TAG_KEY`): EBS volumes, snapshots and AMIs
owned by this account, network interfaces. References (whatever their tags, because a reference
from outside the fleet still makes a resource in use):

- AMIs: every version of every launch template in the region, every instance that is not
  terminated, every launch configuration;
- snapshots: the block device mappings of every AMI owned by the account, of every launch
  template version and of every launch configuration.

Orphan rules (`judge`): volume `available` (attached to nothing); ENI `available` and not
requester-managed; snapshot / AMI older than the retention and referenced by nothing above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from fleetops.core.aws import AwsClients, error_code

VOLUME = "volume"
SNAPSHOT = "snapshot"
IMAGE = "image"
NETWORK_INTERFACE = "network_interface"
TYPES = (IMAGE, SNAPSHOT, VOLUME, NETWORK_INTERFACE)
"""Processing order: AMIs before the snapshots they may hold."""

LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]


@dataclass(frozen=True)
class Resource:
    type: str
    id: str
    region: str
    tags: Mapping[str, str]
    state: str | None = None
    created: float | None = None
    requester_managed: bool = False

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "region": self.region}


@dataclass
class References:
    """Resource id -> the first thing found referencing it (for the report)."""

    images: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, str] = field(default_factory=dict)

    def add_image(self, image_id: str | None, by: str) -> None:
        if image_id:
            self.images.setdefault(image_id, by)

    def add_snapshots(self, mappings: Iterable[Mapping[str, Any]] | None, by: str) -> None:
        for mapping in mappings or ():
            snapshot = (mapping.get("Ebs") or {}).get("SnapshotId")
            if snapshot:
                self.snapshots.setdefault(str(snapshot), by)


@dataclass(frozen=True)
class Verdict:
    orphan: bool
    reason: str
    referenced: bool = False


def tags_of(raw: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in raw or ()}


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _image(raw: Mapping[str, Any], region: str) -> Resource:
    return Resource(
        IMAGE,
        str(raw["ImageId"]),
        region,
        tags_of(raw.get("Tags")),
        state=raw.get("State"),
        created=_epoch(raw.get("CreationDate")),
    )


def _snapshot(raw: Mapping[str, Any], region: str) -> Resource:
    return Resource(
        SNAPSHOT,
        str(raw["SnapshotId"]),
        region,
        tags_of(raw.get("Tags")),
        state=raw.get("State"),
        created=_epoch(raw.get("StartTime")),
    )


def _volume(raw: Mapping[str, Any], region: str) -> Resource:
    return Resource(
        VOLUME,
        str(raw["VolumeId"]),
        region,
        tags_of(raw.get("Tags")),
        state=raw.get("State"),
        created=_epoch(raw.get("CreateTime")),
    )


def _interface(raw: Mapping[str, Any], region: str) -> Resource:
    return Resource(
        NETWORK_INTERFACE,
        str(raw["NetworkInterfaceId"]),
        region,
        tags_of(raw.get("TagSet")),
        state=raw.get("Status"),
        requester_managed=bool(raw.get("RequesterManaged")),
    )


def _tag_filter(tag_key: str) -> list[dict[str, Any]]:
    return [{"Name": "tag-key", "Values": [tag_key]}]


def list_candidates(clients: AwsClients, region: str, *, tag_key: str) -> list[Resource]:
    """Fleet-tagged volumes, snapshots, AMIs and ENIs of `region` (raises if a page fails)."""
    found: list[Resource] = []
    filters = _tag_filter(tag_key)
    for page in clients.pages("ec2", region, "describe_images", Owners=["self"], Filters=filters):
        found.extend(_image(raw, region) for raw in page.get("Images", ()))
    for page in clients.pages(
        "ec2", region, "describe_snapshots", OwnerIds=["self"], Filters=filters, MaxResults=1000
    ):
        found.extend(_snapshot(raw, region) for raw in page.get("Snapshots", ()))
    for page in clients.pages("ec2", region, "describe_volumes", Filters=filters, MaxResults=500):
        found.extend(_volume(raw, region) for raw in page.get("Volumes", ()))
    for page in clients.pages(
        "ec2", region, "describe_network_interfaces", Filters=filters, MaxResults=1000
    ):
        found.extend(_interface(raw, region) for raw in page.get("NetworkInterfaces", ()))
    return [resource for resource in found if tag_key in resource.tags]


def collect_references(clients: AwsClients, region: str) -> References:
    """Everything in `region` that keeps an AMI or a snapshot in use (raises if a page fails)."""
    refs = References()
    templates: list[tuple[str, str]] = []
    for page in clients.pages("ec2", region, "describe_launch_templates", MaxResults=200):
        for template in page.get("LaunchTemplates", ()):
            templates.append(
                (str(template["LaunchTemplateId"]), str(template.get("LaunchTemplateName")))
            )
    for template_id, name in templates:
        for page in clients.pages(
            "ec2",
            region,
            "describe_launch_template_versions",
            LaunchTemplateId=template_id,
            MaxResults=200,
        ):
            for version in page.get("LaunchTemplateVersions", ()):
                by = (
                    f"launch template {template_id} ({name}) version {version.get('VersionNumber')}"
                )
                data = version.get("LaunchTemplateData") or {}
                refs.add_image(data.get("ImageId"), by)
                refs.add_snapshots(data.get("BlockDeviceMappings"), by)
    for page in clients.pages("ec2", region, "describe_images", Owners=["self"]):
        for image in page.get("Images", ()):
            refs.add_snapshots(image.get("BlockDeviceMappings"), f"AMI {image['ImageId']}")
    for page in clients.pages(
        "ec2",
        region,
        "describe_instances",
        Filters=[{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}],
        MaxResults=1000,
    ):
        for reservation in page.get("Reservations", ()):
            for instance in reservation.get("Instances", ()):
                refs.add_image(instance.get("ImageId"), f"instance {instance['InstanceId']}")
    for page in clients.pages("autoscaling", region, "describe_launch_configurations"):
        for config in page.get("LaunchConfigurations", ()):
            by = f"launch configuration {config.get('LaunchConfigurationName')}"
            refs.add_image(config.get("ImageId"), by)
            refs.add_snapshots(config.get("BlockDeviceMappings"), by)
    return refs


def judge(resource: Resource, refs: References, *, now: float, retention_seconds: float) -> Verdict:
    """Is `resource` an orphan right now, and why (or why not)."""
    days = int(retention_seconds // 86400)
    if resource.type == VOLUME:
        if resource.state == "available":
            return Verdict(True, "unattached EBS volume")
        return Verdict(False, f"volume is {resource.state}")
    if resource.type == NETWORK_INTERFACE:
        if resource.requester_managed:
            return Verdict(False, "requester-managed network interface")
        if resource.state == "available":
            return Verdict(True, "available (unattached) network interface")
        return Verdict(False, f"network interface is {resource.state}")
    references = refs.images if resource.type == IMAGE else refs.snapshots
    by = references.get(resource.id)
    if by is not None:
        return Verdict(False, f"referenced by {by}", referenced=True)
    if resource.created is None:
        return Verdict(False, "creation time unknown")
    if now - resource.created < retention_seconds:
        return Verdict(False, f"younger than the {days}-day retention")
    what = "AMI" if resource.type == IMAGE else "snapshot"
    return Verdict(True, f"{what} older than {days} days and referenced by nothing")


_DESCRIBE = {
    VOLUME: ("describe_volumes", "VolumeIds", "Volumes", _volume),
    SNAPSHOT: ("describe_snapshots", "SnapshotIds", "Snapshots", _snapshot),
    IMAGE: ("describe_images", "ImageIds", "Images", _image),
    NETWORK_INTERFACE: (
        "describe_network_interfaces",
        "NetworkInterfaceIds",
        "NetworkInterfaces",
        _interface,
    ),
}
_DELETE = {
    VOLUME: ("delete_volume", "VolumeId"),
    SNAPSHOT: ("delete_snapshot", "SnapshotId"),
    IMAGE: ("deregister_image", "ImageId"),
    NETWORK_INTERFACE: ("delete_network_interface", "NetworkInterfaceId"),
}
NOT_FOUND_CODES = frozenset(
    {
        "InvalidVolume.NotFound",
        "InvalidSnapshot.NotFound",
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Unavailable",
        "InvalidNetworkInterfaceID.NotFound",
    }
)


def refetch(clients: AwsClients, resource: Resource) -> Resource | None:
    """The resource as it is now, or None if it is gone."""
    operation, ids_param, result_key, build = _DESCRIBE[resource.type]
    try:
        response = clients.call("ec2", resource.region, operation, **{ids_param: [resource.id]})
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    items = response.get(result_key) or []
    if not items:
        return None
    fresh = build(items[0], resource.region)
    if resource.type == IMAGE and fresh.state in ("deregistered", "invalid"):
        return None
    return fresh


def delete(clients: AwsClients, resource: Resource) -> None:
    operation, id_param = _DELETE[resource.type]
    clients.call("ec2", resource.region, operation, **{id_param: resource.id})
