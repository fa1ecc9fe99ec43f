"""fleet-sync Lambda entry point (EventBridge schedule every 5 minutes; 256 MB; 5 min timeout).

Deployed as one schedule per fleet Region (`infra/modules/fleet-ops/triggers.tf`), each event
carrying `"regions": [<region>]`, so one invocation handles one Region's fleet: 10,000 instances
take ~5 s of CPU here, i.e. well under a minute at 256 MB's seventh of a vCPU (see
`tests/python/fleetops_tests/benchmarks/bench_fleet_sync.py`).

Thin on purpose: parse the input, run the domain (`sync.run_sync`), report. Configuration and
AWS clients are built at import, i.e. once per container at cold start: a bad variable stops
the function right there with one `ConfigError` naming every bad variable.

Returns the result dict (see `report`). Raises `InvalidInputError` for a malformed invocation
(nothing read or written), `NotFoundError` for a named fleet that exists nowhere (nothing
written) and `SyncFailedError` when every region failed; a partial failure is a normal return
with `status: "partial"`, so one bad region does not page anyone through Lambda errors alone
(its `SyncStatus` metric does).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetops.core import observability
from fleetops.fleet_sync.config import FleetSyncConfig
from fleetops.fleet_sync.report import SyncFailedError, emit_result_metrics
from fleetops.fleet_sync.request import parse_request
from fleetops.fleet_sync.sync import SyncDeps, run_sync

CONFIG = FleetSyncConfig.from_env()
observability.configure(CONFIG)
DEPS = SyncDeps.create(CONFIG)


@observability.lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, CONFIG)
    result = run_sync(request, DEPS)
    emit_result_metrics(result)
    if result.status == "failed":
        raise SyncFailedError(result)
    return result.as_dict()
