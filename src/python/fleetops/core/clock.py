"""Time as the registry stores it.

Two forms on purpose (docs/CONVENTIONS.md): ISO-8601 UTC strings ending in `Z` for people
reading items, epoch seconds (N) for anything a condition expression or TTL compares.
Code that needs "now" takes a `Clock` so tests can move time without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns the current time in epoch seconds (like `time.time`)."""

system_clock: Clock = time.time


def iso_utc(epoch_seconds: float) -> str:
    """`2024-05-01T12:00:00Z` (second precision: registry timestamps are for humans)."""
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(epoch_seconds: float) -> int:
    """Whole epoch seconds, the form stored in N attributes such as `expires_at`."""
    return int(epoch_seconds)
