"""health-check's inputs: the shared fleet-run request (`fleetops.core.fleet_request`).

The effective dry run is the configuration's `DRY_RUN` or the request's `dry_run`.
"""

from __future__ import annotations

from typing import Any

from fleetops.core.fleet_request import FleetRunRequest, parse_fleet_run
from fleetops.health_check.config import HealthCheckConfig

CheckRequest = FleetRunRequest


def parse_request(event: Any, config: HealthCheckConfig) -> CheckRequest:
    """Validate an invocation payload, or raise `InvalidInputError` naming each bad field."""
    return parse_fleet_run(event, config, config_dry_run=True)
