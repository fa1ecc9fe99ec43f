"""fleet-sync's variables on top of the shared ones (docs/CONVENTIONS.md).

| variable | meaning | default |
|---|---|---|
| AZ_IMBALANCE_THRESHOLD | largest tolerated in-service spread (max - min) across an ASG's AZs | 1 |
| DRIFT_NOTIFY_WINDOW_SECONDS | the same drift is not notified again within this window | 3600 |
| TOMBSTONE_TTL_DAYS | how long `terminated`/`deleted` tombstones stay before TTL removes them | 7 |
| WRITE_CONCURRENCY | parallel write transactions (of up to 100 changes) per region | 4 |
| EC2_PAGE_SIZE | DescribeInstances MaxResults | 1000 |

`DRY_RUN` (shared) is accepted but changes nothing here: fleet-sync never changes the fleet,
it only records it. A manual invocation's `"dry_run": true` is what suppresses registry writes
and notifications.
"""

from __future__ import annotations

from pydantic import Field

from fleetops.core.config import BaseConfig


class FleetSyncConfig(BaseConfig):
    az_imbalance_threshold: int = Field(default=1, ge=0)
    drift_notify_window_seconds: int = Field(default=3600, ge=0)
    tombstone_ttl_days: int = Field(default=7, ge=1, le=365)
    write_concurrency: int = Field(default=4, ge=1, le=32)
    ec2_page_size: int = Field(default=1000, ge=5, le=1000)

    @property
    def tombstone_ttl_seconds(self) -> int:
        return self.tombstone_ttl_days * 86400
