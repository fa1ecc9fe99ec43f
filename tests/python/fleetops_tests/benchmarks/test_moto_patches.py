"""The benchmarks' moto speed-ups answer exactly as stock moto does (only faster)."""

from __future__ import annotations

import pytest

from fleetops.core.aws import AwsClients
from fleetops.core.config import BaseConfig
from fleetops.core.errors import ConflictError
from fleetops.core.registry import OwnedUpdate, RegistryTable, keys
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.moto_patches import large_fleet_speedups


def _key(n: int) -> keys.Key:
    return keys.instance_key("web", "us-east-1", f"i-{n:017x}")


@pytest.mark.parametrize("patched", [False, True], ids=["stock", "patched"])
def test_cancelled_transactions_leave_the_table_as_it_was(
    registry: str, clients: AwsClients, patched: bool
) -> None:
    table = RegistryTable.from_clients(clients, BaseConfig.from_env())
    table.update_owned(_key(1), owned={"state": "running"}, counter="sync_version", expected=None)
    table.update_owned(_key(2), owned={"state": "running"}, counter="sync_version", expected=None)
    before = aws_fleet.scan_table()
    updates = [
        OwnedUpdate(_key(0), {"state": "new"}, "sync_version", None),  # would create
        OwnedUpdate(_key(1), {"state": "stopped"}, "sync_version", 1),  # would update
        OwnedUpdate(_key(2), {"state": "stopped"}, "sync_version", 7),  # stale: cancels all
    ]
    ddb = clients.client("dynamodb", "us-east-1")

    def cancelled_once() -> None:
        with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
            ddb.transact_write_items(
                TransactItems=[{"Update": table._owned_update_params(u)} for u in updates]
            )
        reasons = [reason["Code"] for reason in caught.value.response["CancellationReasons"]]
        assert reasons == ["None", "None", "ConditionalCheckFailed"]
        assert aws_fleet.scan_table() == before  # nothing created, nothing changed

    if patched:
        with large_fleet_speedups():
            cancelled_once()
            results = table.update_owned_batch(updates)
    else:
        cancelled_once()
        results = table.update_owned_batch(updates)

    assert aws_fleet.scan_table() != before  # the retry without the loser went through
    assert [type(result) for result in results] == [type(None), type(None), ConflictError]
    states = {item["sk"][-1]: item["state"] for item in aws_fleet.scan_table()}
    assert states == {"0": "new", "1": "stopped", "2": "running"}
