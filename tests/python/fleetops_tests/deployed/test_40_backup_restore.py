"""A backup taken by the deployed backup function, restored by the deployed restore function:
into a new table on request, and into the registry by the recovery workflow."""

from __future__ import annotations

from fleetops.backup.layout import OPERATIONAL_PARTITIONS
from fleetops.core.registry import keys
from fleetops_tests.deployed.harness import Deployed

RESTORE_TABLE = "fleetops-dev-restore-check"


def registry_items(deployed: Deployed, table: str) -> dict[tuple[str, str], dict]:
    items = {}
    for page in deployed.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items[(item["pk"]["S"], item["sk"]["S"])] = item
    return items


def test_restore_into_a_new_table_gives_back_every_backed_up_item(deployed: Deployed) -> None:
    since = deployed.audit_seq()
    backup = deployed.invoke("backup", {})
    assert backup.function_error is None, backup.payload
    assert backup.payload["status"] == "verified", backup.payload
    expected = {
        k: v
        for k, v in registry_items(deployed, deployed.stack.table).items()
        if k[0] not in OPERATIONAL_PARTITIONS  # a backup leaves its own bookkeeping out
    }

    restored = deployed.invoke(
        "restore",
        {
            "backup_id": backup.payload["backup_id"],
            "target_table": RESTORE_TABLE,
            "create_table": True,
        },
    )

    assert restored.function_error is None, restored.payload
    assert restored.payload["status"] == "restored", restored.payload
    got = registry_items(deployed, RESTORE_TABLE)
    assert set(expected) <= set(got)
    for key in expected:
        assert got[key] == expected[key] or key[1].startswith(("REGION#", "BUDGET#")), key
    for function in ("backup", "restore"):
        denied = [d for d in deployed.denials(since) if d["role"] == deployed.role_name(function)]
        assert denied == [], denied


def test_recovery_restores_a_lost_registry_from_the_latest_verified_backup(
    deployed: Deployed,
) -> None:
    table = deployed.table()
    backup = deployed.invoke("backup", {})
    assert backup.payload["status"] == "verified", backup.payload
    before = {(i["pk"], i["sk"]) for i in table.query(keys.fleet_pk("api"))}
    assert before
    table.batch_write(deletes=[keys.Key(pk, sk) for pk, sk in before])
    since, journal = deployed.audit_seq(), deployed.journal_seq()

    execution = deployed.run_workflow(
        "recovery",
        {"incident_id": "inc-lost-1", "fleet": "api", "source": "manual", "wait_seconds": 0},
    )

    assert execution.status == "SUCCEEDED", execution.describe()
    after = {(i["pk"], i["sk"]) for i in table.query(keys.fleet_pk("api"))}
    assert before <= after, "every registry item of the fleet is back"
    restores = [
        e
        for e in deployed.local.invocations(journal)
        if e["function_name"] == deployed.function_name("restore")
    ]
    assert [r["status"] for r in restores] == ["success"], restores
    roles = {
        deployed.role_name("restore"),
        deployed.role_name("workflow-tasks"),
        str(deployed.stack.state_machine("recovery")["role_arn"]).rsplit("/", 1)[-1],
    }
    denied = [d for d in deployed.denials(since) if d["role"] in roles]
    assert denied == [], denied
