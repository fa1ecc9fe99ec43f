"""Accepted inputs."""

from __future__ import annotations

import pytest

from fleetops.core.errors import InvalidInputError
from fleetops.fleet_sync.config import FleetSyncConfig
from fleetops.fleet_sync.request import parse_request
from fleetops_tests.support.env import FLEET_REGIONS, base_env

CONFIG = FleetSyncConfig.from_env(base_env())
SCHEDULED = {
    "version": "0",
    "id": "x",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2024-05-01T12:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


def test_the_schedule_syncs_every_fleet_in_every_configured_region() -> None:
    request = parse_request(SCHEDULED, CONFIG)
    assert (request.trigger, request.regions, request.fleets, request.dry_run) == (
        "schedule",
        FLEET_REGIONS,
        None,
        False,
    )


def test_eventbridge_scheduler_events_are_accepted_too() -> None:
    assert (
        parse_request({**SCHEDULED, "source": "aws.scheduler", "detail": "{}"}, CONFIG).trigger
        == "schedule"
    )


def test_a_per_region_schedule_covers_its_regions_only() -> None:
    # What the deployed rule's input transformer sends: the event plus `regions`.
    request = parse_request({**SCHEDULED, "regions": ["us-west-2", "us-west-2"]}, CONFIG)
    assert (request.trigger, request.regions, request.fleets) == ("schedule", ("us-west-2",), None)


@pytest.mark.parametrize(
    ("regions", "field"),
    [(["mars-north-1"], "regions.0"), ([], "regions"), ("us-west-2", "regions")],
)
def test_a_schedule_for_unknown_or_malformed_regions_is_rejected(
    regions: object, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_request({**SCHEDULED, "regions": regions}, CONFIG)
    assert set(caught.value.fields) == {field}


def test_a_manual_invocation_narrows_the_run() -> None:
    request = parse_request(
        {"fleets": ["web", "api", "web"], "regions": ["eu-west-1"], "dry_run": True}, CONFIG
    )
    assert (request.trigger, request.regions, request.fleets, request.dry_run) == (
        "manual",
        ("eu-west-1",),
        ("web", "api"),
        True,
    )


def test_every_bad_field_is_named() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_request({"fleets": [""], "dry_run": 1, "extra": True}, CONFIG)
    assert set(caught.value.fields) == {"fleets.0", "dry_run", "extra"}


def test_config_defaults() -> None:
    assert (
        CONFIG.az_imbalance_threshold,
        CONFIG.drift_notify_window_seconds,
        CONFIG.tombstone_ttl_seconds,
    ) == (
        1,
        3600,
        7 * 86400,
    )
