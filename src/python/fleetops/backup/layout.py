"""Where backups live: S3 keys, backup ids, and the registry items that catalogue them.

S3 (bucket `BACKUP_BUCKET`, every object SSE-KMS):

    backups/<backup_id>/registry.jsonl.gz   the registry table, one `{"Item": <DynamoDB JSON>}` per line
    backups/<backup_id>/config.jsonl.gz     fleet configuration, one `{"kind": ..., ...}` per line
    backups/<backup_id>/manifest.json       written after both objects: counts, sizes, sha256
    backups/<backup_id>/VERIFIED            written after the read-back check of a complete backup

"Latest verified" is the newest `backups/<id>/` prefix (one ListObjectsV2 with a delimiter per
1000 backups) whose `VERIFIED` marker exists (one HEAD when the newest backup is verified). The
markers live with the data on purpose: when the registry is lost, S3 alone says what to restore.

`backup_id` is `<YYYYMMDDTHHMMSSZ>-<8 hex>`: the scheduled time, then a digest of the event id
(or request id), so ids sort by time and a redelivered event maps to the same id.

Registry (home region, table `DDB_TABLE`): pk `BACKUP`, sk `<backup_id>`, entity `backup`: the
catalogue of backups with their status (`running`, `verified`, `partial`, `failed`) and, while
running, a lease (`lease_expires_at`, N). The `BACKUP` and `CLEANUP` partitions are operational
metadata about the registry itself: they are not exported and a restore never rolls them back.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from fleetops.core.registry.keys import Key

PREFIX = "backups/"
REGISTRY_OBJECT = "registry.jsonl.gz"
CONFIG_OBJECT = "config.jsonl.gz"
MANIFEST_OBJECT = "manifest.json"
VERIFIED_OBJECT = "VERIFIED"

BACKUP_PK = "BACKUP"
"""Registry partition of the backup catalogue (one item per backup id)."""
CLEANUP_PK = "CLEANUP"
"""Registry partition of cleanup's run lease."""
OPERATIONAL_PARTITIONS = frozenset({BACKUP_PK, CLEANUP_PK})
"""Partitions left out of registry exports (see module doc)."""

BACKUP_ENTITY = "backup"
BACKUP_ID_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{8}$"
_BACKUP_ID_RE = re.compile(BACKUP_ID_PATTERN)
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def backup_id_for(at: float, seed: str) -> str:
    """The id of the backup taken at epoch `at` for event/request `seed` (deterministic)."""
    stamp = datetime.fromtimestamp(int(at), tz=UTC).strftime(_TIME_FORMAT)
    return f"{stamp}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def is_backup_id(value: str) -> bool:
    return bool(_BACKUP_ID_RE.match(value))


def backup_time(backup_id: str) -> float:
    """Epoch seconds encoded in a backup id; `ValueError` for anything that is not one."""
    if not is_backup_id(backup_id):
        raise ValueError(f"{backup_id!r} is not a backup id")
    stamp = datetime.strptime(backup_id.split("-", 1)[0], _TIME_FORMAT).replace(tzinfo=UTC)
    return stamp.timestamp()


def backup_prefix(backup_id: str) -> str:
    return f"{PREFIX}{backup_id}/"


def object_key(backup_id: str, name: str) -> str:
    return backup_prefix(backup_id) + name


def manifest_key(backup_id: str) -> str:
    return object_key(backup_id, MANIFEST_OBJECT)


def verified_key(backup_id: str) -> str:
    return object_key(backup_id, VERIFIED_OBJECT)


def index_key(backup_id: str) -> Key:
    """The backup's catalogue item in the registry."""
    return Key(BACKUP_PK, backup_id)


def backup_id_of_prefix(prefix: str) -> str | None:
    """`backups/<id>/` -> `<id>`, or None when the prefix is not a backup's."""
    if not prefix.startswith(PREFIX) or not prefix.endswith("/"):
        return None
    candidate = prefix[len(PREFIX) : -1]
    return candidate if is_backup_id(candidate) else None
