"""The Lambda entry point: cold-start configuration, scheduled and manual events, EMF metrics."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from fleetops.core.errors import InvalidInputError
from fleetops.health_check.report import HealthCheckFailedError
from fleetops_tests.health_check import helpers as h
from fleetops_tests.health_check.helpers import FakeClock, StatusInjector
from fleetops_tests.health_check.test_config_and_request import SCHEDULED
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import closed_port_endpoint
from fleetops_tests.support.lambda_context import LambdaContextStub

MODULE = "fleetops.health_check.handler"


@pytest.fixture
def handler_module(
    world: aws_fleet.SnsInbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    for name, value in h.health_env(
        REGIONS="us-east-1", UNHEALTHY_CHECKS_BEFORE_ACTION="1"
    ).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    module = importlib.import_module(MODULE)
    module.DEPS.clock = clock
    yield module
    sys.modules.pop(MODULE, None)


def emf_documents(output: str) -> list[dict[str, object]]:
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def test_a_scheduled_run_returns_the_result_and_emits_metrics(
    handler_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = h.build("web")
    h.sync_registry()
    sick = fleet.ids()[0]
    StatusInjector().attach(handler_module.DEPS.clients).impair([sick])
    capsys.readouterr()

    result = handler_module.handler(SCHEDULED, LambdaContextStub())

    assert result["status"] == "ok"
    assert result["trigger"] == "schedule"
    assert result["dry_run"] is False
    assert result["fleets"]["web"]["regions"]["us-east-1"]["rebooted"] == 1
    assert result["fleets"]["web"]["breaker"]["state"] == "closed"
    assert result["counts"]["checked"] == 6
    json.dumps(result)  # a Lambda result must be JSON
    documents = emf_documents(capsys.readouterr().out)
    per_region = [
        d for d in documents if d.get("Fleet") == "web" and d.get("Region") == "us-east-1"
    ]
    assert len(per_region) == 1
    assert per_region[0]["InstancesChecked"] == [6.0]
    assert per_region[0]["InstancesRebooted"] == [1.0]
    assert per_region[0]["Environment"] == "dev"
    breaker = [d for d in documents if "BreakerOpen" in d]
    assert breaker and breaker[0]["BreakerOpen"] == [0.0]


def test_a_manual_dry_run(handler_module: ModuleType) -> None:
    fleet = h.build("web")
    h.sync_registry()
    StatusInjector().attach(handler_module.DEPS.clients).impair(fleet.ids()[:1])
    result = handler_module.handler(
        {"fleets": ["web"], "regions": ["us-east-1"], "dry_run": True}, LambdaContextStub()
    )
    assert result["dry_run"] is True
    assert result["fleets"]["web"]["counts"]["would_reboot"] == 1


def test_a_malformed_event_is_rejected_before_any_aws_call(handler_module: ModuleType) -> None:
    counter = RequestCounter().attach(handler_module.DEPS.clients)
    with pytest.raises(InvalidInputError) as raised:
        handler_module.handler({"fleets": ["web"], "dryrun": True}, LambdaContextStub())
    assert "dryrun" in raised.value.fields
    assert counter.total() == 0
    assert aws_fleet.scan_table() == []


def test_every_region_failing_fails_the_invocation(
    handler_module: ModuleType, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.build("web")
    h.sync_registry()
    down = h.deps(
        clock,
        endpoint_overrides={"us-east-1": closed_port_endpoint()},
        REGIONS="us-east-1",
    )
    down.table = h.registry_table()  # only the fleet's EC2/ELB/ASG endpoints are down
    monkeypatch.setattr(handler_module, "DEPS", down)
    with pytest.raises(HealthCheckFailedError, match="us-east-1"):
        handler_module.handler(SCHEDULED, LambdaContextStub())
