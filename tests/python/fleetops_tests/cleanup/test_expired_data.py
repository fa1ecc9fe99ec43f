"""Registry tombstones and backups past retention (moto DynamoDB and S3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fleetops.backup import layout
from fleetops.backup.backup import BackupDeps, BackupRunner
from fleetops.backup.config import BackupConfig
from fleetops.backup.request import RestoreRequest, parse_backup_request
from fleetops.backup.restore import RestoreDeps, Restorer
from fleetops.cleanup.cleanup import CleanupDeps, run_cleanup
from fleetops.cleanup.report import CleanupReport
from fleetops.cleanup.request import CleanupRequest
from fleetops.core.aws import AwsClients
from fleetops.core.clock import iso_utc
from fleetops_tests.backup import helpers
from fleetops_tests.cleanup.builders import DAY, Clock, put_backup
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.faults import before_first

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


def cleanup(
    deps: CleanupDeps, regions: tuple[str, ...] = REGIONS, dry_run: bool = False
) -> CleanupReport:
    outcome = run_cleanup(CleanupRequest("schedule", regions, dry_run), deps, owner="run")
    assert isinstance(outcome, CleanupReport)
    return outcome


def by_action(report: CleanupReport, kind: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in report.actions:
        if entry["type"] == kind:
            found.setdefault(entry["action"], set()).add(entry["id"])
    return found


def instance(
    region: str, iid: str, state: str, terminated_days_ago: float | None, now: float
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": "FLEET#web"},
        "sk": {"S": f"INSTANCE#{region}#{iid}"},
        "entity": {"S": "instance"},
        "fleet": {"S": "web"},
        "region": {"S": region},
        "instance_id": {"S": iid},
        "state": {"S": state},
    }
    if terminated_days_ago is not None:
        item["terminated_at"] = {"S": iso_utc(now - terminated_days_ago * DAY)}
        item["expires_at"] = {"N": str(int(now - terminated_days_ago * DAY + 7 * DAY))}
    return item


def asg(name: str, state: str, deleted_days_ago: float | None, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": "FLEET#web"},
        "sk": {"S": f"ASG#us-east-1#{name}"},
        "entity": {"S": "asg"},
        "fleet": {"S": "web"},
        "region": {"S": "us-east-1"},
        "name": {"S": name},
        "state": {"S": state},
    }
    if deleted_days_ago is not None:
        item["deleted_at"] = {"S": iso_utc(now - deleted_days_ago * DAY)}
    return item


@pytest.fixture
def tombstones(world: None, clock: Clock) -> None:
    now = clock.now
    helpers.put_items(
        [
            {
                "pk": {"S": "FLEETS"},
                "sk": {"S": "FLEET#web"},
                "entity": {"S": "fleet_index"},
                "fleet": {"S": "web"},
            },
            instance("us-east-1", "i-old", "terminated", 45, now),
            instance("us-east-1", "i-recent", "terminated", 3, now),
            instance("us-east-1", "i-running", "running", None, now),
            instance("us-west-2", "i-old-west", "terminated", 60, now),
            asg("gone", "deleted", 31, now),
            asg("active", "active", None, now),
        ]
    )


def keys_left() -> set[str]:
    return {f"{i['pk']}/{i['sk']}" for i in aws_fleet.scan_table()}


def test_tombstones_past_retention_are_deleted_and_nothing_else(
    deps: CleanupDeps, tombstones: None
) -> None:
    report = cleanup(deps)

    assert by_action(report, "instance") == {
        "deleted": {"FLEET#web/INSTANCE#us-east-1#i-old", "FLEET#web/INSTANCE#us-west-2#i-old-west"}
    }
    assert by_action(report, "asg") == {"deleted": {"FLEET#web/ASG#us-east-1#gone"}}
    assert {
        "FLEET#web/INSTANCE#us-east-1#i-recent",
        "FLEET#web/INSTANCE#us-east-1#i-running",
        "FLEET#web/ASG#us-east-1#active",
        "FLEETS/FLEET#web",
    } <= keys_left()
    assert not keys_left() & {
        "FLEET#web/INSTANCE#us-east-1#i-old",
        "FLEET#web/INSTANCE#us-west-2#i-old-west",
        "FLEET#web/ASG#us-east-1#gone",
    }


def test_tombstones_only_in_the_requested_regions(deps: CleanupDeps, tombstones: None) -> None:
    report = cleanup(deps, ("us-west-2",))
    assert by_action(report, "instance") == {"deleted": {"FLEET#web/INSTANCE#us-west-2#i-old-west"}}
    assert "asg" not in report.tombstones.counts


def test_a_tombstone_revived_between_read_and_delete_is_kept(
    deps: CleanupDeps, tombstones: None, clock: Clock
) -> None:
    def revive() -> None:
        helpers.ddb().update_item(
            TableName="fleetops-registry-test",
            Key={"pk": {"S": "FLEET#web"}, "sk": {"S": "INSTANCE#us-east-1#i-old"}},
            UpdateExpression="SET #s = :running REMOVE terminated_at, expires_at",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":running": {"S": "running"}},
        )

    before_first(deps.clients, "dynamodb", "DeleteItem", revive)
    report = cleanup(deps, ("us-east-1",))

    skipped = [a for a in report.actions if a["action"] == "skipped" and a["type"] == "instance"]
    assert [a["reason"] for a in skipped] == ["changed since read (revived?)"]
    assert "FLEET#web/INSTANCE#us-east-1#i-old" in keys_left()


def test_tombstone_cap_and_dry_run(
    make_deps: Callable[..., CleanupDeps], tombstones: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOMBSTONE_MAX_DELETIONS", "1")
    deps = make_deps()
    before = keys_left()
    dry = cleanup(deps, dry_run=True)
    assert dry.totals["would_delete"] == 1
    assert keys_left() == before
    report = cleanup(deps)
    assert report.tombstones.counts["instance"]["deleted"] == 1
    reasons = [a["reason"] for a in report.actions if a["action"] == "skipped"]
    assert reasons.count("tombstone cap of 1 reached") == 2


def backup_id(days_ago: float, clock: Clock, seed: str = "x") -> str:
    return layout.backup_id_for(clock.now - days_ago * DAY, seed)


def test_backups_past_retention_are_deleted_but_the_latest_verified_is_kept(
    deps: CleanupDeps, world: None, clock: Clock
) -> None:
    ids = {
        "old-verified": backup_id(90, clock),
        "verified": backup_id(60, clock),
        "partial": backup_id(40, clock),
        "recent-verified": backup_id(1, clock),
        "recent-partial": backup_id(0.5, clock),
    }
    for name, bid in ids.items():
        builders_put(bid, verified="partial" not in name)
    helpers.put_object("backups/notes/README", b"not a backup")
    helpers.put_items(
        [
            {
                "pk": {"S": "BACKUP"},
                "sk": {"S": bid},
                "entity": {"S": "backup"},
                "status": {"S": "verified"},
            }
            for bid in ids.values()
        ]
        + [
            {
                "pk": {"S": "BACKUP"},
                "sk": {"S": backup_id(70, clock, "failed")},
                "entity": {"S": "backup"},
                "status": {"S": "failed"},
            }
        ]
    )

    report = cleanup(deps)

    assert by_action(report, "backup") == {
        "deleted": {ids["old-verified"], ids["verified"], ids["partial"]}
    }
    assert by_action(report, "backup_catalogue_item") == {
        "deleted": {backup_id(70, clock, "failed")}
    }
    left = {key.split("/")[1] for key in helpers.list_keys()}
    assert left == {ids["recent-verified"], ids["recent-partial"], "notes"}
    assert len(helpers.list_keys(prefix=f"backups/{ids['recent-verified']}/")) == 4
    catalogue = {i["sk"] for i in aws_fleet.scan_table() if i["pk"] == "BACKUP"}
    assert catalogue == {ids["recent-verified"], ids["recent-partial"]}


def builders_put(bid: str, *, verified: bool) -> None:
    put_backup(helpers.BUCKET, bid, verified=verified)


def test_the_latest_verified_backup_is_kept_however_old(
    deps: CleanupDeps, world: None, clock: Clock
) -> None:
    old = backup_id(90, clock)
    latest = backup_id(60, clock)
    newer_partial = backup_id(40, clock)
    builders_put(old, verified=True)
    builders_put(latest, verified=True)
    builders_put(newer_partial, verified=False)

    report = cleanup(deps)

    assert by_action(report, "backup") == {"deleted": {old, newer_partial}, "skipped": {latest}}
    skipped = [a for a in report.actions if a["id"] == latest]
    assert skipped[0]["reason"] == "latest verified backup"
    assert {key.split("/")[1] for key in helpers.list_keys()} == {latest}


def test_without_any_verified_backup_nothing_is_deleted(
    deps: CleanupDeps, world: None, clock: Clock
) -> None:
    builders_put(backup_id(90, clock), verified=False)
    report = cleanup(deps)
    assert by_action(report, "backup") == {"skipped": {backup_id(90, clock)}}
    assert len(helpers.list_keys()) == 3


def test_backups_count_against_the_deletion_cap(
    make_deps: Callable[..., CleanupDeps],
    world: None,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLEANUP_MAX_DELETIONS", "2")
    deps = make_deps()
    for days in (90, 80, 70, 60):
        builders_put(backup_id(days, clock), verified=True)
    report = cleanup(deps)
    assert len(by_action(report, "backup")["deleted"]) == 2
    assert {a["reason"] for a in report.actions if a["action"] == "skipped"} == {
        "deletion cap reached",
        "latest verified backup",
    }


def test_a_real_backup_survives_cleanup_and_still_restores(
    deps: CleanupDeps, world: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: backups written by the backup Lambda, aged out by cleanup, latest restored."""
    monkeypatch.setenv("BACKUP_KMS_KEY_ID", helpers.KMS_KEY)
    config = BackupConfig.from_env()
    backup_deps = BackupDeps(config=config, clients=AwsClients.from_config(config))
    helpers.put_items(helpers.fleet_items(30))
    made = []
    for when in ("2026-09-01T02:00:00Z", "2026-10-01T02:00:00Z"):
        request = parse_backup_request(
            helpers.scheduled_event(when, time=when), now=0, request_id="r"
        )
        made.append(BackupRunner(backup_deps).run(request, owner=when, lease_seconds=600).backup_id)
    clock.now = layout.backup_time(made[1]) + 45 * DAY

    report = cleanup(deps)

    assert by_action(report, "backup") == {"deleted": {made[0]}, "skipped": {made[1]}}
    helpers.wipe_table()
    restored = Restorer(RestoreDeps(config=config, clients=AwsClients.from_config(config))).run(
        RestoreRequest(None, None, False, False)
    )
    assert restored["backup_id"] == made[1]
    assert restored["items"] == 30
