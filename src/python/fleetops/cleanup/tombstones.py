"""Registry tombstones past retention: terminated instances and deleted ASGs, deleted for good.

fleet-sync turns vanished instances into `state=terminated` tombstones (with `terminated_at`)
and deleted ASGs into `state=deleted` tombstones (with `deleted_at`), with a TTL; DynamoDB's TTL
deletes lazily (days later, or never if TTL is off), so cleanup removes those whose time is
older than `TOMBSTONE_RETENTION_DAYS`.

Read: one Query of the `FLEETS` index, then per fleet one paginated Query per sort-key prefix
(`INSTANCE#`, `ASG#`); nothing is scanned. Delete: DeleteItem conditional on the tombstone
being unchanged (`state` and its time as read): if fleet-sync revived the item in between
(the instance came back), the condition fails and the item stays (`skipped`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from fleetops.cleanup.report import DELETED, FAILED_ACTION, SKIPPED, CleanupReport, PartResult
from fleetops.core.aws import error_code, error_summary
from fleetops.core.clock import iso_utc
from fleetops.core.errors import FleetOpsError
from fleetops.core.registry import Condition, Entity, RegistryTable, keys
from fleetops.core.registry.keys import Key
from fleetops.core.registry.table import serialize

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)
INSTANCE_TOMBSTONE = "instance"
ASG_TOMBSTONE = "asg"


@dataclass(frozen=True)
class Tombstone:
    kind: str
    key: Key
    region: str
    state: str
    time_attr: str
    time: str


_RULES = (
    (INSTANCE_TOMBSTONE, keys.INSTANCE_PREFIX, Entity.INSTANCE, "terminated", "terminated_at"),
    (ASG_TOMBSTONE, keys.ASG_PREFIX, Entity.ASG, "deleted", "deleted_at"),
)


def find_tombstones(
    table: RegistryTable, *, regions: tuple[str, ...], cutoff_iso: str
) -> Iterator[Tombstone]:
    """Tombstones in `regions` whose time is before `cutoff_iso`, fleet by fleet."""
    fleets = sorted(
        str(item["fleet"]) for item in table.query(keys.FLEET_INDEX_PK) if item.get("fleet")
    )
    for fleet in fleets:
        pk = keys.fleet_pk(fleet)
        for kind, prefix, entity, state, time_attr in _RULES:
            for item in table.query(pk, sk_prefix=prefix):
                if item.get("entity") not in (None, entity) or item.get("state") != state:
                    continue
                when = item.get(time_attr)
                if not isinstance(when, str) or not when or when >= cutoff_iso:
                    continue
                region = str(item.get("region") or keys.split_sk(str(item["sk"]), prefix)[0])
                if region not in regions:
                    continue
                yield Tombstone(kind, Key(pk, str(item["sk"])), region, state, time_attr, when)


def delete_tombstone(table: RegistryTable, tombstone: Tombstone) -> bool:
    """Conditional delete; False if the item changed (revived, re-tombstoned) since it was read."""
    condition = Condition.equals("state", tombstone.state) & Condition.equals(
        tombstone.time_attr, tombstone.time
    )
    try:
        table.guard.call(
            table.client.delete_item,
            TableName=table.name,
            Key=tombstone.key.as_dynamo(),
            ConditionExpression=condition.expression,
            ExpressionAttributeNames=dict(condition.names),
            ExpressionAttributeValues={k: serialize(v) for k, v in condition.values.items()},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def sweep_tombstones(
    table: RegistryTable,
    *,
    regions: tuple[str, ...],
    now: float,
    retention_seconds: float,
    limit: int,
    dry_run: bool,
    report: CleanupReport,
    part: PartResult,
) -> None:
    """Delete (or, dry run, list) up to `limit` tombstones; raises if the registry is unreadable."""
    cutoff = iso_utc(now - retention_seconds)
    handled = 0
    for tombstone in find_tombstones(table, regions=regions, cutoff_iso=cutoff):
        details = {
            "region": tombstone.region,
            "id": f"{tombstone.key.pk}/{tombstone.key.sk}",
        }
        if handled >= limit:
            report.record(
                part,
                tombstone.kind,
                SKIPPED,
                reason=f"tombstone cap of {limit} reached",
                **details,
            )
            continue
        handled += 1
        reason = f"{tombstone.state} since {tombstone.time} (before {cutoff})"
        if dry_run:
            report.record(part, tombstone.kind, DELETED, reason=reason, **details)
            continue
        try:
            deleted = delete_tombstone(table, tombstone)
        except AWS_ERRORS as exc:
            report.record(part, tombstone.kind, FAILED_ACTION, reason=error_summary(exc), **details)
            continue
        if deleted:
            report.record(part, tombstone.kind, DELETED, reason=reason, **details)
        else:
            report.record(
                part, tombstone.kind, SKIPPED, reason="changed since read (revived?)", **details
            )
