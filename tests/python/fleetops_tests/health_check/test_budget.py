"""The remediation budget in the registry: conditional spending, per AZ, under concurrency."""

from __future__ import annotations

import threading
from collections import Counter

from fleetops.core.aws import AwsClients
from fleetops.health_check.budget import BudgetLimits, RemediationBudget, Spend
from fleetops.health_check.records import budget_key
from fleetops_tests.health_check.helpers import T0, registry_table, serial_moto_server
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter

WINDOW = 3600
START = int(T0)


def budget(
    fleet_limit: int,
    az_limits: dict[str, int],
    *,
    dry_run: bool = False,
    clients: AwsClients | None = None,
) -> RemediationBudget:
    return RemediationBudget(
        registry_table(clients),
        "web",
        START,
        WINDOW,
        BudgetLimits(fleet_limit, az_limits),
        dry_run=dry_run,
    )


def stored() -> dict[str, object]:
    item = registry_table().get(budget_key("web", START))
    assert item is not None
    return item


def test_spending_stops_at_the_fleet_limit(registry: str) -> None:
    spend = budget(2, {"a": 5, "b": 5})
    assert [spend.spend(az) for az in ("a", "b", "a")] == [
        Spend.SPENT,
        Spend.SPENT,
        Spend.FLEET_EXHAUSTED,
    ]
    item = stored()
    assert item["spent"] == 2
    assert item["spent_a"] == 1
    assert item["spent_b"] == 1
    assert item["sk"] == "BUDGET#2026-01-01T00:00:00Z"
    assert item["entity"] == "remediation_budget"
    assert item["expires_at"] == START + 2 * WINDOW
    assert spend.spent_fleet == 2


def test_spending_stops_at_the_az_limit_and_the_fleet_counter_does_not_move(registry: str) -> None:
    spend = budget(10, {"a": 1, "b": 1})
    assert spend.spend("a") is Spend.SPENT
    assert spend.spend("a") is Spend.AZ_EXHAUSTED
    assert spend.spend("b") is Spend.SPENT
    assert stored()["spent"] == 2


def test_zero_limits_spend_nothing_without_a_request(registry: str) -> None:
    clients = AwsClients()
    counter = RequestCounter().attach(clients)
    assert budget(0, {"a": 1}, clients=clients).spend("a") is Spend.FLEET_EXHAUSTED
    assert budget(1, {"a": 0}, clients=clients).spend("a") is Spend.AZ_EXHAUSTED
    assert counter.total() == 0


def test_a_refund_gives_the_unit_back(registry: str) -> None:
    spend = budget(1, {"a": 1})
    assert spend.spend("a") is Spend.SPENT
    spend.refund("a")
    assert stored()["spent"] == 0
    assert stored()["spent_a"] == 0
    assert spend.spend("a") is Spend.SPENT


def test_two_invocations_cannot_both_spend_the_last_unit() -> None:
    """8 threads, each with its own clients (like overlapping Lambdas), race for 3 units."""
    with serial_moto_server() as endpoint:
        aws_fleet.create_registry_table(endpoint_url=endpoint)
        outcomes, item = race_for_budget(endpoint, limit=3, threads=8)
    assert outcomes[Spend.SPENT] == 3
    assert outcomes[Spend.FLEET_EXHAUSTED] == 16 - 3
    assert item["spent"] == 3
    assert int(str(item.get("spent_a", 0))) + int(str(item.get("spent_b", 0))) == 3


def race_for_budget(
    endpoint: str, *, limit: int, threads: int
) -> tuple[Counter[Spend], dict[str, object]]:
    barrier = threading.Barrier(threads)
    outcomes: Counter[Spend] = Counter()
    lock = threading.Lock()

    def invocation() -> None:
        mine = budget(limit, {"a": 10, "b": 10}, clients=AwsClients(endpoint_url=endpoint))
        barrier.wait()
        for az in ("a", "b"):
            outcome = mine.spend(az)
            with lock:
                outcomes[outcome] += 1

    workers = [threading.Thread(target=invocation) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    table = registry_table(AwsClients(endpoint_url=endpoint))
    item = table.get(budget_key("web", START))
    assert item is not None
    return outcomes, item


def test_a_dry_run_reads_once_and_spends_in_memory(registry: str) -> None:
    budget(5, {"a": 5}).spend("a")  # one unit already spent for real
    clients = AwsClients()
    counter = RequestCounter().attach(clients)
    dry = budget(3, {"a": 2}, dry_run=True, clients=clients)
    assert [dry.spend("a") for _ in range(3)] == [
        Spend.SPENT,
        Spend.AZ_EXHAUSTED,
        Spend.AZ_EXHAUSTED,
    ]
    assert dry.spend(None) is Spend.SPENT
    assert dry.spend(None) is Spend.FLEET_EXHAUSTED
    assert counter.by_operation() == {"dynamodb.GetItem": 1}
    assert stored()["spent"] == 1
