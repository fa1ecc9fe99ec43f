"""Exceptions the library raises on purpose.

Every one derives from `FleetOpsError`, so a handler can tell a failure we anticipated and
described from a bug, and report the former without a stack trace being the only message.
"""

from __future__ import annotations

from collections.abc import Mapping


class FleetOpsError(Exception):
    """Root of every deliberate fleet-ops failure."""


class ConfigError(FleetOpsError):
    """The environment cannot run the function.

    Carries every problem at once so an operator fixes the deployment in one round trip
    instead of discovering bad variables one cold start at a time.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems: dict[str, str] = dict(problems)
        details = "; ".join(f"{name}: {problem}" for name, problem in sorted(self.problems.items()))
        super().__init__(f"invalid configuration ({len(self.problems)} variable(s)): {details}")


class InvalidInputError(FleetOpsError):
    """An invocation payload was rejected before anything was read or written.

    `fields` maps each offending field (dotted path) to what is wrong with it, so the caller of
    a manual invocation sees exactly which part of the request to fix.
    """

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields: dict[str, str] = dict(fields)
        details = "; ".join(f"{name}: {problem}" for name, problem in sorted(self.fields.items()))
        super().__init__(f"invalid input: {details}")


class NotFoundError(FleetOpsError):
    """Something the caller named explicitly does not exist."""


class CircuitOpenError(FleetOpsError):
    """A dependency is failing; calls are refused until its breaker lets a trial through."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(f"circuit '{name}' is open; next trial in {retry_after:.1f}s")


class ConflictError(FleetOpsError):
    """A conditional write lost a race with another writer.

    `current` holds the item as DynamoDB saw it when the condition failed (when the service
    returned it), so the caller can re-plan without an extra read.
    """

    def __init__(self, pk: str, sk: str, current: Mapping[str, object] | None = None) -> None:
        self.pk = pk
        self.sk = sk
        self.current = dict(current) if current is not None else None
        super().__init__(f"conditional write lost for {pk} / {sk}")


class BatchWriteError(FleetOpsError):
    """Some items of a batch write were still unprocessed after every retry.

    Raised instead of returning quietly so a partial write can never pass for success.
    """

    def __init__(self, table: str, unprocessed: int, attempts: int) -> None:
        self.table = table
        self.unprocessed = unprocessed
        self.attempts = attempts
        super().__init__(
            f"{unprocessed} item(s) still unprocessed in {table} after {attempts} attempt(s)"
        )


class TransactionError(FleetOpsError):
    """A transactional write was cancelled for a reason other than a lost condition.

    Either the reason is not transient (e.g. a validation error: a bug or an oversized item) or
    a transient one (a concurrent transaction, throttling) outlasted every retry. Nothing of the
    transaction was written: DynamoDB applies all of it or none.
    """

    def __init__(self, table: str, reason: str, message: str | None = None) -> None:
        self.table = table
        self.reason = reason
        super().__init__(
            f"transaction on {table} cancelled: {reason}" + (f" ({message})" if message else "")
        )
