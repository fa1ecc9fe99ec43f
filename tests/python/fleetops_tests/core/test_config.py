from __future__ import annotations

import pytest
from pydantic import Field

from fleetops.core.aws import RetrySettings
from fleetops.core.breaker import BreakerSettings
from fleetops.core.config import BaseConfig, CsvTuple
from fleetops.core.errors import ConfigError
from fleetops_tests.support.env import base_env, topic_arn


def test_valid_environment_is_parsed_once_into_typed_fields() -> None:
    config = BaseConfig.from_env(
        base_env(REGIONS="us-east-1, eu-west-1,us-east-1", LOG_LEVEL="debug", DRY_RUN="true")
    )
    assert config.environment == "dev"
    assert config.log_level == "DEBUG"
    assert config.regions == ("us-east-1", "eu-west-1")
    assert config.dry_run is True
    assert config.fleet_tag_key == "Fleet"
    assert config.sns_topic == topic_arn()


def test_regions_default_to_the_home_region_and_empty_values_count_as_unset() -> None:
    env = base_env(REGION="eu-central-1", REGIONS="", FLEET_TAG_KEY="", LOG_LEVEL="")
    config = BaseConfig.from_env(env)
    assert config.regions == ("eu-central-1",)
    assert config.fleet_tag_key == "Fleet"
    assert config.log_level == "INFO"


def test_every_bad_variable_is_named_in_one_error() -> None:
    env = base_env(
        ENVIRONMENT="qa",
        LOG_LEVEL="LOUD",
        REGIONS="us-east-1,moon-base",
        SNS_TOPIC="not-an-arn",
        RETRY_MAX_ATTEMPTS="zero",
        AWS_ENDPOINT_URL="localhost:5000",
    )
    del env["DDB_TABLE"]
    del env["REGION"]
    with pytest.raises(ConfigError) as caught:
        BaseConfig.from_env(env)
    problems = caught.value.problems
    assert set(problems) == {
        "ENVIRONMENT",
        "LOG_LEVEL",
        "REGION",
        "REGIONS",
        "DDB_TABLE",
        "SNS_TOPIC",
        "RETRY_MAX_ATTEMPTS",
        "AWS_ENDPOINT_URL",
    }
    assert problems["DDB_TABLE"] == "required but not set"
    assert "'qa'" in problems["ENVIRONMENT"]
    assert "item 2" in problems["REGIONS"] and "moon-base" in problems["REGIONS"]
    message = str(caught.value)
    for name in problems:
        assert name in message


def test_functions_extend_the_base_and_their_variables_join_the_same_report() -> None:
    class ProbeConfig(BaseConfig):
        probe_timeout_seconds: float = Field(default=2.0, gt=0)
        probe_ports: CsvTuple = ("22",)

    config = ProbeConfig.from_env(base_env(PROBE_PORTS="80, 443"))
    assert config.probe_ports == ("80", "443")
    assert config.probe_timeout_seconds == 2.0

    with pytest.raises(ConfigError) as caught:
        ProbeConfig.from_env(base_env(PROBE_TIMEOUT_SECONDS="-1", ENVIRONMENT="nope"))
    assert set(caught.value.problems) == {"PROBE_TIMEOUT_SECONDS", "ENVIRONMENT"}


def test_retry_and_breaker_settings_come_from_the_environment() -> None:
    config = BaseConfig.from_env(
        base_env(
            RETRY_MAX_ATTEMPTS="7",
            RETRY_BASE_DELAY_SECONDS="0.5",
            RETRY_MAX_DELAY_SECONDS="8",
            BREAKER_FAILURE_THRESHOLD="3",
            BREAKER_OPEN_SECONDS="12",
        )
    )
    assert config.retry == RetrySettings(max_attempts=7, base_delay=0.5, max_delay=8.0)
    assert config.breaker == BreakerSettings(failure_threshold=3, open_seconds=12.0)


def test_configuration_is_immutable() -> None:
    config = BaseConfig.from_env(base_env())
    with pytest.raises(ValueError, match="frozen"):
        config.region = "eu-west-1"
