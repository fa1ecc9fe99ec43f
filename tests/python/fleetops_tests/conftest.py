"""Fixtures shared by every fleet-ops test.

Powertools reads its variables when `fleetops.core.observability` is imported, so they are set
here, before any test module imports fleetops: tracing off, a fixed service name.

- `aws_credentials` (autouse): fake credentials, no profile, no endpoint override, so nothing
  can reach a real AWS account.
- `aws`: moto's in-process mock of every service for the test's duration.
- `config_env`: valid configuration variables in `os.environ` (returns the dict; tests tweak it
  with `monkeypatch.setenv`).
- `registry`, `topic`, `inbox`: the registry table, the SNS topic and an SQS inbox subscribed to it.
- `clients`: an `AwsClients` built from the config, as a function would build it.
"""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "fleetops-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FleetOps")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from fleetops.core.aws import AwsClients  # noqa: E402
from fleetops.core.config import BaseConfig  # noqa: E402
from fleetops_tests.support import aws_fleet  # noqa: E402
from fleetops_tests.support.env import FAKE_CREDENTIALS, base_env  # noqa: E402

_LEAKY_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _LEAKY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def config_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = base_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def registry(aws: None) -> str:
    aws_fleet.create_registry_table()
    return aws_fleet.TABLE_NAME


@pytest.fixture
def topic(aws: None) -> str:
    return aws_fleet.create_topic()


@pytest.fixture
def inbox(topic: str) -> aws_fleet.SnsInbox:
    return aws_fleet.SnsInbox(topic)


@pytest.fixture
def clients(config_env: dict[str, str]) -> AwsClients:
    return AwsClients.from_config(BaseConfig.from_env())
