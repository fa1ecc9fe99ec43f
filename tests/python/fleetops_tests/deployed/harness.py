"""Driving the deployed stack: seeded fleets, functions invoked through the Lambda API,
schedules fired through the rules Terraform created, workflows started in the deployed state
machines, and what the local AWS recorded (invocations, IAM decisions)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetops.core.registry import RegistryTable
from fleetops.local_aws.client import LocalAws, RunningServer
from fleetops.local_aws.stack import Stack
from fleetops_tests.support import aws_fleet
from fleetops_tests.workflows.fleet import RegionFleet
from fleetops_tests.workflows.harness import Execution, wait_for_execution

SCALED_ASG = "fleetops-demo-web"
"""The group of the local root's default scaling alarm (infra/envs/local/variables.tf)."""


@dataclass
class Fleets:
    web: aws_fleet.BuiltFleet
    """fleet-sync, health-check, backup, cleanup: one group in each fleet Region."""
    scaled: aws_fleet.BuiltAsg
    """The scaling alarm's group (fleet `web`, home Region)."""
    shop: RegionFleet
    """The deployment workflow's blue/green fleet."""
    batch: RegionFleet
    """The maintenance workflow's fleet."""
    api: aws_fleet.BuiltFleet
    """The recovery workflow's fleet, in both Regions."""


def seed_fleets(local: LocalAws, stack: Stack) -> Fleets:
    """EC2, Auto Scaling and ELB resources, created by an administrator (not by the stack)."""
    home, other = stack.region, next(r for r in stack.regions if r != stack.region)
    web = aws_fleet.build_fleet("web", [home, other], asgs_per_region=1, instances_per_asg=3)
    scaled = aws_fleet.create_asg(
        home,
        network=web.networks[home],
        fleet="web",
        name=SCALED_ASG,
        instances=2,
        launch_template=web.templates[home],
    )
    web.asgs[home].append(scaled)
    shop = RegionFleet("shop", home)
    shop.load_balancer()
    shop.group("shop-blue", 2, target_groups=[shop.blue_tg])
    batch = RegionFleet("batch", home)
    batch.load_balancer()
    batch.group("batch-app", 4, target_groups=[batch.blue_tg])
    api = aws_fleet.build_fleet("api", [home, other], asgs_per_region=1, instances_per_asg=6)
    return Fleets(web, scaled, shop, batch, api)


@dataclass
class Deployed:
    server: RunningServer
    stack: Stack
    artifacts: Path
    fleets: Fleets
    synced: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> LocalAws:
        return self.server.local

    @property
    def home(self) -> str:
        return self.stack.region

    @property
    def other(self) -> str:
        return next(r for r in self.stack.regions if r != self.stack.region)

    def client(self, service: str, region: str | None = None) -> Any:
        return self.local.client(service, region or self.home)

    def table(self) -> RegistryTable:
        return RegistryTable(self.client("dynamodb"), self.stack.table)

    # ---- functions ----

    def function_name(self, name: str) -> str:
        return str(self.stack.function(name)["function_name"])

    def role_name(self, name: str) -> str:
        return str(self.stack.function(name)["role_arn"]).rsplit("/", 1)[-1]

    def invoke(self, name: str, event: Any) -> Invoked:
        """A synchronous invoke through the Lambda API, as the CLI or a workflow task does."""
        since = self.journal_seq()
        response = self.client("lambda").invoke(
            FunctionName=self.function_name(name), Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        entries = [
            e
            for e in self.local.invocations(since)
            if e["function_name"] == self.function_name(name)
        ]
        return Invoked(payload, response.get("FunctionError"), entries[-1] if entries else None)

    def journal_seq(self) -> int:
        entries = self.local.invocations()
        return int(entries[-1]["seq"]) if entries else 0

    def audit_seq(self) -> int:
        records = self.local.audit()
        return int(records[-1]["seq"]) if records else 0

    def fire(
        self, rule: str, region: str | None = None, timeout: float = 300
    ) -> list[dict[str, Any]]:
        """Fire a schedule rule Terraform created; wait for its (asynchronous) invocations and
        return their final journal entries (one per target)."""
        since = self.journal_seq()
        delivered = self.local.fire_rule(region or self.home, rule)
        assert delivered and all(d["delivered"] for d in delivered), delivered
        self.local.wait_for_lambdas(timeout)
        ids = {d["request_id"] for d in delivered}
        entries = [e for e in self.local.invocations(since) if e["request_id"] in ids]
        finals = {}
        for entry in entries:
            finals[entry["request_id"]] = entry
        return list(finals.values())

    def denials(self, since: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.local.audit(since) if r["decision"] != "allow"]

    # ---- workflows ----

    def run_workflow(
        self, name: str, execution_input: dict[str, Any], timeout: float = 300
    ) -> Execution:
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=self.stack.state_machine(name)["arn"],
            name=f"{name}-{uuid.uuid4().hex[:10]}",
            input=json.dumps(execution_input),
        )["executionArn"]
        return wait_for_execution(sfn, arn, timeout)


@dataclass
class Invoked:
    payload: Any
    function_error: str | None
    entry: dict[str, Any] | None
