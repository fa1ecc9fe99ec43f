"""ChangeWriter: changes go out as transactions of at most `batch_size`, each change on its own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleetops.core.aws import AwsClients
from fleetops.core.config import BaseConfig
from fleetops.core.registry import RegistryTable, keys
from fleetops.fleet_sync.diff import Action, PlanContext, plan_instance
from fleetops.fleet_sync.writer import ChangeWriter, PlannedChange
from fleetops_tests.fleet_sync.test_diff import OBSERVED
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import fail_first

CTX = PlanContext("web", "us-east-1", 1_700_000_000.0, 86400)


def creations(count: int) -> list[PlannedChange]:
    changes = []
    for n in range(count):
        instance_id = f"i-{n:017x}"
        change = plan_instance(CTX, instance_id, replace(OBSERVED, instance_id=instance_id), None)
        assert change is not None
        changes.append((CTX, change))
    return changes


@pytest.fixture
def table(registry: str, clients: AwsClients) -> RegistryTable:
    return RegistryTable.from_clients(clients, BaseConfig.from_env())


def test_changes_are_sent_in_transactions_of_at_most_batch_size(
    table: RegistryTable, clients: AwsClients
) -> None:
    counter = RequestCounter().attach(clients)

    outcomes = ChangeWriter(table, batch_size=5, concurrency=2).write_all(creations(12))

    assert [outcome.applied for outcome in outcomes] == [Action.CREATE] * 12
    assert counter.counts["dynamodb.TransactWriteItems"] == 3  # 5 + 5 + 2
    item = table.get(keys.instance_key("web", "us-east-1", f"i-{11:017x}"))
    assert item is not None and (item["state"], item["sync_version"]) == ("running", 1)


def test_a_failed_transaction_fails_its_own_changes_only(
    table: RegistryTable, clients: AwsClients
) -> None:
    fail_first(clients, "dynamodb", "TransactWriteItems", times=1, code="ValidationException")

    outcomes = ChangeWriter(table, batch_size=4, concurrency=1).write_all(creations(8))

    assert [outcome.error_code for outcome in outcomes] == ["ValidationException"] * 4 + [None] * 4
    assert [outcome.applied for outcome in outcomes] == [None] * 4 + [Action.CREATE] * 4
    assert table.get(keys.instance_key("web", "us-east-1", f"i-{0:017x}")) is None


def test_batch_size_is_bounded_by_dynamodb(table: RegistryTable) -> None:
    for size in (0, 101):
        with pytest.raises(ValueError, match="batch_size"):
            ChangeWriter(table, batch_size=size)
