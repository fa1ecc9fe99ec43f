"""What every task needs from outside, built once per container (cold start)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetops.core.aws import AwsClients
from fleetops.core.clock import Clock, system_clock
from fleetops.core.registry import RegistryTable
from fleetops.workflows.config import WorkflowConfig


@dataclass
class TaskDeps:
    config: WorkflowConfig
    clients: AwsClients
    clock: Clock = system_clock
    table: RegistryTable = field(init=False)

    def __post_init__(self) -> None:
        self.table = RegistryTable.from_clients(self.clients, self.config)

    @classmethod
    def build(cls, config: WorkflowConfig, *, clock: Clock = system_clock) -> TaskDeps:
        return cls(config=config, clients=AwsClients.from_config(config), clock=clock)
