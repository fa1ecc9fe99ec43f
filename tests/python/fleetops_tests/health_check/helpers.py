"""Builders and injectors for health-check tests (real moto resources, botocore events)."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # pants: no-infer-dep (comes with moto[server])

from fleetops.core.aws import AwsClients
from fleetops.core.registry import RegistryTable, keys
from fleetops.fleet_sync.config import FleetSyncConfig
from fleetops.fleet_sync.request import SyncRequest
from fleetops.fleet_sync.sync import SyncDeps, run_sync
from fleetops.health_check.config import HealthCheckConfig
from fleetops.health_check.request import CheckRequest
from fleetops.health_check.run import HealthDeps
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.env import ACCOUNT_ID, HOME_REGION, TABLE_NAME, base_env
from fleetops_tests.support.faults import register

STATE_MACHINE_NAME = "fleetops-recovery"
STATE_MACHINE_ARN = f"arn:aws:states:{HOME_REGION}:{ACCOUNT_ID}:stateMachine:{STATE_MACHINE_NAME}"
T0 = 1_767_225_600.0
"""2026-01-01T00:00:00Z: a window boundary for every window length that divides a day."""


def health_env(**overrides: str) -> dict[str, str]:
    """Valid health-check variables: small thresholds, no heartbeat, zero-wait retries."""
    env = base_env(
        RECOVERY_STATE_MACHINE_ARN=STATE_MACHINE_ARN,
        UNHEALTHY_CHECKS_BEFORE_ACTION="2",
        REBOOT_GRACE_SECONDS="300",
        REMEDIATION_BUDGET_SHARE="0.5",
        REMEDIATION_BUDGET_MIN="1",
        REMEDIATION_WINDOW_SECONDS="3600",
        BREAKER_UNHEALTHY_SHARE="0.5",
        BREAKER_MIN_INSTANCES="2",
        FLAP_TRANSITIONS="4",
        FLAP_WINDOW_SECONDS="1800",
        HEALTH_HEARTBEAT_SECONDS="0",
        WRITE_CONCURRENCY="4",
    )
    env.update(overrides)
    return env


class FakeClock:
    """Epoch seconds that only move when a test says so (thread-safe)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def create_state_machine(region: str = HOME_REGION, endpoint_url: str | None = None) -> str:
    sfn = aws_fleet.aws("stepfunctions", region, endpoint_url)
    arn: str = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition='{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}',
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/fleetops-recovery",
    )["stateMachineArn"]
    return arn


def executions(
    arn: str = STATE_MACHINE_ARN, endpoint_url: str | None = None
) -> list[dict[str, Any]]:
    sfn = aws_fleet.aws("stepfunctions", HOME_REGION, endpoint_url)
    found = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [
        {
            **execution,
            "input": sfn.describe_execution(executionArn=execution["executionArn"])["input"],
        }
        for execution in found
    ]


@dataclass
class Fleet:
    name: str
    built: aws_fleet.BuiltFleet
    target_groups: dict[str, str] = field(default_factory=dict)
    """region -> target group ARN attached to every ASG of the fleet there."""

    def ids(self, region: str = HOME_REGION) -> list[str]:
        return sorted(self.built.instance_ids(region))

    def by_az(self, region: str = HOME_REGION) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for asg in self.built.asgs[region]:
            for az, ids in asg.per_az.items():
                out.setdefault(az, []).extend(ids)
        return {az: sorted(ids) for az, ids in sorted(out.items())}

    def asg_of(self, instance_id: str, region: str = HOME_REGION) -> str:
        for asg in self.built.asgs[region]:
            if instance_id in asg.instance_ids:
                return asg.name
        raise KeyError(instance_id)


def build(
    name: str,
    regions: Sequence[str] = (HOME_REGION,),
    *,
    asgs_per_region: int = 1,
    instances_per_asg: int = 6,
    target_group: bool = True,
    endpoint_url: str | None = None,
) -> Fleet:
    """A moto fleet, each ASG behind an ELBv2 target group (instances registered by the ASG)."""
    built = aws_fleet.build_fleet(
        name,
        regions,
        asgs_per_region=asgs_per_region,
        instances_per_asg=instances_per_asg,
        endpoint_url=endpoint_url,
    )
    fleet = Fleet(name, built)
    if target_group:
        for region in regions:
            elbv2 = aws_fleet.aws("elbv2", region, endpoint_url)
            arn = elbv2.create_target_group(
                Name=f"{name}-tg",
                Protocol="HTTP",
                Port=80,
                VpcId=built.networks[region].vpc_id,
                TargetType="instance",
            )["TargetGroups"][0]["TargetGroupArn"]
            fleet.target_groups[region] = arn
            autoscaling = aws_fleet.aws("autoscaling", region, endpoint_url)
            for asg in built.asgs[region]:
                autoscaling.attach_load_balancer_target_groups(
                    AutoScalingGroupName=asg.name, TargetGroupARNs=[arn]
                )
    return fleet


def sync_registry(
    regions: Sequence[str] = (HOME_REGION,), clients: AwsClients | None = None, **env: str
) -> None:
    """Let fleet-sync (the real producer of instance items) record what moto holds."""
    config = FleetSyncConfig.from_env(base_env(REGIONS=",".join(regions), **env))
    result = run_sync(
        SyncRequest(trigger="manual", regions=tuple(regions), fleets=None, dry_run=False),
        SyncDeps(config=config, clients=clients or AwsClients.from_config(config)),
    )
    assert result.status == "ok", result.as_dict()


def deps(
    clock: FakeClock,
    *,
    endpoint_overrides: Mapping[str, str] | None = None,
    **env: str,
) -> HealthDeps:
    config = HealthCheckConfig.from_env(health_env(**env))
    clients = AwsClients.from_config(config, endpoint_overrides=endpoint_overrides)
    return HealthDeps(config=config, clients=clients, clock=clock)


def manual(
    regions: Sequence[str] = (HOME_REGION,),
    fleets: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
) -> CheckRequest:
    return CheckRequest(
        trigger="manual",
        regions=tuple(regions),
        fleets=tuple(fleets) if fleets is not None else None,
        dry_run=dry_run,
    )


class StatusInjector:
    """Rewrites DescribeInstanceStatus / DescribeTargetHealth answers for chosen instances.

    moto reports every running instance as `ok` and every registered target as `healthy`; this
    `after-call` handler edits the parsed response of the real client call, so the code under
    test goes through boto3, the guard and moto exactly as in production.
    """

    def __init__(self) -> None:
        self.system: dict[str, str] = {}
        self.instance: dict[str, str] = {}
        self.targets: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def attach(self, target: Any) -> StatusInjector:
        register(target, "after-call.ec2.DescribeInstanceStatus", self._statuses)
        register(target, "after-call.elastic-load-balancing-v2.DescribeTargetHealth", self._targets)
        return self

    def impair(self, ids: Iterable[str], *, system: bool = False) -> None:
        with self._lock:
            for instance_id in ids:
                (self.system if system else self.instance)[instance_id] = "impaired"

    def unhealthy_target(
        self, ids: Iterable[str], reason: str = "Target.FailedHealthChecks"
    ) -> None:
        with self._lock:
            for instance_id in ids:
                self.targets[instance_id] = ("unhealthy", reason)

    def heal(self, ids: Iterable[str] | None = None) -> None:
        with self._lock:
            for table in (self.system, self.instance, self.targets):
                for instance_id in list(table) if ids is None else list(ids):
                    table.pop(instance_id, None)

    def _statuses(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            for status in parsed.get("InstanceStatuses", ()):
                instance_id = status["InstanceId"]
                for overrides, key, check in (
                    (self.system, "SystemStatus", "reachability"),
                    (self.instance, "InstanceStatus", "reachability"),
                ):
                    if instance_id in overrides:
                        status[key] = {
                            "Status": overrides[instance_id],
                            "Details": [{"Name": check, "Status": "failed"}],
                        }

    def _targets(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            for description in parsed.get("TargetHealthDescriptions", ()):
                override = self.targets.get(description["Target"]["Id"])
                if override:
                    description["TargetHealth"] = {
                        "State": override[0],
                        "Reason": override[1],
                        "Description": "Health checks failed (injected)",
                    }


def registry_table(clients: AwsClients | None = None) -> RegistryTable:
    client = (clients or AwsClients()).client("dynamodb", HOME_REGION)
    return RegistryTable(client, TABLE_NAME)


def instance_item(
    fleet: str, instance_id: str, region: str = HOME_REGION, endpoint_url: str | None = None
) -> dict[str, Any]:
    table = registry_table(AwsClients(endpoint_url=endpoint_url))
    item = table.get(keys.instance_key(fleet, region, instance_id))
    assert item is not None
    return item


def items_with_prefix(
    fleet: str, prefix: str, endpoint_url: str | None = None
) -> list[dict[str, Any]]:
    table = registry_table(AwsClients(endpoint_url=endpoint_url))
    return list(table.query(keys.fleet_pk(fleet), sk_prefix=prefix))


def asg_health(instance_id: str, region: str = HOME_REGION, endpoint_url: str | None = None) -> str:
    found = aws_fleet.aws("autoscaling", region, endpoint_url).describe_auto_scaling_instances(
        InstanceIds=[instance_id]
    )["AutoScalingInstances"]
    return str(found[0]["HealthStatus"]) if found else "gone"


class _OneRequestPerConnection(MotoRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return


@contextmanager
def serial_moto_server() -> Iterator[str]:
    """A moto server on loopback that handles one request at a time; yields its endpoint URL.

    Why: moto's backends do not lock, so two threads' conditional UpdateItems on one item can
    both pass their condition in-process, which real DynamoDB never allows (writes to an item
    are serialised). Serving requests one by one restores that guarantee, so concurrency tests
    exercise our conditions rather than moto's races. HTTP/1.0: no keep-alive connection can
    hold the single worker.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = make_server(
        "127.0.0.1",
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=_OneRequestPerConnection,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{port}"
    # The server shares moto's process-wide backends with in-process mocks: start and end clean.
    _reset_moto(endpoint)
    try:
        yield endpoint
    finally:
        _reset_moto(endpoint)
        server.shutdown()
        thread.join()


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
