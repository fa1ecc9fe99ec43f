"""fleet-sync's inputs: the shared fleet-run request (`fleetops.core.fleet_request`).

fleet-sync only records the fleet, so `DRY_RUN` does not apply; a manual `"dry_run": true` is
what suppresses registry writes and notifications.
"""

from __future__ import annotations

from typing import Any

from fleetops.core.fleet_request import FleetRunRequest, parse_fleet_run
from fleetops.fleet_sync.config import FleetSyncConfig

SyncRequest = FleetRunRequest


def parse_request(event: Any, config: FleetSyncConfig) -> SyncRequest:
    """Validate an invocation payload, or raise `InvalidInputError` naming each bad field."""
    return parse_fleet_run(event, config)
