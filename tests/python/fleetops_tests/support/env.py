"""The test environment every fleet-ops test shares: names, regions, config variables."""

from __future__ import annotations

ACCOUNT_ID = "123456789012"
"""moto's default account."""

HOME_REGION = "us-east-1"
FLEET_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
TABLE_NAME = "fleetops-registry-test"
TOPIC_NAME = "fleetops-notifications-test"
TAG_KEY = "Fleet"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": HOME_REGION,
}
"""Credentials moto accepts; set so no test can ever reach a real account."""


def topic_arn(region: str = HOME_REGION, name: str = TOPIC_NAME) -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT_ID}:{name}"


def base_env(**overrides: str) -> dict[str, str]:
    """Valid configuration variables for any function; retries without real waits.

    `base_env(REGIONS="us-east-1", WRITE_CONCURRENCY="1")` overrides or adds variables.
    """
    env = {
        "ENVIRONMENT": "dev",
        "LOG_LEVEL": "INFO",
        "REGION": HOME_REGION,
        "DDB_TABLE": TABLE_NAME,
        "SNS_TOPIC": topic_arn(),
        "REGIONS": ",".join(FLEET_REGIONS),
        "FLEET_TAG_KEY": TAG_KEY,
        "RETRY_MAX_ATTEMPTS": "4",
        "RETRY_BASE_DELAY_SECONDS": "0",
        "RETRY_MAX_DELAY_SECONDS": "0",
    }
    env.update(overrides)
    return env
