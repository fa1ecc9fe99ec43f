"""restore Lambda entry point (the recovery workflow's restore step; also run by hand).

Event: `{"backup_id": "<id>" | omitted (latest verified), "target_table": "<name>" | omitted
(DDB_TABLE), "create_table": false, "dry_run": false}` (see `request`).

Returns `{"status": "restored", "backup_id", "target_table", "items": N, ...}` (or `validated`
for a dry run). Raises, with nothing written: `InvalidInputError` (bad event),
`BackupNotFoundError` (no such backup / no verified backup), `CorruptBackupError` (backup does
not match its manifest, or is incomplete), `RestoreTargetError` (target missing or with another
key schema). `RestoreFailedError` means writing failed part-way: re-running is safe.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetops.backup.config import BackupConfig
from fleetops.backup.request import parse_restore_request
from fleetops.backup.restore import RestoreDeps, Restorer
from fleetops.core import observability
from fleetops.core.aws import AwsClients

CONFIG = BackupConfig.from_env()
observability.configure(CONFIG)
DEPS = RestoreDeps(config=CONFIG, clients=AwsClients.from_config(CONFIG))


@observability.lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_restore_request(event)
    return Restorer(DEPS).run(request)
