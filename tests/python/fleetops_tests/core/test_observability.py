from __future__ import annotations

import contextvars
import json
import threading

import pytest

from fleetops.core import observability
from fleetops.core.concurrency import map_concurrently
from fleetops.core.config import BaseConfig
from fleetops_tests.support.env import base_env
from fleetops_tests.support.lambda_context import LambdaContextStub


def emf_documents(output: str) -> list[dict[str, object]]:
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def test_dimensioned_metrics_are_emitted_as_emf_in_the_fleetops_namespace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.configure(BaseConfig.from_env(base_env(ENVIRONMENT="staging")))
    observability.emit_metrics(
        {"SyncStatus": 1, "RecordsCreated": 4}, dimensions={"Region": "eu-west-1"}
    )
    [document] = emf_documents(capsys.readouterr().out)
    directive = document["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Namespace"] == "FleetOps"
    assert set(directive["Dimensions"][0]) >= {"Region", "Environment"}
    assert document["Region"] == "eu-west-1"
    assert document["Environment"] == "staging"
    assert (document["SyncStatus"], document["RecordsCreated"]) == ([1.0], [4.0])


def test_the_handler_decorator_logs_with_request_context_and_flushes_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.configure(BaseConfig.from_env(base_env()))

    @observability.lambda_handler
    def handler(event: dict[str, object], context: object) -> str:
        observability.logger.info("working", extra={"fleet": "web"})
        observability.metrics.add_metric(name="Probe", unit=observability.MetricUnit.Count, value=1)
        return "done"

    context = LambdaContextStub()
    assert handler({}, context) == "done"
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    [log] = [line for line in lines if line.get("message") == "working"]
    assert log["function_request_id"] == context.aws_request_id
    assert log["environment"] == "dev"
    assert log["fleet"] == "web"
    # Flushed at the end of the invocation, with the Environment default dimension.
    [probe] = [line for line in lines if "_aws" in line and "Probe" in line]
    assert (probe["Probe"], probe["Environment"]) == ([1.0], "dev")


def test_map_concurrently_keeps_order_and_context() -> None:
    request = contextvars.ContextVar("request", default="none")
    request.set("req-1")
    threads: set[str] = set()

    def work(n: int) -> tuple[int, str]:
        threads.add(threading.current_thread().name)
        return n * n, request.get()

    results = map_concurrently(work, range(50), max_workers=4, window=8)
    assert [square for square, _ in results] == [n * n for n in range(50)]
    assert {seen for _, seen in results} == {"req-1"}
    assert all(name.startswith("fleetops") for name in threads)


def test_map_concurrently_runs_inline_with_one_worker_and_propagates_errors() -> None:
    assert map_concurrently(str, [1, 2], max_workers=1) == ["1", "2"]

    def explode(n: int) -> int:
        if n == 3:
            raise RuntimeError("boom")
        return n

    with pytest.raises(RuntimeError, match="boom"):
        map_concurrently(explode, range(10), max_workers=3)
