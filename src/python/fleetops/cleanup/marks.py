"""The mark-for-deletion tags.

`fleetops:delete-after` = ISO-8601 UTC time (`2026-12-03T03:00:00Z`; a bare date `2026-12-03`
set by hand means that day's midnight UTC) after which a sweep may delete the resource if it is
still an orphan; `fleetops:mark-reason` says why it was marked. Removing the tags by hand
cancels the deletion (the next run re-marks an orphan with a new grace period).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetops.core.clock import iso_utc

DELETE_AFTER_TAG = "fleetops:delete-after"
REASON_TAG = "fleetops:mark-reason"
MARK_TAGS = (DELETE_AFTER_TAG, REASON_TAG)


@dataclass(frozen=True)
class Mark:
    delete_after: float | None
    """Epoch seconds; None when the tag is present but unreadable."""
    raw: str
    reason: str | None

    @property
    def valid(self) -> bool:
        return self.delete_after is not None

    def due(self, now: float) -> bool:
        return self.delete_after is not None and self.delete_after <= now


def parse_time(value: str) -> float | None:
    text = value.strip()
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def mark_of(tags: Mapping[str, str]) -> Mark | None:
    raw = tags.get(DELETE_AFTER_TAG)
    if raw is None:
        return None
    return Mark(parse_time(raw), raw, tags.get(REASON_TAG))


def mark_tags(delete_after: float, reason: str) -> list[dict[str, str]]:
    return [
        {"Key": DELETE_AFTER_TAG, "Value": iso_utc(delete_after)},
        {"Key": REASON_TAG, "Value": reason[:255]},
    ]
