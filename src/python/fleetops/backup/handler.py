"""backup Lambda entry point (EventBridge schedule daily 02:00; 512 MB; 15 min timeout).

Thin on purpose: parse the input, run the domain (`backup.run_backup`), return its result.
Configuration and clients are built at import (cold start): a bad variable fails right there
with one `ConfigError` naming every bad variable.

Returns the result dict (see `report.BackupResult`). Raises `InvalidInputError` for a malformed
invocation (nothing read or written) and `BackupFailedError` when the backup could not be
written or did not verify; a `partial` backup (some region's configuration unreadable) is a
normal return with a warning notification and `BackupSucceeded=0` in the metrics.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetops.backup.backup import LEASE_MARGIN_SECONDS, BackupDeps, run_backup
from fleetops.backup.config import BackupConfig
from fleetops.backup.request import parse_backup_request
from fleetops.core import observability
from fleetops.core.aws import AwsClients

CONFIG = BackupConfig.from_env()
observability.configure(CONFIG)
DEPS = BackupDeps(config=CONFIG, clients=AwsClients.from_config(CONFIG))


def lease_seconds(context: Any, default: float) -> float:
    """The claim lasts as long as this invocation can (plus a margin), so a retry after a
    timeout finds it lapsed."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return max(60.0, remaining() / 1000 + LEASE_MARGIN_SECONDS)
    return default


@observability.lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_backup_request(event, now=DEPS.clock(), request_id=str(context.aws_request_id))
    result = run_backup(
        request,
        DEPS,
        owner=str(context.aws_request_id),
        lease_seconds=lease_seconds(context, CONFIG.backup_lease_seconds),
    )
    return result.as_dict()
