"""The cleanup Lambda's entry point: events, configuration, an end-to-end scheduled run."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from fleetops.cleanup.config import CleanupConfig
from fleetops.cleanup.request import parse_request
from fleetops.core.errors import ConfigError, InvalidInputError
from fleetops_tests.backup import helpers
from fleetops_tests.cleanup import builders
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import base_env
from fleetops_tests.support.lambda_context import LambdaContextStub


def test_scheduled_run_marks_orphans_and_reports(
    cleanup_handler: ModuleType, inbox: aws_fleet.SnsInbox
) -> None:
    volume = builders.orphan_volume("us-west-2")
    result = cleanup_handler.handler(helpers.scheduled_event(), LambdaContextStub())

    assert result["status"] == "ok"
    assert result["dry_run"] is False  # ENVIRONMENT=dev
    assert result["trigger"] == "schedule"
    assert set(result["regions"]) == {"us-east-1", "us-west-2", "eu-west-1"}
    assert result["regions"]["us-west-2"]["counts"] == {"volume": {"marked": 1}}
    (action,) = result["actions"]
    assert action["id"] == volume and action["action"] == "marked"
    assert "fleetops:delete-after" in builders.tags_of("us-west-2", volume)
    (message,) = inbox.receive()
    assert message["MessageAttributes"]["kind"]["Value"] == "cleanup.report"
    assert message["body"]["source"] == "cleanup"
    lease = [i for i in aws_fleet.scan_table() if i["pk"] == "CLEANUP"]
    assert lease[0]["lease_expires_at"] == 0  # released


def test_manual_run_limited_to_regions(cleanup_handler: ModuleType) -> None:
    east = builders.orphan_volume("us-east-1")
    west = builders.orphan_volume("us-west-2")
    result = cleanup_handler.handler(
        {"regions": ["us-east-1"], "dry_run": True}, LambdaContextStub()
    )
    assert result["trigger"] == "manual" and result["dry_run"] is True
    assert list(result["regions"]) == ["us-east-1"]
    assert [a["id"] for a in result["actions"]] == [east]
    assert "fleetops:delete-after" not in builders.tags_of("us-east-1", east)
    assert "fleetops:delete-after" not in builders.tags_of("us-west-2", west)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ([], "event"),
        ({"regions": ["mars-north-1"]}, "regions.0"),
        ({"regions": []}, "regions"),
        ({"regions": "us-east-1"}, "regions"),
        ({"dry_run": "no"}, "dry_run"),
        ({"dryRun": True}, "dryRun"),
        (helpers.scheduled_event(source="aws.ec2"), "source"),
    ],
)
def test_malformed_events_are_rejected_naming_the_field(
    cleanup_handler: ModuleType, event: Any, field: str
) -> None:
    counter = RequestCounter().attach(cleanup_handler.DEPS.clients)
    with pytest.raises(InvalidInputError) as raised:
        cleanup_handler.handler(event, LambdaContextStub())
    assert field in raised.value.fields
    assert counter.total() == 0


def test_a_manual_run_cannot_turn_dry_run_off_where_it_is_on() -> None:
    config = CleanupConfig.from_env(base_env(ENVIRONMENT="prod", BACKUP_BUCKET="b-ucket"))
    assert config.dry_run is True
    with pytest.raises(InvalidInputError) as raised:
        parse_request({"dry_run": False}, config)
    assert "DRY_RUN is true" in raised.value.fields["dry_run"]
    assert parse_request({}, config).dry_run is True
    assert parse_request({"dry_run": True}, config).dry_run is True


@pytest.mark.parametrize(
    ("environment", "dry_run", "expected"),
    [
        ("dev", None, False),
        ("staging", None, True),
        ("prod", None, True),
        ("prod", "false", False),
        ("dev", "true", True),
    ],
)
def test_dry_run_defaults_per_environment_and_explicit_wins(
    environment: str, dry_run: str | None, expected: bool
) -> None:
    env = base_env(ENVIRONMENT=environment, BACKUP_BUCKET="b-ucket")
    if dry_run is not None:
        env["DRY_RUN"] = dry_run
    assert CleanupConfig.from_env(env).dry_run is expected


def test_bad_configuration_names_every_variable(
    cleanup_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKUP_BUCKET")
    monkeypatch.setenv("CLEANUP_RETENTION_DAYS", "0")
    monkeypatch.setenv("CLEANUP_GRACE_DAYS", "-1")
    monkeypatch.setenv("CLEANUP_MAX_DELETIONS", "lots")
    monkeypatch.setenv("BACKUP_RETENTION_DAYS", "0")
    monkeypatch.setenv("TOMBSTONE_RETENTION_DAYS", "0")
    monkeypatch.setenv("DRY_RUN", "maybe")
    with pytest.raises(ConfigError) as raised:
        helpers.reload("fleetops.cleanup.handler")
    assert set(raised.value.problems) == {
        "BACKUP_BUCKET",
        "CLEANUP_RETENTION_DAYS",
        "CLEANUP_GRACE_DAYS",
        "CLEANUP_MAX_DELETIONS",
        "BACKUP_RETENTION_DAYS",
        "TOMBSTONE_RETENTION_DAYS",
        "DRY_RUN",
    }
    assert "greater than 0" in raised.value.problems["CLEANUP_RETENTION_DAYS"]
