"""The restore Lambda against moto: round trips, refusals with nothing written, idempotency."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from fleetops.backup import layout
from fleetops.backup.backup import BackupDeps, BackupRunner
from fleetops.backup.errors import (
    BackupNotFoundError,
    CorruptBackupError,
    RestoreFailedError,
    RestoreTargetError,
)
from fleetops.backup.request import RestoreRequest, parse_backup_request
from fleetops.backup.restore import RestoreDeps, Restorer
from fleetops.core.aws import AwsClients
from fleetops.core.errors import InvalidInputError
from fleetops_tests.backup import helpers
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import closed_port_endpoint, fail_first, unprocessed_first
from fleetops_tests.support.lambda_context import LambdaContextStub


def take_backup(
    deps: BackupDeps, event_id: str = "event-1", time: str = helpers.SCHEDULED_TIME
) -> str:
    request = parse_backup_request(
        helpers.scheduled_event(event_id, time=time), now=0, request_id="unused"
    )
    result = BackupRunner(deps).run(request, owner=event_id, lease_seconds=900)
    return result.backup_id


def restore(deps: RestoreDeps, **fields: Any) -> dict[str, Any]:
    request = RestoreRequest(
        backup_id=fields.get("backup_id"),
        target_table=fields.get("target_table"),
        create_table=fields.get("create_table", False),
        dry_run=fields.get("dry_run", False),
    )
    return Restorer(deps).run(request)


@pytest.fixture
def seeded(world: None) -> dict[tuple[str, str], Any]:
    """A registry with every DynamoDB type plus a fleet's worth of items (several chunks)."""
    helpers.put_items(helpers.typed_items() + helpers.fleet_items(260))
    return helpers.raw_scan()


def test_round_trip_back_up_wipe_restore_gives_the_identical_registry(
    backup_handler: ModuleType, restore_handler: ModuleType, seeded: dict[Any, Any]
) -> None:
    backup = backup_handler.handler(helpers.scheduled_event("nightly"), LambdaContextStub())
    assert backup["status"] == "verified"
    before = helpers.without_operational(helpers.raw_scan())
    assert before == seeded

    helpers.wipe_table()
    assert helpers.raw_scan() == {}

    # The recovery workflow's call: no backup id -> the latest verified backup.
    result = restore_handler.handler({}, LambdaContextStub())

    assert result["status"] == "restored"
    assert result["backup_id"] == backup["backup_id"]
    assert result["target_table"] == "fleetops-registry-test"
    assert result["items"] == len(seeded) == 265
    assert helpers.raw_scan() == before  # every type, every number's text, exactly


def test_restore_into_a_new_table_creates_it_with_the_registry_schema_and_ttl(
    backup_deps: BackupDeps, restore_deps: RestoreDeps, seeded: dict[Any, Any]
) -> None:
    backup_id = take_backup(backup_deps)

    result = restore(
        restore_deps, backup_id=backup_id, target_table="registry-restored", create_table=True
    )

    assert result["status"] == "restored"
    assert result["table_created"] is True
    assert helpers.raw_scan("registry-restored") == seeded
    client = helpers.ddb()
    table = client.describe_table(TableName="registry-restored")["Table"]
    assert sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]) == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    ttl = client.describe_time_to_live(TableName="registry-restored")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_restore_is_idempotent_when_run_again(
    backup_deps: BackupDeps, restore_deps: RestoreDeps, seeded: dict[Any, Any]
) -> None:
    backup_id = take_backup(backup_deps)
    first = restore(restore_deps, target_table="copy", create_table=True)
    second = restore(restore_deps, target_table="copy", create_table=True)
    assert first["items"] == second["items"] == len(seeded)
    assert second["table_created"] is False
    assert first["backup_id"] == second["backup_id"] == backup_id
    assert helpers.raw_scan("copy") == seeded


def test_default_is_the_latest_verified_backup_skipping_partial_ones(
    backup_config: Any, backup_deps: BackupDeps, restore_deps: RestoreDeps, world: None
) -> None:
    helpers.put_items(helpers.fleet_items(3))
    older = take_backup(backup_deps, "day-1", "2026-11-24T02:00:00Z")
    helpers.put_items(helpers.fleet_items(5))
    newer = take_backup(backup_deps, "day-2", "2026-11-25T02:00:00Z")
    down = AwsClients.from_config(
        backup_config, endpoint_overrides={"us-west-2": closed_port_endpoint()}
    )
    partial_deps = BackupDeps(config=backup_config, clients=down)
    partial = take_backup(partial_deps, "day-3", "2026-11-26T02:00:00Z")
    assert older < newer < partial

    result = restore(restore_deps, target_table="copy", create_table=True, dry_run=True)

    assert result["backup_id"] == newer
    assert result["items"] == 5
    assert result["status"] == "validated"
    # A partial backup's registry is complete and verified: it can still be restored by name.
    named = restore(restore_deps, backup_id=partial, target_table="copy", create_table=True)
    assert named["backup_status"] == "partial"
    assert named["items"] == 5


def corrupt_registry_bytes(backup_id: str) -> None:
    key = layout.object_key(backup_id, layout.REGISTRY_OBJECT)
    lines = gzip.decompress(helpers.read_object(key)).splitlines()
    record = json.loads(lines[3])
    record["Item"]["version"] = {"N": "999"}
    lines[3] = json.dumps(record).encode()
    helpers.put_object(key, gzip.compress(b"\n".join(lines) + b"\n"))


def drop_a_line(backup_id: str) -> None:
    key = layout.object_key(backup_id, layout.REGISTRY_OBJECT)
    lines = gzip.decompress(helpers.read_object(key)).splitlines()
    helpers.put_object(key, gzip.compress(b"\n".join(lines[:-1]) + b"\n"))


def truncate_registry(backup_id: str) -> None:
    key = layout.object_key(backup_id, layout.REGISTRY_OBJECT)
    data = helpers.read_object(key)
    helpers.put_object(key, data[: len(data) // 2])


def delete_registry(backup_id: str) -> None:
    helpers.s3().delete_object(
        Bucket=helpers.BUCKET, Key=layout.object_key(backup_id, layout.REGISTRY_OBJECT)
    )


def delete_manifest(backup_id: str) -> None:
    helpers.s3().delete_object(Bucket=helpers.BUCKET, Key=layout.manifest_key(backup_id))


def inflate_manifest_count(backup_id: str) -> None:
    manifest = helpers.read_json(layout.manifest_key(backup_id))
    manifest["objects"][0]["items"] += 1
    helpers.put_object(layout.manifest_key(backup_id), json.dumps(manifest).encode())


def garble_manifest(backup_id: str) -> None:
    helpers.put_object(layout.manifest_key(backup_id), b'{"format_version": 1, "objects": [')


def future_manifest(backup_id: str) -> None:
    manifest = helpers.read_json(layout.manifest_key(backup_id))
    manifest["format_version"] = 2
    helpers.put_object(layout.manifest_key(backup_id), json.dumps(manifest).encode())


def corrupt_config(backup_id: str) -> None:
    key = layout.object_key(backup_id, layout.CONFIG_OBJECT)
    helpers.put_object(key, gzip.compress(b'{"kind": "autoscaling_group"}\nnot json\n'))


def bad_item_line(backup_id: str) -> None:
    """Valid gzip, right count and a matching manifest entry, but a line is not an item."""
    key = layout.object_key(backup_id, layout.REGISTRY_OBJECT)
    lines = gzip.decompress(helpers.read_object(key)).splitlines()
    lines[0] = b'{"Item": {"pk": {"X": "?"}}}'
    body = gzip.compress(b"\n".join(lines) + b"\n")
    helpers.put_object(key, body)

    manifest = helpers.read_json(layout.manifest_key(backup_id))
    manifest["objects"][0].update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    helpers.put_object(layout.manifest_key(backup_id), json.dumps(manifest).encode())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (corrupt_registry_bytes, "sha256"),
        (drop_a_line, "items, manifest says"),
        (truncate_registry, "truncated gzip stream"),
        (delete_registry, "is missing"),
        (delete_manifest, "manifest backups/"),
        (inflate_manifest_count, "items, manifest says"),
        (garble_manifest, "manifest is not JSON"),
        (future_manifest, "newer than this code supports"),
        (corrupt_config, "config: line 2 is malformed"),
        (bad_item_line, "registry: line 1 is malformed"),
    ],
)
def test_a_corrupt_or_incomplete_backup_is_refused_and_nothing_is_written(
    backup_deps: BackupDeps,
    restore_deps: RestoreDeps,
    seeded: dict[Any, Any],
    damage: Callable[[str], None],
    message: str,
) -> None:
    backup_id = take_backup(backup_deps)
    damage(backup_id)
    helpers.wipe_table()
    counter = RequestCounter().attach(restore_deps.clients)

    with pytest.raises(CorruptBackupError) as raised:
        restore(restore_deps, backup_id=backup_id)

    assert message in str(raised.value)
    assert raised.value.backup_id == backup_id
    assert counter.writes() == 0
    assert counter.counts["dynamodb.CreateTable"] == 0
    assert helpers.raw_scan() == {}


def test_refused_restore_into_a_new_table_does_not_create_it(
    backup_deps: BackupDeps, restore_deps: RestoreDeps, seeded: dict[Any, Any]
) -> None:
    backup_id = take_backup(backup_deps)
    drop_a_line(backup_id)
    with pytest.raises(CorruptBackupError):
        restore(restore_deps, target_table="never-created", create_table=True)
    assert "never-created" not in helpers.ddb().list_tables()["TableNames"]


def test_throttling_and_unprocessed_items_are_retried(
    backup_deps: BackupDeps, restore_deps: RestoreDeps, seeded: dict[Any, Any]
) -> None:
    take_backup(backup_deps)
    helpers.wipe_table()
    clients = restore_deps.clients
    throttled = fail_first(
        clients,
        "dynamodb",
        "BatchWriteItem",
        times=2,
        code="ProvisionedThroughputExceededException",
    )
    unprocessed = unprocessed_first(clients, times=2)
    slow_s3 = fail_first(clients, "s3", "GetObject", times=1, code="SlowDown", status=503)

    result = restore(restore_deps)

    assert result["items"] == len(seeded)
    assert (throttled.injected, unprocessed.injected, slow_s3.injected) == (2, 2, 1)
    assert helpers.without_operational(helpers.raw_scan()) == seeded


def test_writes_that_keep_failing_fail_the_restore_and_a_rerun_completes_it(
    backup_deps: BackupDeps,
    restore_deps: RestoreDeps,
    seeded: dict[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    take_backup(backup_deps)
    helpers.wipe_table()
    unprocessed = unprocessed_first(restore_deps.clients, times=None)

    with pytest.raises(RestoreFailedError, match="re-running it is safe"):
        restore(restore_deps)

    unprocessed.times = unprocessed.injected
    result = restore(restore_deps)
    assert result["items"] == len(seeded)
    assert helpers.without_operational(helpers.raw_scan()) == seeded


def test_dry_run_validates_and_writes_nothing(
    backup_deps: BackupDeps, restore_deps: RestoreDeps, seeded: dict[Any, Any]
) -> None:
    backup_id = take_backup(backup_deps)
    helpers.wipe_table()
    counter = RequestCounter().attach(restore_deps.clients)

    result = restore(restore_deps, target_table="new-one", create_table=True, dry_run=True)

    assert result == {
        "status": "validated",
        "dry_run": True,
        "backup_id": backup_id,
        "target_table": "new-one",
        "items": len(seeded),
        "backup_status": "complete",
        "created_at": "2026-11-26T02:00:00Z",
        "would_create_table": True,
    }
    assert counter.writes() == 0
    assert counter.counts["dynamodb.CreateTable"] == 0
    assert helpers.raw_scan() == {}


def test_target_problems_are_refused_before_any_write(
    backup_deps: BackupDeps, restore_deps: RestoreDeps, seeded: dict[Any, Any]
) -> None:
    take_backup(backup_deps)
    with pytest.raises(RestoreTargetError, match=r"does not exist \(pass create_table: true"):
        restore(restore_deps, target_table="missing-table")

    helpers.ddb().create_table(
        TableName="wrong-schema",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    counter = RequestCounter().attach(restore_deps.clients)
    with pytest.raises(RestoreTargetError, match="registry key schema"):
        restore(restore_deps, target_table="wrong-schema", create_table=True)
    assert counter.writes() == 0


def test_missing_backups_are_reported_clearly(restore_deps: RestoreDeps) -> None:
    with pytest.raises(BackupNotFoundError, match="no verified backup"):
        restore(restore_deps)
    with pytest.raises(BackupNotFoundError, match="20261126T020000Z-00000000 does not exist"):
        restore(restore_deps, backup_id="20261126T020000Z-00000000")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ([], "event"),
        ({"backup_id": "../../etc/passwd"}, "backup_id"),
        ({"backup_id": 20261126}, "backup_id"),
        ({"target_table": "x"}, "target_table"),
        ({"create_table": "true"}, "create_table"),
        ({"dry_run": 1}, "dry_run"),
        ({"backupId": "20261126T020000Z-00000000"}, "backupId"),
    ],
)
def test_malformed_restore_events_are_rejected_naming_the_field(
    restore_handler: ModuleType, event: Any, field: str
) -> None:
    counter = RequestCounter().attach(restore_handler.DEPS.clients)
    with pytest.raises(InvalidInputError) as raised:
        restore_handler.handler(event, LambdaContextStub())
    assert field in raised.value.fields
    assert counter.total() == 0
