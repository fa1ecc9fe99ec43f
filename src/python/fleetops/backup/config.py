"""backup / restore variables on top of the shared ones (docs/CONVENTIONS.md).

| variable | meaning | default |
|---|---|---|
| BACKUP_BUCKET | S3 bucket holding `backups/<backup_id>/...` | required |
| BACKUP_KMS_KEY_ID | KMS key (id, ARN or alias) for SSE-KMS; unset: the bucket's aws/s3 key | unset |
| BACKUP_PART_SIZE_MB | multipart upload part size (S3 minimum 5) | 8 |
| BACKUP_LEASE_SECONDS | how long a run's claim on a backup id lasts when the Lambda context does not say | 960 |
| RESTORE_WRITE_CONCURRENCY | parallel BatchWriteItem streams during a restore | 8 |
| RESTORE_CHUNK_ITEMS | items handed to one `RegistryTable.batch_write` (25 per request) | 500 |

Memory is bounded by the part size (one part buffered), one DynamoDB page, and during a restore
`RESTORE_WRITE_CONCURRENCY * 2 * RESTORE_CHUNK_ITEMS` items in flight.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from fleetops.core.config import BaseConfig

MIB = 1024 * 1024
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_bucket(value: str) -> str:
    """An S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)."""
    if not _BUCKET_RE.match(value) or ".." in value:
        raise ValueError(f"{value!r} is not an S3 bucket name (3-63 of a-z 0-9 . -)")
    return value


BucketName = Annotated[str, AfterValidator(check_bucket)]


class BackupConfig(BaseConfig):
    backup_bucket: BucketName
    backup_kms_key_id: str | None = Field(default=None, min_length=1, max_length=2048)
    backup_part_size_mb: int = Field(default=8, ge=5, le=512)
    backup_lease_seconds: int = Field(default=960, ge=60, le=7200)
    restore_write_concurrency: int = Field(default=8, ge=1, le=64)
    restore_chunk_items: int = Field(default=500, ge=25, le=10_000)

    @property
    def part_size_bytes(self) -> int:
        return self.backup_part_size_mb * MIB
