"""The fleet registry: one DynamoDB table, single-table design.

Why one table: every question fleet-ops asks is "everything about fleet X" (sync, health,
backups, the CLI) or "everything about alarm Y" (scaling), so items are grouped by those
partitions and one paginated Query answers it, with no joins and no scans.

Key schema: partition key `pk` (S), sort key `sk` (S). TTL attribute: `expires_at` (N, epoch
seconds); DynamoDB deletes expired items lazily (up to days later), so readers must treat an
item whose `expires_at` has passed as gone where that matters. Every item has `entity` (S).
Times: ISO-8601 UTC strings (`...Z`) for humans; epoch seconds (N) for anything compared in a
condition expression.

| entity | pk | sk | owner / notes |
|---|---|---|---|
| fleet | `FLEET#<fleet>` | `META` | fleet-sync: `tag_key`, `first_seen`; written once |
| fleet index | `FLEETS` | `FLEET#<fleet>` | fleet-sync: lists every known fleet in one Query (so a fleet whose instances are all gone is still visited and tombstoned) |
| region status | `FLEET#<fleet>` | `REGION#<region>` | fleet-sync: `status`, `error_code`, `error`, counts, `synced_at`; rewritten only when they change |
| asg | `FLEET#<fleet>` | `ASG#<region>#<asg>` | fleet-sync owns config attrs + `sync_version`; scaling owns `last_scaled_at` (N) and `last_scaled_by`; deleted ASGs become `state=deleted` tombstones with `expires_at` |
| instance | `FLEET#<fleet>` | `INSTANCE#<region>#<instance-id>` | fleet-sync owns state/az/type/asg/launch template attrs, `first_seen`, `last_seen`, `terminated_at`, `expires_at` + `sync_version`; health-check owns `health*` attrs + `health_version`; `version` (N) is bumped (ADD) by every writer; vanished instances become `state=terminated` tombstones with `expires_at` |
| lock | `FLEET#<fleet>` | `LOCK` | deployment / maintenance workflows: `owner`, `kind`, `acquired_at`, `lock_expires_at` (N); a lock whose `lock_expires_at` is past is free |
| drift | `FLEET#<fleet>` | `DRIFT#<kind>#<subject>` | fleet-sync: `last_notified_at` (N) for the no-repeat window; `expires_at` when the window ends |
| scaling policy | `ALARM#<alarm-name>` | `POLICY` | operators; defaults at pk `ALARM#*` sk `POLICY` |
| scaling decision | `ALARM#<alarm-name>` | `DECISION#<state-change-time>` | scaling (conditional put => idempotent), TTL |

Concurrency rule: writers never overwrite attributes they do not own. Shared items (instance,
ASG) are written with `RegistryTable.update_owned`: `SET` of the writer's attributes, `ADD
version 1`, and a condition on the writer's own counter (optimistic locking); never a blind
PutItem of the whole item. Bulk writers send up to 100 such updates per TransactWriteItems
(`update_owned_batch`), each with its own condition. Items one writer owns whole may be put
(`batch_write`, `put_new`).

Modules: `keys` (key formats), `records` (typed records per entity), `table` (`RegistryTable`).
"""

from fleetops.core.registry import keys
from fleetops.core.registry.keys import Key
from fleetops.core.registry.records import (
    RECORD_TYPES,
    AsgRecord,
    DriftRecord,
    Entity,
    FleetIndexRecord,
    FleetRecord,
    InstanceRecord,
    Record,
    RegionStatusRecord,
    parse_record,
)
from fleetops.core.registry.table import (
    TRANSACTION_LIMIT,
    Condition,
    OwnedUpdate,
    RegistryTable,
    deserialize_item,
    serialize_item,
)

__all__ = [
    "RECORD_TYPES",
    "TRANSACTION_LIMIT",
    "AsgRecord",
    "Condition",
    "DriftRecord",
    "Entity",
    "FleetIndexRecord",
    "FleetRecord",
    "InstanceRecord",
    "Key",
    "OwnedUpdate",
    "Record",
    "RegionStatusRecord",
    "RegistryTable",
    "deserialize_item",
    "keys",
    "parse_record",
    "serialize_item",
]
