"""workflow-tasks' variables on top of the shared ones (docs/CONVENTIONS.md).

| variable | meaning | default |
|---|---|---|
| RECOVERY_REGION_FAILURE_SHARE | unhealthy share at which a whole region counts as failed (regional failover) | 0.5 |
| RECOVERY_AZ_FAILURE_SHARE | unhealthy share at which an AZ counts as failed (AZ rebalance) | 0.5 |
| RECORD_TTL_DAYS | how long deployment / maintenance / incident records stay (TTL `expires_at`) | 90 |
| LOCK_TTL_MARGIN_SECONDS | slack a deployment lock must keep beyond the workflow's own waits | 900 |

`DRY_RUN` (shared) makes recovery decide and record without scaling, restoring or changing DNS,
whatever the execution input says.
"""

from __future__ import annotations

from pydantic import Field

from fleetops.core.config import BaseConfig


class WorkflowConfig(BaseConfig):
    recovery_region_failure_share: float = Field(default=0.5, gt=0, le=1)
    recovery_az_failure_share: float = Field(default=0.5, gt=0, le=1)
    record_ttl_days: int = Field(default=90, ge=1, le=3650)
    lock_ttl_margin_seconds: int = Field(default=900, ge=0)

    @property
    def record_ttl_seconds(self) -> int:
        return self.record_ttl_days * 86400
