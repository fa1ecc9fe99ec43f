"""Fixtures for backup / restore tests: configuration, the bucket, deps, handler modules."""

from __future__ import annotations

from types import ModuleType

import pytest

from fleetops.backup.backup import BackupDeps
from fleetops.backup.config import BackupConfig
from fleetops.backup.restore import RestoreDeps
from fleetops.core.aws import AwsClients
from fleetops_tests.backup import helpers


@pytest.fixture
def backup_env(config_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {
        "BACKUP_BUCKET": helpers.BUCKET,
        "BACKUP_KMS_KEY_ID": helpers.KMS_KEY,
        "RESTORE_CHUNK_ITEMS": "50",  # several chunks in flight even for small test registries
        "RESTORE_WRITE_CONCURRENCY": "4",
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return {**config_env, **extra}


@pytest.fixture
def bucket(aws: None) -> str:
    return helpers.create_bucket()


@pytest.fixture
def world(registry: str, bucket: str, topic: str) -> None:
    """Registry table, backup bucket and topic exist."""


@pytest.fixture
def backup_config(backup_env: dict[str, str]) -> BackupConfig:
    return BackupConfig.from_env()


@pytest.fixture
def backup_deps(backup_config: BackupConfig, world: None) -> BackupDeps:
    return BackupDeps(config=backup_config, clients=AwsClients.from_config(backup_config))


@pytest.fixture
def restore_deps(backup_config: BackupConfig, world: None) -> RestoreDeps:
    return RestoreDeps(
        config=backup_config,
        clients=AwsClients.from_config(backup_config),
        sleep=lambda seconds: pytest.fail(f"restore slept {seconds}s"),
    )


@pytest.fixture
def backup_handler(backup_env: dict[str, str], world: None) -> ModuleType:
    return helpers.reload("fleetops.backup.handler")


@pytest.fixture
def restore_handler(backup_env: dict[str, str], world: None) -> ModuleType:
    return helpers.reload("fleetops.backup.restore_handler")
