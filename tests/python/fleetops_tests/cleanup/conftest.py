"""Fixtures for cleanup tests: configuration, a settable clock, deps, the handler module."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from fleetops.cleanup.cleanup import CleanupDeps
from fleetops.cleanup.config import CleanupConfig
from fleetops.core.aws import AwsClients
from fleetops_tests.backup import helpers
from fleetops_tests.cleanup.builders import DAY, MOTO_NOW, Clock


@pytest.fixture
def cleanup_env(config_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {
        "BACKUP_BUCKET": helpers.BUCKET,
        "CLEANUP_RETENTION_DAYS": "30",
        "CLEANUP_GRACE_DAYS": "7",
        "CLEANUP_MAX_DELETIONS": "50",
        "BACKUP_RETENTION_DAYS": "30",
        "TOMBSTONE_RETENTION_DAYS": "30",
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return {**config_env, **extra}


@pytest.fixture
def world(registry: str, topic: str, aws: None) -> None:
    helpers.create_bucket()


@pytest.fixture
def clock() -> Clock:
    """40 days after moto stamped the test's resources: old enough for the 30-day retention."""
    return Clock(MOTO_NOW + 40 * DAY)


@pytest.fixture
def make_deps(cleanup_env: dict[str, str], world: None, clock: Clock) -> Callable[..., CleanupDeps]:
    def make(**overrides: object) -> CleanupDeps:
        config = CleanupConfig.from_env()
        clients = AwsClients.from_config(config, **overrides)  # type: ignore[arg-type]
        return CleanupDeps(config=config, clients=clients, clock=clock)

    return make


@pytest.fixture
def deps(make_deps: Callable[..., CleanupDeps]) -> CleanupDeps:
    return make_deps()


@pytest.fixture
def cleanup_handler(cleanup_env: dict[str, str], world: None) -> ModuleType:
    return helpers.reload("fleetops.cleanup.handler")
