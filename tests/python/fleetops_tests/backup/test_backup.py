"""The backup Lambda against moto: layout, content, verification, failures, idempotency."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import pytest

from fleetops.backup import layout
from fleetops.backup.backup import BackupDeps, BackupRunner
from fleetops.backup.config import BackupConfig
from fleetops.backup.errors import BackupFailedError
from fleetops.backup.request import BackupRequest, parse_backup_request
from fleetops.core.aws import AwsClients
from fleetops.core.errors import ConfigError, InvalidInputError
from fleetops_tests.backup import helpers
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import FLEET_REGIONS
from fleetops_tests.support.faults import before_first, closed_port_endpoint, fail_first
from fleetops_tests.support.lambda_context import LambdaContextStub

EVENT_ID = "6a7e8feb-b491-4cf7-a9f1-bf3703467718"


def scheduled_request(event_id: str = EVENT_ID) -> BackupRequest:
    return parse_backup_request(
        helpers.scheduled_event(event_id), now=0, request_id="unused-for-schedules"
    )


def run(deps: BackupDeps, request: BackupRequest | None = None, owner: str = "run-1") -> Any:
    return BackupRunner(deps).run(request or scheduled_request(), owner=owner, lease_seconds=900)


def test_scheduled_backup_writes_objects_then_manifest_then_marker(
    backup_handler: ModuleType, inbox: aws_fleet.SnsInbox
) -> None:
    helpers.put_items(helpers.typed_items() + helpers.fleet_items(40))
    result = backup_handler.handler(helpers.scheduled_event(EVENT_ID), LambdaContextStub())

    backup_id = result["backup_id"]
    assert backup_id == layout.backup_id_for(1795658400, EVENT_ID)  # 2026-11-26T02:00:00Z
    assert backup_id.startswith("20261126T020000Z-")
    assert result["status"] == "verified"
    assert result["items"] == 45
    prefix = f"backups/{backup_id}/"
    assert helpers.list_keys() == [
        prefix + "VERIFIED",
        prefix + "config.jsonl.gz",
        prefix + "manifest.json",
        prefix + "registry.jsonl.gz",
    ]
    for key in helpers.list_keys():
        head = helpers.s3().head_object(Bucket=helpers.BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"] == helpers.KMS_KEY, key

    manifest = helpers.read_json(prefix + "manifest.json")
    assert manifest["format_version"] == 1
    assert manifest["backup_id"] == backup_id
    assert manifest["status"] == "complete"
    assert manifest["created_at"] == "2026-11-26T02:00:00Z"
    assert manifest["source"]["table"] == "fleetops-registry-test"
    assert manifest["source"]["regions"] == list(FLEET_REGIONS)
    assert manifest["source"]["event_id"] == EVENT_ID
    objects = {entry["name"]: entry for entry in manifest["objects"]}
    registry = objects["registry"]
    assert registry["key"] == prefix + "registry.jsonl.gz"
    assert registry["items"] == 45
    stored = helpers.read_object(registry["key"])
    assert registry["bytes"] == len(stored)

    assert registry["sha256"] == hashlib.sha256(stored).hexdigest()
    assert len(gzip.decompress(stored).splitlines()) == 45
    assert set(manifest["regions"]) == set(FLEET_REGIONS)
    assert all(region["status"] == "ok" for region in manifest["regions"].values())

    marker = helpers.read_json(prefix + "VERIFIED")
    assert marker["backup_id"] == backup_id
    assert marker["objects"]["registry"] == registry["sha256"]

    item = aws_fleet.scan_table()
    catalogue = [i for i in item if i["pk"] == "BACKUP"]
    assert len(catalogue) == 1
    assert catalogue[0]["sk"] == backup_id
    assert catalogue[0]["status"] == "verified"
    assert catalogue[0]["items"] == 45
    assert "lease_expires_at" not in catalogue[0]
    assert inbox.receive() == []  # success is quiet: logs and metrics only


def test_registry_lines_keep_every_type_exactly(
    backup_deps: BackupDeps,
) -> None:
    helpers.put_items(helpers.typed_items())
    result = run(backup_deps)
    lines = helpers.read_lines(result.objects["registry"]["key"])
    by_key = {(line["Item"]["pk"]["S"], line["Item"]["sk"]["S"]): line["Item"] for line in lines}
    item = by_key[("FLEET#web", "INSTANCE#us-east-1#i-0123456789abcdef0")]
    assert item["huge"] == {"N": "12345678901234567890123456789012345678"}
    assert item["cpu"] == {"N": "0.1000000000000000055511151231257827"}
    assert item["tiny"] == {"N": "-1.5E-120"}
    assert item["blob"] == {"B": "AAH+/w=="}
    assert sorted(item["ports"]["NS"]) == ["22", "443", "8080.5"]
    assert item["nested"]["M"]["list"]["L"][2] == {"B": "Mw=="}
    assert item["nothing"] == {"NULL": True}


def test_configuration_object_holds_asgs_template_versions_and_policies(
    backup_deps: BackupDeps,
) -> None:
    fleet = aws_fleet.build_fleet("web", ["us-east-1", "us-west-2"], instances_per_asg=2)
    autoscaling = aws_fleet.aws("autoscaling", "us-east-1")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName="web-1",
        PolicyName="web-1-up",
        PolicyType="SimpleScaling",
        AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=1,
    )
    helpers.put_items(helpers.typed_items())

    result = run(backup_deps)

    lines = helpers.read_lines(result.objects["config"]["key"])
    kinds: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        kinds.setdefault(line["kind"], []).append(line)
    asgs = {(line["region"], line["name"]) for line in kinds["autoscaling_group"]}
    assert asgs == {(r, f"web-{n}") for r in ("us-east-1", "us-west-2") for n in (1, 2)}
    group = kinds["autoscaling_group"][0]["data"]
    assert "Instances" not in group and group["InstanceCount"] == 2
    versions = {
        (line["region"], line["launch_template_id"]) for line in kinds["launch_template_version"]
    }
    assert versions == {(r, fleet.templates[r].id) for r in ("us-east-1", "us-west-2")}
    assert [line["name"] for line in kinds["scaling_policy"]] == ["web-1-up"]
    assert sorted(line["alarm"] for line in kinds["registry_scaling_policy"]) == ["*", "cpu-high"]
    manifest = helpers.read_json(layout.manifest_key(result.backup_id))
    assert manifest["regions"]["us-east-1"]["autoscaling_groups"] == 2
    assert manifest["regions"]["eu-west-1"] == {
        "status": "ok",
        "error": None,
        "autoscaling_groups": 0,
        "launch_template_versions": 0,
        "scaling_policies": 0,
    }
    assert manifest["registry"]["scaling_policies"] == 2


def test_operational_partitions_are_not_exported(backup_deps: BackupDeps) -> None:
    helpers.put_items(helpers.fleet_items(3))
    first = run(backup_deps, scheduled_request("event-1"))
    second = run(backup_deps, scheduled_request("event-2"))
    assert first.items == second.items == 3  # the first run's catalogue item is not exported
    assert second.excluded_items == 2  # its own claim and the first backup's catalogue item


def test_large_registry_goes_up_in_parts_of_at_least_5_mib(
    backup_env: dict[str, str], world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_PART_SIZE_MB", "5")

    config = BackupConfig.from_env()
    deps = BackupDeps(config=config, clients=AwsClients.from_config(config))
    noise = (
        {
            "pk": {"S": "FLEET#big"},
            "sk": {"S": f"INSTANCE#us-east-1#i-{n:08d}"},
            "entity": {"S": "instance"},
            "noise": {"S": base64.b64encode(os.urandom(12_000)).decode()},
        }
        for n in range(900)
    )
    helpers.put_items(noise)
    parts = helpers.capture(deps.clients, "s3", "UploadPart")

    result = run(deps)

    assert result.status == "verified"
    sizes = [len(part["Body"]) for part in parts]
    assert len(sizes) >= 2
    assert all(size == 5 * 1024 * 1024 for size in sizes[:-1])
    assert 0 < sizes[-1] <= 5 * 1024 * 1024
    assert sum(sizes) == result.objects["registry"]["bytes"]


def test_throttling_is_retried_everywhere(backup_deps: BackupDeps) -> None:
    aws_fleet.build_fleet("web", ["us-west-2"], asgs_per_region=1, instances_per_asg=1)
    helpers.put_items(helpers.fleet_items(10))
    clients = backup_deps.clients
    faults = [
        fail_first(clients, "dynamodb", "Scan", times=2),
        fail_first(clients, "dynamodb", "UpdateItem", times=1),
        fail_first(clients, "s3", "PutObject", times=2, code="SlowDown", status=503),
        fail_first(clients, "s3", "GetObject", times=1, code="InternalError", status=500),
        fail_first(
            clients, "auto-scaling", "DescribeAutoScalingGroups", times=2, code="Throttling"
        ),
        fail_first(
            clients, "ec2", "DescribeLaunchTemplateVersions", times=1, code="RequestLimitExceeded"
        ),
    ]

    result = run(backup_deps)

    assert result.status == "verified"
    assert [fault.injected for fault in faults] == [2, 1, 2, 1, 2, 1]
    assert result.regions["us-west-2"].autoscaling_groups == 1


def test_a_region_down_makes_the_backup_partial_and_not_verified(
    backup_config: Any, world: None, inbox: aws_fleet.SnsInbox
) -> None:
    clients = AwsClients.from_config(
        backup_config, endpoint_overrides={"eu-west-1": closed_port_endpoint()}
    )
    deps = BackupDeps(config=backup_config, clients=clients)
    aws_fleet.build_fleet("web", ["us-east-1"], asgs_per_region=1, instances_per_asg=1)
    helpers.put_items(helpers.fleet_items(5))

    result = run(deps)

    assert result.status == "partial"
    assert result.regions["eu-west-1"].status == "failed"
    assert "Could not connect" in (result.regions["eu-west-1"].error or "")
    assert result.regions["us-east-1"].status == "ok"
    manifest = helpers.read_json(layout.manifest_key(result.backup_id))
    assert manifest["status"] == "partial"
    assert manifest["regions"]["eu-west-1"]["status"] == "failed"
    assert not any(key.endswith("VERIFIED") for key in helpers.list_keys())
    catalogue = backup_deps_item(result.backup_id)
    assert catalogue["status"] == "partial"
    assert catalogue["failed_regions"] == ["eu-west-1"]
    (message,) = inbox.receive()
    assert message["body"]["kind"] == "backup.partial"
    assert "eu-west-1" in message["body"]["summary"]


def backup_deps_item(backup_id: str) -> dict[str, Any]:
    (item,) = (i for i in aws_fleet.scan_table() if i["pk"] == "BACKUP" and i["sk"] == backup_id)
    return item


def test_redelivered_scheduled_event_does_not_back_up_twice(backup_handler: ModuleType) -> None:
    helpers.put_items(helpers.fleet_items(5))
    first = backup_handler.handler(helpers.scheduled_event(EVENT_ID), LambdaContextStub())
    counter = RequestCounter().attach(backup_handler.DEPS.clients)
    keys_before = {
        key: helpers.s3().head_object(Bucket=helpers.BUCKET, Key=key)["ETag"]
        for key in helpers.list_keys()
    }

    second = backup_handler.handler(helpers.scheduled_event(EVENT_ID), LambdaContextStub())

    assert second["backup_id"] == first["backup_id"]
    assert second["status"] == "already_done"
    assert counter.counts["s3.PutObject"] == 0
    assert counter.counts["dynamodb.Scan"] == 0
    assert {
        key: helpers.s3().head_object(Bucket=helpers.BUCKET, Key=key)["ETag"]
        for key in helpers.list_keys()
    } == keys_before


def test_concurrent_invocation_of_the_same_backup_stops_at_the_claim(
    backup_deps: BackupDeps,
) -> None:
    helpers.put_items(helpers.fleet_items(5))
    outcomes: list[Any] = []

    def second_invocation() -> None:
        other = BackupDeps(
            config=backup_deps.config, clients=AwsClients.from_config(backup_deps.config)
        )
        outcomes.append(run(other, owner="run-2"))

    # The second invocation arrives while the first is scanning the registry.
    before_first(backup_deps.clients, "dynamodb", "Scan", second_invocation)
    first = run(backup_deps, owner="run-1")

    assert first.status == "verified"
    (second,) = outcomes
    assert second.status == "in_progress"
    assert "run-1" in (second.note or "")
    assert second.backup_id == first.backup_id


def test_concurrent_invocations_in_threads_make_one_backup(backup_deps: BackupDeps) -> None:
    helpers.put_items(helpers.fleet_items(20))

    def invoke(owner: str) -> str:
        deps = BackupDeps(
            config=backup_deps.config, clients=AwsClients.from_config(backup_deps.config)
        )
        return str(run(deps, owner=owner).status)

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = sorted(pool.map(invoke, ["a", "b", "c"]))

    assert statuses.count("verified") == 1
    assert set(statuses) <= {"verified", "in_progress", "already_done"}
    assert len([k for k in helpers.list_keys() if k.endswith("manifest.json")]) == 1


def test_a_lapsed_claim_is_taken_over(backup_deps: BackupDeps) -> None:
    helpers.put_items(helpers.fleet_items(2))
    backup_id = layout.backup_id_for(1795658400, EVENT_ID)
    helpers.put_items(
        [
            {
                "pk": {"S": "BACKUP"},
                "sk": {"S": backup_id},
                "entity": {"S": "backup"},
                "status": {"S": "running"},
                "owner": {"S": "crashed-run"},
                "lease_expires_at": {"N": "1000"},
            }
        ]
    )
    result = run(backup_deps)
    assert result.status == "verified"
    assert backup_deps_item(backup_id)["owner"] == "run-1"


def test_failed_read_back_fails_the_backup_and_a_rerun_finishes_it(
    backup_deps: BackupDeps, inbox: aws_fleet.SnsInbox
) -> None:
    helpers.put_items(helpers.fleet_items(5))
    # GetObject #1 looks for an earlier attempt's manifest; the read-back (#2 on) is denied.
    denied = helpers.fail_nth(backup_deps.clients, "s3", "GetObject", 2, "AccessDenied", last=None)

    with pytest.raises(BackupFailedError, match="AccessDenied"):
        run(backup_deps)

    backup_id = layout.backup_id_for(1795658400, EVENT_ID)
    assert backup_deps_item(backup_id)["status"] == "failed"
    assert not any(key.endswith("VERIFIED") for key in helpers.list_keys())
    (message,) = inbox.receive()
    assert message["body"]["kind"] == "backup.failed"
    assert message["body"]["severity"] == "critical"

    denied.active = False  # the outage is over
    counter = RequestCounter().attach(backup_deps.clients)
    result = run(backup_deps)
    assert result.status == "verified"
    assert result.resumed is True
    assert counter.counts["dynamodb.Scan"] == 0  # the written backup was re-verified, not redone
    assert backup_deps_item(backup_id)["status"] == "verified"


def test_a_failed_scan_fails_the_backup_and_leaves_no_upload_behind(
    backup_env: dict[str, str], world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_PART_SIZE_MB", "5")

    config = BackupConfig.from_env()
    deps = BackupDeps(config=config, clients=AwsClients.from_config(config))
    helpers.put_items(
        {
            "pk": {"S": "FLEET#big"},
            "sk": {"S": f"INSTANCE#us-east-1#i-{n:08d}"},
            "noise": {"S": base64.b64encode(os.urandom(300_000)).decode()},
        }
        for n in range(40)
    )
    # ~2 items per 1 MB page: 14 pages (> 5 MiB compressed) go fine, then Scan fails for good.
    helpers.fail_nth(deps.clients, "dynamodb", "Scan", 15, "AccessDeniedException")
    parts = helpers.capture(deps.clients, "s3", "UploadPart")

    with pytest.raises(BackupFailedError, match="AccessDeniedException"):
        run(deps)

    assert parts, "a multipart upload had started"
    uploads = helpers.s3().list_multipart_uploads(Bucket=helpers.BUCKET).get("Uploads", [])
    assert uploads == []
    assert helpers.list_keys() == []


def test_dry_run_reports_sizes_and_writes_nothing(backup_handler: ModuleType) -> None:
    helpers.put_items(helpers.fleet_items(12))
    counter = RequestCounter().attach(backup_handler.DEPS.clients)

    result = backup_handler.handler({"dry_run": True}, LambdaContextStub())

    assert result["status"] == "dry_run"
    assert result["items"] == 12
    assert result["objects"]["registry"]["bytes"] > 0
    assert helpers.list_keys() == []
    assert counter.writes() == 0
    assert counter.total("s3") == 0


def test_manual_backup_gets_an_id_from_the_request(backup_handler: ModuleType) -> None:
    context = LambdaContextStub()
    result = backup_handler.handler({}, context)
    assert result["status"] == "verified"
    assert result["trigger"] == "manual"
    assert result["backup_id"].endswith("-" + layout.backup_id_for(0, context.aws_request_id)[-8:])


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ([], "event"),
        ("backup please", "event"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"dryrun": True}, "dryrun"),
        (helpers.scheduled_event(**{"detail-type": "Object Created"}), "detail-type"),
        (helpers.scheduled_event(source="aws.s3"), "source"),
        (helpers.scheduled_event(time="yesterday"), "time"),
    ],
)
def test_malformed_events_are_rejected_naming_the_field_and_write_nothing(
    backup_handler: ModuleType, event: Any, field: str
) -> None:
    counter = RequestCounter().attach(backup_handler.DEPS.clients)
    with pytest.raises(InvalidInputError) as raised:
        backup_handler.handler(event, LambdaContextStub())
    assert field in raised.value.fields
    assert counter.total() == 0
    assert helpers.list_keys() == []


def test_bad_configuration_fails_at_cold_start_naming_every_variable(
    backup_env: dict[str, str], world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKUP_BUCKET")
    monkeypatch.setenv("BACKUP_PART_SIZE_MB", "2")
    monkeypatch.setenv("RESTORE_WRITE_CONCURRENCY", "0")
    with pytest.raises(ConfigError) as raised:
        helpers.reload("fleetops.backup.handler")
    assert set(raised.value.problems) == {
        "BACKUP_BUCKET",
        "BACKUP_PART_SIZE_MB",
        "RESTORE_WRITE_CONCURRENCY",
    }
    assert raised.value.problems["BACKUP_BUCKET"] == "required but not set"

    monkeypatch.setenv("BACKUP_BUCKET", "Not_A_Bucket")
    with pytest.raises(ConfigError, match="BACKUP_BUCKET: 'Not_A_Bucket' is not an S3 bucket"):
        helpers.reload("fleetops.backup.restore_handler")


def test_s3_unreachable_before_the_claim_fails_cleanly(
    backup_deps: BackupDeps, inbox: aws_fleet.SnsInbox
) -> None:
    fail_first(backup_deps.clients, "s3", "HeadObject", times=None, code="AccessDenied", status=403)
    with pytest.raises(BackupFailedError, match="AccessDenied"):
        run(backup_deps)
    assert [i for i in aws_fleet.scan_table() if i["pk"] == "BACKUP"] == []
    assert helpers.list_keys() == []
    (message,) = inbox.receive()
    assert message["body"]["kind"] == "backup.failed"


def test_an_asg_naming_a_deleted_launch_template_is_recorded_not_fatal(
    backup_deps: BackupDeps,
) -> None:
    fleet = aws_fleet.build_fleet("web", ["us-west-2"], asgs_per_region=1, instances_per_asg=1)
    aws_fleet.aws("ec2", "us-west-2").delete_launch_template(
        LaunchTemplateId=fleet.templates["us-west-2"].id
    )

    result = run(backup_deps)

    assert result.status == "verified"
    assert result.regions["us-west-2"].status == "ok"
    lines = helpers.read_lines(result.objects["config"]["key"])
    (missing,) = (line for line in lines if line["kind"] == "launch_template_missing")
    assert missing["template"] == fleet.templates["us-west-2"].id
    assert "NotFound" in missing["error"]
