"""cleanup Lambda entry point (EventBridge schedule daily 03:00; 256 MB; 10 min timeout).

Thin on purpose: parse the input, run the domain (`cleanup.run_cleanup`), return the report.
Configuration and clients are built at import (cold start): a bad variable fails right there
with one `ConfigError` naming every bad variable.

Returns the report dict (see `report`), or `{"status": "skipped", ...}` when another run holds
the lease. Raises `InvalidInputError` for a malformed invocation (nothing read or written) and
`CleanupFailedError` when every region failed (after the report was published).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetops.cleanup.cleanup import CleanupDeps, run_cleanup
from fleetops.cleanup.config import CleanupConfig
from fleetops.cleanup.request import parse_request
from fleetops.core import observability
from fleetops.core.aws import AwsClients

CONFIG = CleanupConfig.from_env()
observability.configure(CONFIG)
DEPS = CleanupDeps(config=CONFIG, clients=AwsClients.from_config(CONFIG))
LEASE_MARGIN_SECONDS = 30


def lease_seconds(context: Any, default: float) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return max(60.0, remaining() / 1000 + LEASE_MARGIN_SECONDS)
    return default


@observability.lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, CONFIG)
    outcome = run_cleanup(
        request,
        DEPS,
        owner=str(context.aws_request_id),
        lease_seconds=lease_seconds(context, CONFIG.cleanup_lease_seconds),
    )
    return dict(outcome.as_dict())
