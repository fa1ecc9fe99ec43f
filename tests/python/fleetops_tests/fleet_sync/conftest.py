"""fleet-sync fixtures: a multi-region fleet in moto and a harness that runs syncs against it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from fleetops.core.registry import keys
from fleetops.fleet_sync.config import FleetSyncConfig
from fleetops.fleet_sync.report import SyncResult
from fleetops.fleet_sync.request import parse_request
from fleetops.fleet_sync.sync import SyncDeps, run_sync
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import FLEET_REGIONS, base_env

START = 1_700_000_000.0


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """Runs fleet-sync in-process with real (moto-backed) clients, counting every request."""

    env: dict[str, str]
    endpoint_overrides: dict[str, str] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.config = FleetSyncConfig.from_env(self.env)
        self.deps = SyncDeps.create(
            self.config, endpoint_overrides=self.endpoint_overrides, clock=self.clock
        )
        self.clients = self.deps.clients
        self.counter = RequestCounter().attach(self.clients)

    def run(self, event: Mapping[str, Any] | None = None) -> SyncResult:
        request = parse_request(dict(event or {}), self.config)
        return run_sync(request, self.deps)

    def items(self) -> list[dict[str, Any]]:
        return aws_fleet.scan_table()

    def item(self, key: keys.Key) -> dict[str, Any] | None:
        return self.deps.table.get(key)

    def instance(self, fleet: str, region: str, instance_id: str) -> dict[str, Any]:
        item = self.item(keys.instance_key(fleet, region, instance_id))
        assert item is not None, f"no registry item for {instance_id}"
        return item


@dataclass
class World:
    """The moto account: registry, topic + inbox, and fleet `web` (3 regions x 2 ASGs x 6)."""

    web: aws_fleet.BuiltFleet
    inbox: aws_fleet.SnsInbox
    topic: str

    @property
    def web_instances(self) -> int:
        return sum(len(self.web.instance_ids(region)) for region in FLEET_REGIONS)

    @property
    def web_asgs(self) -> int:
        return sum(len(asgs) for asgs in self.web.asgs.values())


@pytest.fixture
def world(registry: str, topic: str, inbox: aws_fleet.SnsInbox) -> World:
    web = aws_fleet.build_fleet("web", FLEET_REGIONS, asgs_per_region=2, instances_per_asg=6)
    return World(web=web, inbox=inbox, topic=topic)


@pytest.fixture
def harness(world: World, config_env: dict[str, str]) -> Harness:
    return Harness(env=base_env(WRITE_CONCURRENCY="4"))


@pytest.fixture
def load_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import `fleetops.fleet_sync.handler` afresh (a cold start) under a given environment."""

    def load(env: Mapping[str, str]) -> ModuleType:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("fleetops.fleet_sync.handler", None)
        return importlib.import_module("fleetops.fleet_sync.handler")

    yield load
    sys.modules.pop("fleetops.fleet_sync.handler", None)
