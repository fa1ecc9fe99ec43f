"""The Lambda entry point: cold-start configuration, input validation, result and metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleetops.core.errors import ConfigError, InvalidInputError
from fleetops.fleet_sync.report import SyncFailedError
from fleetops_tests.fleet_sync.conftest import World
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import FLEET_REGIONS, base_env
from fleetops_tests.support.faults import closed_port_endpoint
from fleetops_tests.support.lambda_context import LambdaContextStub
from fleetops_tests.support.moto_server import moto_server

SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2024-05-01T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/fleet-sync-every-5-minutes"],
    "detail": {},
}


def emf(output: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]


def test_a_scheduled_run_returns_the_result_and_emits_per_region_metrics(
    world: World, load_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_handler(base_env())
    context = LambdaContextStub()

    result = module.handler(SCHEDULED, context)

    assert result["status"] == "ok"
    assert result["trigger"] == "schedule"
    assert result["dry_run"] is False
    assert set(result["regions"]) == set(FLEET_REGIONS)
    assert result["counts"]["created"] == world.web_instances + world.web_asgs
    out = capsys.readouterr().out
    per_region = {doc["Region"]: doc for doc in emf(out) if "Region" in doc}
    assert set(per_region) == set(FLEET_REGIONS)
    for doc in per_region.values():
        assert doc["SyncStatus"] == [1.0]
        assert doc["RecordsCreated"] == [14.0]
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FleetOps"
    finished = [json.loads(line) for line in out.splitlines() if '"fleet sync finished"' in line]
    assert finished[0]["function_request_id"] == context.aws_request_id


@pytest.mark.parametrize(
    ("event", "bad_field"),
    [
        ({"fleets": "web"}, "fleets"),
        ({"fleets": []}, "fleets"),
        ({"fleets": ["web", "bad#name"]}, "fleets.1"),
        ({"fleet": ["web"]}, "fleet"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"regions": ["us-east-1", "ap-south-1"]}, "regions.1"),
        ({**SCHEDULED, "detail-type": "Object Created"}, "detail-type"),
        ({**SCHEDULED, "source": "aws.s3"}, "source"),
        ({"source": "aws.events"}, "id"),
        (["web"], "event"),
    ],
)
def test_malformed_input_is_rejected_naming_the_field_before_any_request(
    registry: str, load_handler: Any, event: Any, bad_field: str
) -> None:
    module = load_handler(base_env())
    counter = RequestCounter().attach(module.DEPS.clients)

    with pytest.raises(InvalidInputError) as caught:
        module.handler(event, LambdaContextStub())

    assert bad_field in caught.value.fields
    assert bad_field in str(caught.value)
    assert counter.total() == 0
    assert aws_fleet.scan_table() == []


def test_bad_configuration_stops_the_function_at_cold_start_naming_every_variable(
    load_handler: Any,
) -> None:
    env = base_env(
        ENVIRONMENT="production", REGIONS="us-east-1,nowhere", AZ_IMBALANCE_THRESHOLD="-2"
    )
    env["DDB_TABLE"] = ""
    with pytest.raises(ConfigError) as caught:
        load_handler(env)
    assert set(caught.value.problems) == {
        "ENVIRONMENT",
        "REGIONS",
        "AZ_IMBALANCE_THRESHOLD",
        "DDB_TABLE",
    }


def test_the_invocation_fails_only_when_every_region_fails(
    world: World, load_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_handler(base_env(AWS_ENDPOINT_URL=closed_port_endpoint()))
    with pytest.raises(SyncFailedError) as caught:
        module.handler(SCHEDULED, LambdaContextStub())
    assert caught.value.result.status == "failed"
    for region in FLEET_REGIONS:
        assert region in str(caught.value)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert aws_fleet.scan_table() == []


def test_runs_against_a_moto_server_through_aws_endpoint_url(load_handler: Any) -> None:
    with moto_server() as endpoint:
        aws_fleet.create_registry_table(endpoint_url=endpoint)
        aws_fleet.create_topic(endpoint_url=endpoint)
        aws_fleet.build_fleet(
            "web", ["us-east-1", "eu-west-1"], instances_per_asg=3, endpoint_url=endpoint
        )
        module = load_handler(base_env(AWS_ENDPOINT_URL=endpoint, REGIONS="us-east-1,eu-west-1"))

        result = module.handler(SCHEDULED, LambdaContextStub())

        assert result["status"] == "ok"
        items = aws_fleet.scan_table(endpoint_url=endpoint)
        assert sum(1 for item in items if item["entity"] == "instance") == 2 * 2 * 3
        assert module.handler(SCHEDULED, LambdaContextStub())["counts"]["unchanged"] == 2 * (
            2 * 3 + 2
        )
