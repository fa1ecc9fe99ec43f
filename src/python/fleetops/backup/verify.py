"""Reading a backup back and checking it against its manifest, without holding it in memory.

For every object: it exists, its stored bytes have the manifest's size and sha256, it is one
complete gzip stream, it has the manifest's number of lines, and every line parses (registry
lines as DynamoDB JSON items with string `pk`/`sk`, configuration lines as JSON records with a
`kind`). The backup Lambda runs this before marking a backup good; restore runs it before the
first write. `require_kms` (backup only) also checks each object is stored with SSE-KMS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleetops.backup import ddbjson, layout
from fleetops.backup.errors import BackupNotFoundError, CorruptBackupError
from fleetops.backup.jsonl import StreamFormatError, StreamStats, read_gzip_lines
from fleetops.backup.manifest import REGISTRY, Manifest, ManifestError, ObjectEntry, parse_manifest
from fleetops.backup.s3store import BackupBucket

LineCheck = Callable[[bytes], Any]


def check_registry_line(line: bytes) -> Any:
    return ddbjson.parse_item_line(line)


def check_config_line(line: bytes) -> Any:
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ddbjson.ItemFormatError(f"not JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        raise ddbjson.ItemFormatError('a configuration line must be {"kind": ..., ...}')
    return record


LINE_CHECKS: dict[str, LineCheck] = {REGISTRY: check_registry_line}


@dataclass
class ObjectCheck:
    name: str
    key: str
    items: int = 0
    bytes: int = 0
    sha256: str = ""
    etag: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "items": self.items,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "ok": self.ok,
            "problems": self.problems,
        }


@dataclass
class VerifyReport:
    backup_id: str
    objects: dict[str, ObjectCheck] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return [problem for check in self.objects.values() for problem in check.problems]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_object(
    bucket: BackupBucket,
    entry: ObjectEntry,
    *,
    require_kms: bool = False,
    line_check: LineCheck | None = None,
) -> ObjectCheck:
    """Stream one object and compare it with its manifest entry."""
    check = ObjectCheck(entry.name, entry.key)
    reader = bucket.open(entry.key)
    if reader is None:
        check.problems.append(f"{entry.name}: object {entry.key} is missing")
        return check
    check.etag = reader.etag
    if require_kms and reader.server_side_encryption != "aws:kms":
        check.problems.append(
            f"{entry.name}: stored with encryption {reader.server_side_encryption!r}, not aws:kms"
        )
    check_line = line_check or LINE_CHECKS.get(entry.name, check_config_line)
    stats = StreamStats()
    try:
        for line in read_gzip_lines(reader.chunks(), stats):
            try:
                check_line(line)
            except ddbjson.ItemFormatError as exc:
                check.problems.append(f"{entry.name}: line {stats.lines} is malformed: {exc}")
                break
    except StreamFormatError as exc:
        check.problems.append(f"{entry.name}: {exc}")
    check.items, check.bytes, check.sha256 = stats.lines, stats.bytes, stats.sha256
    if check.problems:
        return check
    if stats.bytes != entry.bytes:
        check.problems.append(
            f"{entry.name}: {stats.bytes} bytes stored, manifest says {entry.bytes}"
        )
    if stats.sha256 != entry.sha256:
        check.problems.append(
            f"{entry.name}: sha256 {stats.sha256} does not match the manifest's {entry.sha256}"
        )
    if stats.lines != entry.items:
        check.problems.append(f"{entry.name}: {stats.lines} items, manifest says {entry.items}")
    return check


def verify_backup(
    bucket: BackupBucket, manifest: Manifest, *, require_kms: bool = False
) -> VerifyReport:
    """Check every object of `manifest` (all of them, even after a first failure)."""
    report = VerifyReport(manifest.backup_id)
    for entry in manifest.objects:
        report.objects[entry.name] = check_object(bucket, entry, require_kms=require_kms)
    return report


def load_manifest(bucket: BackupBucket, backup_id: str) -> Manifest:
    """The backup's manifest; `BackupNotFoundError` if absent, `CorruptBackupError` if invalid."""
    data = bucket.get_bytes(layout.manifest_key(backup_id))
    if data is None:
        if any(True for _ in bucket.list_keys(layout.backup_prefix(backup_id))):
            raise CorruptBackupError(
                backup_id,
                [f"manifest {layout.manifest_key(backup_id)} is missing (incomplete backup)"],
            )
        raise BackupNotFoundError(f"backup {backup_id} does not exist in s3://{bucket.bucket}")
    try:
        return parse_manifest(data, expected_id=backup_id)
    except ManifestError as exc:
        raise CorruptBackupError(backup_id, [str(exc)]) from None


def latest_verified(bucket: BackupBucket) -> str | None:
    """The newest backup id with a `VERIFIED` marker, or None."""
    ids = [
        backup_id
        for backup_id in map(layout.backup_id_of_prefix, bucket.list_prefixes(layout.PREFIX))
        if backup_id is not None
    ]
    for backup_id in sorted(ids, reverse=True):
        if bucket.exists(layout.verified_key(backup_id)):
            return backup_id
    return None
