"""The two remediation actions, and the action records that keep every decision on file.

- reboot: `ec2:RebootInstances` for the one instance (an OS-level reboot; the instance keeps its
  id, volumes and place in the ASG).
- replace: `autoscaling:SetInstanceHealth(HealthStatus="Unhealthy",
  ShouldRespectGracePeriod=True)`: the ASG terminates the instance and launches a replacement
  through its own machinery (lifecycle hooks, capacity, AZ balance), honouring its
  health-check grace period for instances that just launched.

Both go through the shared guard (retries on throttling, per-dependency breaker). A dry run's
`would_*` actions call nothing.

Each decision is also put as an action record `FLEET#<fleet>` / `ACTION#<iso-time>#<instance>`
(conditional put, so a retried run cannot write it twice) with `expires_at` for TTL.
"""

from __future__ import annotations

from fleetops.core.aws import AwsClients, error_summary
from fleetops.core.errors import ConflictError
from fleetops.core.observability import logger
from fleetops.core.registry import RegistryTable
from fleetops.health_check.checks import AWS_ERRORS
from fleetops.health_check.records import ActionKind, ActionRecord


class Remediator:
    def __init__(self, clients: AwsClients, table: RegistryTable) -> None:
        self.clients = clients
        self.table = table

    def execute(self, action: ActionKind, region: str, instance_id: str) -> None:
        """Carry out a real action; raises the AWS error if it could not be done."""
        if action is ActionKind.REBOOT:
            self.clients.call("ec2", region, "reboot_instances", InstanceIds=[instance_id])
        elif action is ActionKind.REPLACE:
            self.clients.call(
                "autoscaling",
                region,
                "set_instance_health",
                InstanceId=instance_id,
                HealthStatus="Unhealthy",
                ShouldRespectGracePeriod=True,
            )
        else:
            return
        logger.warning(
            "remediation action taken",
            extra={"action": action.value, "region": region, "instance_id": instance_id},
        )

    def record(self, record: ActionRecord) -> bool:
        """Put the action record; False (logged) if it could not be written."""
        try:
            self.table.put_new(record.to_item())
        except ConflictError:
            return True  # already on file (a retried invocation)
        except AWS_ERRORS as exc:
            logger.error(
                "could not record action",
                extra={**record.describe(), "error": error_summary(exc)},
            )
            return False
        return True
