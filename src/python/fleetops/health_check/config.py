"""health-check's variables on top of the shared ones (docs/CONVENTIONS.md).

| variable | meaning | default |
|---|---|---|
| RECOVERY_STATE_MACHINE_ARN | recovery workflow started when the fleet breaker opens | required |
| UNHEALTHY_CHECKS_BEFORE_ACTION | consecutive impaired checks before the first reboot | 3 |
| REBOOT_GRACE_SECONDS | still impaired this long after the reboot => replace via the ASG | 600 |
| REMEDIATION_BUDGET_SHARE | at most this share of a fleet, and of each AZ, remediated per window | 0.1 |
| REMEDIATION_BUDGET_MIN | floor of each budget (a 5-instance fleet at 10% may still heal 1) | 1 |
| REMEDIATION_WINDOW_SECONDS | budget window; also the incident window of the fleet breaker | 3600 |
| BREAKER_UNHEALTHY_SHARE | impaired + unknown share above which nothing is remediated | 0.3 |
| BREAKER_MIN_INSTANCES | ... and at least this many instances impaired or unknown | 2 |
| FLAP_TRANSITIONS | this many healthy<->impaired transitions ... | 4 |
| FLAP_WINDOW_SECONDS | ... within this window => `flapping`: reported, not remediated | 1800 |
| HEALTH_HEARTBEAT_SECONDS | an unchanged health record is rewritten at most this often | 300 |
| ACTION_TTL_DAYS | action records and incidents expire (TTL) after this many days | 30 |
| WRITE_CONCURRENCY | parallel registry writes | 8 |

`DRY_RUN` (shared): decide and record (`would_reboot` / `would_replace` action records, health
fields), change nothing in EC2 or Auto Scaling, spend no budget, start no workflow, send no
notification. A manual invocation's `"dry_run": true` does the same for one run.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from fleetops.core.config import BaseConfig

_STATE_MACHINE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]+):\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
)


def _check_state_machine_arn(value: str) -> str:
    if not _STATE_MACHINE_ARN_RE.match(value):
        raise ValueError(
            f"{value!r} is not a Step Functions state machine ARN "
            "(arn:aws:states:<region>:<account>:stateMachine:<name>)"
        )
    return value


StateMachineArn = Annotated[str, AfterValidator(_check_state_machine_arn)]


class HealthCheckConfig(BaseConfig):
    recovery_state_machine_arn: StateMachineArn
    unhealthy_checks_before_action: int = Field(default=3, ge=1, le=100)
    reboot_grace_seconds: int = Field(default=600, ge=0, le=86400)
    remediation_budget_share: float = Field(default=0.1, gt=0, le=1)
    remediation_budget_min: int = Field(default=1, ge=0)
    remediation_window_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    breaker_unhealthy_share: float = Field(default=0.3, gt=0, le=1)
    breaker_min_instances: int = Field(default=2, ge=1)
    flap_transitions: int = Field(default=4, ge=2, le=50)
    flap_window_seconds: int = Field(default=1800, ge=60, le=7 * 86400)
    health_heartbeat_seconds: int = Field(default=300, ge=0)
    action_ttl_days: int = Field(default=30, ge=1, le=365)
    write_concurrency: int = Field(default=8, ge=1, le=64)

    @property
    def recovery_region(self) -> str:
        """The state machine's own region: StartExecution goes there, not to REGION."""
        match = _STATE_MACHINE_ARN_RE.match(self.recovery_state_machine_arn)
        assert match is not None  # validated
        return match.group("region")

    @property
    def action_ttl_seconds(self) -> int:
        return self.action_ttl_days * 86400
