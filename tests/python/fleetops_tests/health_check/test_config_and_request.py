"""Bad configuration and malformed events are rejected clearly, before anything is touched."""

from __future__ import annotations

import importlib
import sys

import pytest

from fleetops.core.errors import ConfigError, InvalidInputError
from fleetops.health_check.config import HealthCheckConfig
from fleetops.health_check.request import parse_request
from fleetops_tests.health_check.helpers import STATE_MACHINE_ARN, health_env
from fleetops_tests.support.env import FLEET_REGIONS

SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/fleetops-health-check"],
    "detail": {},
}


@pytest.fixture
def config() -> HealthCheckConfig:
    return HealthCheckConfig.from_env(health_env())


def test_valid_configuration_and_defaults() -> None:
    env = health_env()
    for name in list(env):
        if name not in {
            "ENVIRONMENT",
            "REGION",
            "DDB_TABLE",
            "SNS_TOPIC",
            "RECOVERY_STATE_MACHINE_ARN",
        }:
            del env[name]
    config = HealthCheckConfig.from_env(env)
    assert config.recovery_state_machine_arn == STATE_MACHINE_ARN
    assert config.recovery_region == "us-east-1"
    assert config.regions == ("us-east-1",)
    assert config.unhealthy_checks_before_action == 3
    assert config.remediation_budget_share == 0.1
    assert config.breaker_unhealthy_share == 0.3
    assert config.dry_run is False


def test_every_bad_variable_is_named_in_one_error() -> None:
    env = health_env(
        RECOVERY_STATE_MACHINE_ARN="arn:aws:lambda:us-east-1:123456789012:function:nope",
        REMEDIATION_BUDGET_SHARE="1.5",
        BREAKER_UNHEALTHY_SHARE="0",
        FLAP_TRANSITIONS="1",
        UNHEALTHY_CHECKS_BEFORE_ACTION="many",
        REBOOT_GRACE_SECONDS="-1",
        DRY_RUN="perhaps",
    )
    del env["ENVIRONMENT"]
    with pytest.raises(ConfigError) as raised:
        HealthCheckConfig.from_env(env)
    assert set(raised.value.problems) == {
        "ENVIRONMENT",
        "RECOVERY_STATE_MACHINE_ARN",
        "REMEDIATION_BUDGET_SHARE",
        "BREAKER_UNHEALTHY_SHARE",
        "FLAP_TRANSITIONS",
        "UNHEALTHY_CHECKS_BEFORE_ACTION",
        "REBOOT_GRACE_SECONDS",
        "DRY_RUN",
    }
    assert "state machine ARN" in raised.value.problems["RECOVERY_STATE_MACHINE_ARN"]
    assert "required" in raised.value.problems["ENVIRONMENT"]


def test_the_state_machine_arn_is_required() -> None:
    env = health_env()
    del env["RECOVERY_STATE_MACHINE_ARN"]
    with pytest.raises(ConfigError, match="RECOVERY_STATE_MACHINE_ARN: required"):
        HealthCheckConfig.from_env(env)


def test_the_handler_fails_at_cold_start_on_bad_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in health_env(REMEDIATION_WINDOW_SECONDS="10").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RECOVERY_STATE_MACHINE_ARN")
    monkeypatch.delitem(sys.modules, "fleetops.health_check.handler", raising=False)
    with pytest.raises(ConfigError) as raised:
        importlib.import_module("fleetops.health_check.handler")
    assert set(raised.value.problems) == {
        "RECOVERY_STATE_MACHINE_ARN",
        "REMEDIATION_WINDOW_SECONDS",
    }


@pytest.mark.parametrize("source", ["aws.events", "aws.scheduler"])
def test_the_schedule_checks_every_fleet_in_every_configured_region(
    config: HealthCheckConfig, source: str
) -> None:
    request = parse_request({**SCHEDULED, "source": source}, config)
    assert request.trigger == "schedule"
    assert request.fleets is None
    assert request.regions == FLEET_REGIONS
    assert request.dry_run is False


def test_dry_run_configuration_applies_to_scheduled_runs() -> None:
    config = HealthCheckConfig.from_env(health_env(DRY_RUN="true"))
    assert parse_request(SCHEDULED, config).dry_run is True


def test_manual_invocation(config: HealthCheckConfig) -> None:
    request = parse_request(
        {"fleets": ["web", "web", "api"], "regions": ["eu-west-1"], "dry_run": True}, config
    )
    assert request.trigger == "manual"
    assert request.fleets == ("web", "api")
    assert request.regions == ("eu-west-1",)
    assert request.dry_run is True
    assert parse_request({}, config).fleets is None


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"fleet": ["web"]}, "fleet"),
        ({"fleets": "web"}, "fleets"),
        ({"fleets": []}, "fleets"),
        ({"fleets": ["bad#name"]}, "fleets.0"),
        ({"regions": ["us-east-1", "ap-south-1"]}, "regions.1"),
        ({"dry_run": "yes"}, "dry_run"),
        ({**SCHEDULED, "detail-type": "Object Created"}, "detail-type"),
        ({**SCHEDULED, "source": "aws.s3"}, "source"),
        ({"source": "aws.events"}, "detail-type"),
        (["web"], "event"),
        ("run", "event"),
    ],
)
def test_malformed_events_are_rejected_naming_the_field(
    config: HealthCheckConfig, event: object, field: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_request(event, config)
    assert field in raised.value.fields, raised.value.fields
