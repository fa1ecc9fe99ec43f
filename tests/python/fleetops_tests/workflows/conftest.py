"""Fixtures of the workflow tests, on top of the shared ones (`fleetops_tests/conftest.py`):
moto with its ASL engine executing, the real workflow-tasks and restore handlers behind moto's
Lambda, and the three state machines."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from moto import mock_aws

from fleetops.core.registry import RegistryTable
from fleetops.workflows.deps import TaskDeps
from fleetops_tests.workflows import harness
from fleetops_tests.workflows.fleet import registry_table

if TYPE_CHECKING:
    # Imported for real in fixtures, once the environment is set (they read it at import);
    # named here so that dependency inference (Pants) sees them.
    import fleetops.workflows.handler  # noqa: F401

BACKUP_BUCKET = "fleetops-workflow-backups-test"


@pytest.fixture
def env(config_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {"LOG_LEVEL": "WARNING", "BACKUP_BUCKET": BACKUP_BUCKET}
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return {**config_env, **extra}


@pytest.fixture
def aws(env: dict[str, str]) -> Iterator[None]:
    """Overrides the shared `aws`: moto's Step Functions engine executes the definitions."""
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with mock_aws(config=harness.MOTO_CONFIG):
        yield


@pytest.fixture
def handler_module(aws: None, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The real Lambda module, with fresh clients (and breakers) for this test."""
    module = importlib.import_module("fleetops.workflows.handler")
    monkeypatch.setattr(module, "DEPS", TaskDeps.build(module.CONFIG))
    return module


@pytest.fixture
def router(handler_module: ModuleType) -> Iterator[harness.LambdaRouter]:
    lambda_router = harness.LambdaRouter()
    lambda_router.route(harness.WORKFLOW_TASKS_ARN, handler_module.handler)
    with lambda_router.patched():
        yield lambda_router


@pytest.fixture
def table(registry: str) -> RegistryTable:
    return registry_table()


@pytest.fixture
def workflows(aws: None, router: harness.LambdaRouter, registry: str, inbox) -> harness.Workflows:
    return harness.Workflows()
