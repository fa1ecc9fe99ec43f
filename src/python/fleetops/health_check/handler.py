"""health-check Lambda entry point (EventBridge schedule every minute; 128 MB; 2 min timeout).

Thin on purpose: parse the input, run the domain (`run.run_health_check`), report.
Configuration and AWS clients are built at import, i.e. once per container at cold start: a
bad variable stops the function right there with one `ConfigError` naming every bad variable.

Returns the result dict (see `report`). Raises `InvalidInputError` for a malformed invocation
(nothing read or written), `NotFoundError` for a named fleet the registry does not know
(nothing written) and `HealthCheckFailedError` when every region's checks failed (after the
fleet breaker has notified and started recovery); a partial failure is a normal return with
`status: "partial"` and per-region status.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetops.core import observability
from fleetops.core.aws import AwsClients
from fleetops.health_check.config import HealthCheckConfig
from fleetops.health_check.report import FAILED, HealthCheckFailedError, emit_result_metrics
from fleetops.health_check.request import parse_request
from fleetops.health_check.run import HealthDeps, run_health_check

CONFIG = HealthCheckConfig.from_env()
observability.configure(CONFIG)
DEPS = HealthDeps(config=CONFIG, clients=AwsClients.from_config(CONFIG))


@observability.lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, CONFIG)
    result = run_health_check(request, DEPS)
    emit_result_metrics(result)
    if result.status == FAILED:
        raise HealthCheckFailedError(result)
    return result.as_dict()
