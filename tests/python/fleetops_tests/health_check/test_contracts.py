"""Contracts with the other fleet-ops components health-check talks to."""

from __future__ import annotations

import json

from fleetops.core.registry import InstanceRecord
from fleetops.health_check.fleet_breaker import FleetTally, recovery_input
from fleetops.health_check.records import Health, HealthState, execution_name
from fleetops.workflows import recovery


def sample_input() -> dict[str, object]:
    tally = FleetTally()
    for az, health in (("us-east-1a", Health.IMPAIRED), ("us-east-1b", Health.HEALTHY)):
        tally.add("us-east-1", az, health)
    tally.add("us-west-2", "us-west-2a", Health.UNKNOWN)
    return recovery_input(execution_name("web", 1_767_225_600), "web", tally)


def test_the_recovery_input_has_the_agreed_shape() -> None:
    payload = sample_input()
    assert payload == {
        "incident_id": "hc-web-1767225600",
        "fleet": "web",
        "source": "health-check",
        "regions": ["us-east-1", "us-west-2"],
        "unhealthy_share": round(1 / 3, 4),
        "by_az": {
            "us-east-1a": {"instances": 1, "impaired": 1, "unknown": 0},
            "us-east-1b": {"instances": 1, "impaired": 0, "unknown": 0},
            "us-west-2a": {"instances": 1, "impaired": 0, "unknown": 1},
        },
    }
    json.dumps(payload)


def test_the_recovery_workflow_accepts_the_input() -> None:
    recovery.RecoveryInput.model_validate(sample_input())


def test_the_workflow_reads_our_impaired_verdict() -> None:
    """The recovery workflow flags registry instances whose `health` is impaired/unhealthy."""
    assert Health.IMPAIRED.value in recovery.UNHEALTHY_REGISTRY_STATES


def test_our_attributes_are_health_star_and_never_fleet_syncs() -> None:
    owned = set(HealthState.OWNED)
    assert all(name.startswith("health") for name in owned)
    assert not owned & set(InstanceRecord.SYNC_ATTRS)
    assert set(InstanceRecord.HEALTH_ATTRS) <= owned
