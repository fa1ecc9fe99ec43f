"""Count AWS API calls by operation, through botocore's event system.

Counts at `before-parameter-build`, emitted once per API call before anything can short-circuit
it, so injected faults and retried attempts are counted like real requests (each retry is a new
call: botocore's own retries are off in fleet-ops clients).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from fleetops_tests.support.faults import register

WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)


class RequestCounter:
    """`counter.attach(clients)`; then `counter.counts["dynamodb.UpdateItem"]`, `counter.writes()`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, target: Any) -> RequestCounter:
        """Count calls made through `target`: an `AwsClients` or a botocore client."""
        register(target, "before-parameter-build", self._count)
        return self

    def _count(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".", 2)[1:]
        with self._lock:
            self.counts[f"{service}.{operation}"] += 1

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def total(self, service: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for op, n in self.counts.items()
                if service is None or op.startswith(service + ".")
            )

    def writes(self) -> int:
        """DynamoDB write requests (every kind)."""
        with self._lock:
            return sum(
                n
                for op, n in self.counts.items()
                if op.startswith("dynamodb.") and op.split(".", 1)[1] in WRITE_OPERATIONS
            )

    def by_operation(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.counts.items()))
