from __future__ import annotations

import pytest

from fleetops.core.aws import AwsClients, RetrySettings
from fleetops.core.config import BaseConfig
from fleetops.core.errors import BatchWriteError, ConflictError, TransactionError
from fleetops.core.registry import (
    TRANSACTION_LIMIT,
    Condition,
    DriftRecord,
    FleetRecord,
    InstanceRecord,
    OwnedUpdate,
    RegionStatusRecord,
    RegistryTable,
    keys,
    parse_record,
)
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import cancel_first, fail_first, unprocessed_first

KEY = keys.instance_key("web", "us-east-1", "i-0123456789abcdef0")


@pytest.fixture
def table(registry: str, clients: AwsClients) -> RegistryTable:
    return RegistryTable.from_clients(clients, BaseConfig.from_env())


@pytest.fixture
def counter(clients: AwsClients) -> RequestCounter:
    return RequestCounter().attach(clients)


def test_keys_follow_the_documented_schema() -> None:
    assert keys.fleet_key("web").as_dict() == {"pk": "FLEET#web", "sk": "META"}
    assert keys.fleet_index_key("web").as_dict() == {"pk": "FLEETS", "sk": "FLEET#web"}
    assert keys.region_status_key("web", "eu-west-1").sk == "REGION#eu-west-1"
    assert keys.asg_key("web", "eu-west-1", "web-1").sk == "ASG#eu-west-1#web-1"
    assert KEY.sk == "INSTANCE#us-east-1#i-0123456789abcdef0"
    assert keys.lock_key("web").sk == "LOCK"
    assert (
        keys.drift_key("web", "az_imbalance", "us-east-1/web-1").sk
        == "DRIFT#az_imbalance#us-east-1/web-1"
    )
    assert keys.policy_key().as_dict() == {"pk": "ALARM#*", "sk": "POLICY"}
    assert (
        keys.decision_key("cpu-high", "2024-01-01T00:00:00Z").sk == "DECISION#2024-01-01T00:00:00Z"
    )
    with pytest.raises(ValueError, match="'#'"):
        keys.fleet_pk("we#b")


def test_owned_updates_bump_the_writer_counter_and_the_shared_version(table: RegistryTable) -> None:
    assert (
        table.update_owned(KEY, owned={"state": "running"}, counter="sync_version", expected=None)
        == 1
    )
    assert (
        table.update_owned(KEY, owned={"state": "stopped"}, counter="sync_version", expected=1) == 2
    )
    item = table.get(KEY)
    assert item is not None
    assert (item["state"], item["sync_version"], item["version"]) == ("stopped", 2, 2)


def test_a_stale_expected_version_is_a_conflict_carrying_the_current_item(
    table: RegistryTable,
) -> None:
    table.update_owned(KEY, owned={"state": "running"}, counter="sync_version", expected=None)
    with pytest.raises(ConflictError) as caught:
        table.update_owned(KEY, owned={"state": "stopped"}, counter="sync_version", expected=None)
    assert caught.value.current is not None
    assert caught.value.current["state"] == "running"
    with pytest.raises(ConflictError):
        table.update_owned(KEY, owned={"state": "stopped"}, counter="sync_version", expected=7)
    assert table.get(KEY)["state"] == "running"  # type: ignore[index]


def test_writers_of_different_attributes_never_lose_each_others_updates(
    table: RegistryTable,
) -> None:
    table.update_owned(
        KEY, owned={"state": "running", "az": "us-east-1a"}, counter="sync_version", expected=None
    )
    table.update_owned(KEY, owned={"health": "unhealthy"}, counter="health_version", expected=None)
    table.update_owned(KEY, owned={"state": "stopped"}, counter="sync_version", expected=1)
    item = table.get(KEY)
    assert item is not None
    assert item["state"] == "stopped"
    assert item["az"] == "us-east-1a"
    assert item["health"] == "unhealthy"
    assert (item["sync_version"], item["health_version"], item["version"]) == (2, 1, 3)


def _instance(n: int) -> keys.Key:
    return keys.instance_key("web", "us-east-1", f"i-{n:017x}")


def _sync_updates(count: int, state: str, expected: int | None) -> list[OwnedUpdate]:
    return [
        OwnedUpdate(_instance(n), {"state": state}, "sync_version", expected) for n in range(count)
    ]


def test_a_batch_of_owned_updates_is_one_transaction_with_a_condition_per_item(
    table: RegistryTable, counter: RequestCounter
) -> None:
    assert (
        table.update_owned_batch(_sync_updates(TRANSACTION_LIMIT, "running", None))
        == [None] * TRANSACTION_LIMIT
    )
    table.update_owned(
        _instance(3), owned={"health": "ok"}, counter="health_version", expected=None
    )

    assert table.update_owned_batch(_sync_updates(5, "stopped", 1)) == [None] * 5

    assert counter.counts["dynamodb.TransactWriteItems"] == 2
    item = table.get(_instance(3))
    assert item is not None
    assert (item["state"], item["health"]) == ("stopped", "ok")  # the other writer's attr kept
    assert (item["sync_version"], item["health_version"], item["version"]) == (2, 1, 3)
    assert table.get(_instance(99))["sync_version"] == 1  # type: ignore[index]


def test_lost_conditions_come_back_as_conflicts_and_the_rest_is_written(
    table: RegistryTable, counter: RequestCounter
) -> None:
    table.update_owned_batch(_sync_updates(4, "running", None))
    table.update_owned(_instance(1), owned={"state": "pending"}, counter="sync_version", expected=1)
    table.update_owned(_instance(2), owned={"state": "pending"}, counter="sync_version", expected=1)
    counter.reset()

    results = table.update_owned_batch(_sync_updates(4, "stopped", 1))

    assert [result is None for result in results] == [True, False, False, True]
    conflict = results[1]
    assert isinstance(conflict, ConflictError)
    assert conflict.current is not None
    assert (conflict.current["state"], conflict.current["sync_version"]) == ("pending", 2)
    states = [table.get(_instance(n))["state"] for n in range(4)]  # type: ignore[index]
    assert states == ["stopped", "pending", "pending", "stopped"]
    # DynamoDB cancels the whole first attempt; the two winners are sent again, alone.
    assert counter.counts["dynamodb.TransactWriteItems"] == 2


def test_transient_cancellations_are_sent_again(
    table: RegistryTable, clients: AwsClients, counter: RequestCounter
) -> None:
    fault = cancel_first(clients, times=2, reason="TransactionConflict", position=1)

    assert table.update_owned_batch(_sync_updates(3, "running", None)) == [None] * 3

    assert fault.injected == 2
    assert counter.counts["dynamodb.TransactWriteItems"] == 3
    assert len(aws_fleet.scan_table()) == 3


def test_cancellations_that_never_clear_or_cannot_clear_fail_loudly_and_write_nothing(
    table: RegistryTable, clients: AwsClients
) -> None:
    persistent = cancel_first(clients, times=None, reason="ThrottlingError")
    with pytest.raises(TransactionError, match="ThrottlingError") as caught:
        table.update_owned_batch(_sync_updates(3, "running", None))
    assert caught.value.reason == "ThrottlingError"
    assert persistent.injected == BaseConfig.from_env().retry_max_attempts
    persistent.times = 0  # stop injecting

    cancel_first(clients, times=1, reason="ValidationError", position=2)
    with pytest.raises(TransactionError, match="ValidationError"):
        table.update_owned_batch(_sync_updates(3, "running", None))
    assert aws_fleet.scan_table() == []


def test_a_batch_is_bounded_and_names_each_item_once(table: RegistryTable) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        table.update_owned_batch(_sync_updates(TRANSACTION_LIMIT + 1, "running", None))
    twice = _sync_updates(2, "running", None) + _sync_updates(1, "stopped", None)
    with pytest.raises(ValueError, match="same item twice"):
        table.update_owned_batch(twice)
    assert aws_fleet.scan_table() == []


def test_none_removes_an_attribute(table: RegistryTable) -> None:
    table.update_owned(
        KEY, owned={"state": "terminated", "expires_at": 123}, counter="sync_version", expected=None
    )
    table.update_owned(
        KEY, owned={"state": "running", "expires_at": None}, counter="sync_version", expected=1
    )
    item = table.get(KEY)
    assert item is not None
    assert "expires_at" not in item


def test_queries_are_paginated_and_cost_one_request_per_page(
    table: RegistryTable, counter: RequestCounter
) -> None:
    items = [
        {"pk": "FLEET#web", "sk": f"INSTANCE#us-east-1#i-{n:04d}", "entity": "instance", "n": n}
        for n in range(30)
    ]
    table.batch_write([*items, {"pk": "FLEET#web", "sk": "META", "entity": "fleet"}])
    counter.reset()
    found = list(table.query("FLEET#web", sk_prefix=keys.instance_prefix("us-east-1"), page_size=7))
    assert [item["n"] for item in found] == list(range(30))
    assert counter.counts["dynamodb.Query"] == 5
    assert len(list(table.query("FLEET#web"))) == 31


def test_batch_writes_go_25_at_a_time_and_collapse_repeated_keys(
    table: RegistryTable, counter: RequestCounter
) -> None:
    items = [{"pk": "FLEET#web", "sk": f"X#{n:03d}", "entity": "x"} for n in range(60)]
    assert table.batch_write(items + items[:5]) == 60
    assert counter.counts["dynamodb.BatchWriteItem"] == 3
    assert len(aws_fleet.scan_table()) == 60


def test_unprocessed_items_are_resent_until_written(
    table: RegistryTable, clients: AwsClients, counter: RequestCounter
) -> None:
    fault = unprocessed_first(clients, times=3)
    items = [{"pk": "FLEET#web", "sk": f"X#{n:03d}", "entity": "x"} for n in range(30)]
    table.batch_write(items)
    assert fault.injected == 3
    assert counter.counts["dynamodb.BatchWriteItem"] == 2 + 3
    assert len(aws_fleet.scan_table()) == 30


def test_items_still_unprocessed_after_every_attempt_fail_loudly(
    table: RegistryTable, clients: AwsClients
) -> None:
    unprocessed_first(clients, times=None)
    with pytest.raises(BatchWriteError) as caught:
        table.batch_write([{"pk": "FLEET#web", "sk": "X#1", "entity": "x"}])
    assert caught.value.unprocessed == 1
    assert caught.value.attempts == BaseConfig.from_env().retry_max_attempts
    assert aws_fleet.scan_table() == []


def test_throttled_batch_requests_are_retried(table: RegistryTable, clients: AwsClients) -> None:
    fail_first(
        clients,
        "dynamodb",
        "BatchWriteItem",
        times=2,
        code="ProvisionedThroughputExceededException",
    )
    table.batch_write([{"pk": "FLEET#web", "sk": "X#1", "entity": "x"}])
    assert len(aws_fleet.scan_table()) == 1


def test_put_new_refuses_to_overwrite(table: RegistryTable) -> None:
    item = FleetRecord(fleet="web", tag_key="Fleet", first_seen="2024-01-01T00:00:00Z").to_item()
    table.put_new(item)
    with pytest.raises(ConflictError):
        table.put_new({**item, "first_seen": "2025-01-01T00:00:00Z"})
    assert table.get(keys.fleet_key("web"))["first_seen"] == "2024-01-01T00:00:00Z"  # type: ignore[index]


def test_conditions_compose(table: RegistryTable) -> None:
    key = keys.drift_key("web", "az_imbalance", "us-east-1/web-1")
    window_passed = Condition.attribute_not_exists("last_notified_at") | Condition.compare(
        "last_notified_at", "<=", 100
    )
    table.update(key, set_attrs={"last_notified_at": 50}, condition=window_passed)
    table.update(key, set_attrs={"last_notified_at": 150}, condition=window_passed)
    with pytest.raises(ConflictError):
        table.update(key, set_attrs={"last_notified_at": 160}, condition=window_passed)
    with pytest.raises(ValueError, match="conflicting"):
        _ = Condition.equals("a", 1) & Condition.equals("a", 2)


def test_records_round_trip_and_parse_by_entity(table: RegistryTable) -> None:
    status = RegionStatusRecord(
        fleet="web",
        region="us-east-1",
        status="ok",
        instance_count=3,
        asg_count=1,
        synced_at="2024-01-01T00:00:00Z",
    )
    drift = DriftRecord(
        fleet="web",
        kind="az_imbalance",
        subject="us-east-1/web-1",
        region="us-east-1",
        summary="s",
        last_notified_at=5,
    )
    table.batch_write([status.to_item(), drift.to_item()])
    table.update_owned(
        KEY,
        owned={
            "entity": "instance",
            "fleet": "web",
            "region": "us-east-1",
            "instance_id": KEY.sk.split("#")[-1],
            "state": "running",
        },
        counter="sync_version",
        expected=None,
    )
    records = [parse_record(item) for item in table.query("FLEET#web")]
    assert status in records
    assert drift in records
    instance = next(record for record in records if isinstance(record, InstanceRecord))
    assert (instance.state, instance.sync_version, instance.health) == ("running", 1, None)


def test_shared_items_created_by_another_writer_parse_from_their_key(table: RegistryTable) -> None:
    table.update_owned(
        KEY,
        owned={"entity": "instance", "health": "healthy"},
        counter="health_version",
        expected=None,
    )
    record = parse_record(table.get(KEY))  # type: ignore[arg-type]
    assert isinstance(record, InstanceRecord)
    assert (record.fleet, record.region, record.instance_id) == (
        "web",
        "us-east-1",
        "i-0123456789abcdef0",
    )
    assert record.sync_version is None


def test_numbers_come_back_as_int_or_float(table: RegistryTable) -> None:
    table.batch_write(
        [{"pk": "P", "sk": "S", "entity": "x", "i": 3, "f": 0.25, "l": [1, 2.5], "m": {"k": 1}}]
    )
    item = table.get(keys.Key("P", "S"))
    assert item == {
        "pk": "P",
        "sk": "S",
        "entity": "x",
        "i": 3,
        "f": 0.25,
        "l": [1, 2.5],
        "m": {"k": 1},
    }
    assert isinstance(item["i"], int)


def test_default_table_guard_uses_default_retries(aws: None) -> None:
    aws_fleet.create_registry_table()
    table = RegistryTable(AwsClients().client("dynamodb", "us-east-1"), aws_fleet.TABLE_NAME)
    assert table.guard.retry == RetrySettings()
    assert table.get(KEY) is None
