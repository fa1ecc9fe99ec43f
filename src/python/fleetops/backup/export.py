"""The two exports of a backup, each streamed into a `GzipLinesWriter`.

Registry: one paginated Scan of the table (ConsistentRead, 1 MB pages, one page in memory at a
time, released before the next is requested), each item written as one DynamoDB JSON line in
wire format (exact numbers, sets, binary). Items of the operational partitions (`BACKUP`,
`CLEANUP`) are left out. The scaling policies (pk `ALARM#<alarm>`, sk `POLICY`) are also
collected on the way for the configuration object; there are few of them. A Scan is not a
point-in-time snapshot: items written during the scan may or may not be in it, which is fine
for a registry that fleet-sync rebuilds from AWS.

Configuration, per region and isolated (a failing region is reported, the others are
exported): the fleet's Auto Scaling groups (tagged with `FLEET_TAG_KEY`; their instance lists
are left out, the registry has them), the launch template versions they use (plus `$Latest`
and `$Default` of each template) and their Auto Scaling scaling policies; then the registry's
scaling policies. One line per record: `{"kind": ..., "region": ..., ..., "data": {...}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from fleetops.backup import ddbjson, layout
from fleetops.backup.jsonl import GzipLinesWriter
from fleetops.core.aws import AwsClients, Guard, RetrySettings, error_code, error_summary
from fleetops.core.registry import keys

ASG_PAGE_SIZE = 100
KIND_ASG = "autoscaling_group"
KIND_LT_VERSION = "launch_template_version"
KIND_ASG_POLICY = "scaling_policy"
KIND_REGISTRY_POLICY = "registry_scaling_policy"
KIND_LT_MISSING = "launch_template_missing"
MISSING_TEMPLATE_CODES = ("InvalidLaunchTemplateId.", "InvalidLaunchTemplateName.")


@dataclass
class RegistryExport:
    items: int = 0
    excluded: int = 0
    pages: int = 0
    policies: list[dict[str, Any]] = field(default_factory=list)
    """Wire-format `ALARM#<alarm>` / `POLICY` items."""


def export_registry(
    client: Any,
    table_name: str,
    writer: GzipLinesWriter,
    *,
    guard: Guard | None = None,
    page_size: int | None = None,
) -> RegistryExport:
    """Scan `table_name` into `writer`, one line per item; raises if a page finally fails."""
    result = RegistryExport()
    params: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    if page_size:
        params["Limit"] = page_size
    guard = guard or Guard(RetrySettings(max_attempts=1))
    token: dict[str, Any] | None = None
    while True:
        request = {**params, "ExclusiveStartKey": token} if token else params
        page: dict[str, Any] = guard.call(client.scan, **request)
        # Keep only this page's items, and drop them before the next request: at most one
        # page is alive while the next one is fetched and parsed.
        items = page.get("Items") or []
        token = page.get("LastEvaluatedKey")
        del page
        result.pages += 1
        for raw in items:
            pk = raw.get("pk", {}).get("S", "")
            if pk in layout.OPERATIONAL_PARTITIONS:
                result.excluded += 1
                continue
            writer.write_line(ddbjson.item_line(raw))
            result.items += 1
            if pk.startswith(keys.ALARM_PREFIX) and raw.get("sk", {}).get("S") == keys.POLICY_SK:
                result.policies.append(raw)
        del items
        if not token:
            return result


@dataclass
class RegionConfig:
    """One region's configuration records, ready to be written."""

    region: str
    records: list[dict[str, Any]] = field(default_factory=list)
    autoscaling_groups: int = 0
    launch_template_versions: int = 0
    scaling_policies: int = 0


def _tags(raw: Any) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in raw or ()}


def _template_refs(group: Mapping[str, Any]) -> list[dict[str, str]]:
    """Launch template specs an ASG uses (directly or through a mixed instances policy)."""
    specs: list[dict[str, Any]] = []
    if group.get("LaunchTemplate"):
        specs.append(group["LaunchTemplate"])
    mixed = group.get("MixedInstancesPolicy") or {}
    template = mixed.get("LaunchTemplate") or {}
    if template.get("LaunchTemplateSpecification"):
        specs.append(template["LaunchTemplateSpecification"])
    for override in template.get("Overrides") or ():
        if override.get("LaunchTemplateSpecification"):
            specs.append(override["LaunchTemplateSpecification"])
    refs = []
    for spec in specs:
        ident = spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName")
        if ident:
            refs.append(
                {
                    "by": (
                        "LaunchTemplateId" if spec.get("LaunchTemplateId") else "LaunchTemplateName"
                    ),
                    "template": str(ident),
                    "version": str(spec.get("Version") or "$Default"),
                }
            )
    return refs


def fetch_region_config(clients: AwsClients, region: str, *, tag_key: str) -> RegionConfig:
    """The fleet configuration of `region`; raises if any page finally fails."""
    config = RegionConfig(region)
    groups: dict[str, dict[str, Any]] = {}
    templates: dict[tuple[str, str], set[str]] = {}
    for page in clients.pages(
        "autoscaling",
        region,
        "describe_auto_scaling_groups",
        Filters=[{"Name": "tag-key", "Values": [tag_key]}],
        MaxRecords=ASG_PAGE_SIZE,
    ):
        for group in page.get("AutoScalingGroups", ()):
            fleet = _tags(group.get("Tags")).get(tag_key)
            if fleet is None:
                continue
            name = str(group["AutoScalingGroupName"])
            data = {k: v for k, v in group.items() if k != "Instances"}
            data["InstanceCount"] = len(group.get("Instances") or ())
            groups[name] = data
            config.records.append(
                {"kind": KIND_ASG, "region": region, "name": name, "fleet": fleet, "data": data}
            )
            for ref in _template_refs(group):
                templates.setdefault((ref["by"], ref["template"]), set()).add(ref["version"])
    config.autoscaling_groups = len(groups)

    for (by, template), versions in sorted(templates.items()):
        wanted = sorted(versions | {"$Latest", "$Default"})
        seen: set[int] = set()
        try:
            pages = list(
                clients.pages(
                    "ec2",
                    region,
                    "describe_launch_template_versions",
                    **{by: template},
                    Versions=wanted,
                )
            )
        except ClientError as exc:
            if not error_code(exc).startswith(MISSING_TEMPLATE_CODES):
                raise
            # An ASG naming a deleted template (or version) is worth recording, not failing for.
            config.records.append(
                {
                    "kind": KIND_LT_MISSING,
                    "region": region,
                    "template": template,
                    "versions": wanted,
                    "error": error_summary(exc),
                }
            )
            continue
        for page in pages:
            for version in page.get("LaunchTemplateVersions", ()):
                number = int(version["VersionNumber"])
                if number in seen:
                    continue
                seen.add(number)
                config.records.append(
                    {
                        "kind": KIND_LT_VERSION,
                        "region": region,
                        "launch_template_id": version.get("LaunchTemplateId"),
                        "launch_template_name": version.get("LaunchTemplateName"),
                        "version": number,
                        "data": version,
                    }
                )
                config.launch_template_versions += 1

    if groups:
        for page in clients.pages("autoscaling", region, "describe_policies"):
            for policy in page.get("ScalingPolicies", ()):
                group_name = policy.get("AutoScalingGroupName")
                if group_name not in groups:
                    continue
                config.records.append(
                    {
                        "kind": KIND_ASG_POLICY,
                        "region": region,
                        "autoscaling_group": group_name,
                        "name": policy.get("PolicyName"),
                        "data": policy,
                    }
                )
                config.scaling_policies += 1
    return config


def registry_policy_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration line for one registry scaling policy item (wire format)."""
    pk = str(raw["pk"]["S"])
    return {
        "kind": KIND_REGISTRY_POLICY,
        "alarm": pk[len(keys.ALARM_PREFIX) :],
        "data": {"Item": ddbjson.encode_item(raw)},
    }
