"""Restore a backup into the registry or a new table: validate everything, then write.

1. Which backup: the one named, else the latest verified (newest `VERIFIED` marker in S3, so
   it works with the registry itself gone).
2. Validate the WHOLE backup before the first write: the manifest is present and parses, and
   every object it lists is present, complete and matches its sha256, size and item count, and
   every line parses. Any problem -> `CorruptBackupError` listing them all; nothing written.
3. Target: `target_table` (default `DDB_TABLE`) must exist with the registry's key schema
   (`pk` S hash, `sk` S range), or, with `create_table`, is created with that schema, on-demand
   billing and TTL on `expires_at` (an existing table with the right schema is reused, so a
   re-run works). Problems -> `RestoreTargetError`; nothing written.
4. Write: the registry object is streamed again (GetObject `If-Match` the ETag that was
   validated, so it cannot change between check and write), items are put with BatchWriteItem
   through `RegistryTable.batch_write` (25 per request, UnprocessedItems re-sent with backoff,
   never a silent partial write), `RESTORE_WRITE_CONCURRENCY` chunks written at once and at
   most twice as many parsed ahead. Puts of the
   same items are idempotent: re-running a restore (e.g. after a timeout) is safe.

Items are restored as they were backed up, exactly (numbers as Decimal, sets, binary); items
in the target that are not in the backup are left alone (restore is meant for an empty or new
table; into a live registry it overwrites the backed-up keys with their backed-up values).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from fleetops.backup import ddbjson, layout
from fleetops.backup.config import BackupConfig
from fleetops.backup.errors import (
    BackupNotFoundError,
    CorruptBackupError,
    RestoreFailedError,
    RestoreTargetError,
)
from fleetops.backup.jsonl import StreamFormatError, StreamStats, read_gzip_lines
from fleetops.backup.manifest import REGISTRY, Manifest
from fleetops.backup.request import RestoreRequest
from fleetops.backup.s3store import BackupBucket
from fleetops.backup.verify import latest_verified, load_manifest, verify_backup
from fleetops.core.aws import AwsClients, Guard, error_code, error_summary
from fleetops.core.concurrency import map_concurrently
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import emit_metrics, logger, tracer
from fleetops.core.registry import RegistryTable

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]
TTL_ATTRIBUTE = "expires_at"
TABLE_WAIT_ATTEMPTS = 60
TABLE_WAIT_SECONDS = 2.0

_deserializer = TypeDeserializer()


@dataclass
class RestoreDeps:
    config: BackupConfig
    clients: AwsClients
    sleep: Callable[[float], None] = time.sleep

    @property
    def bucket(self) -> BackupBucket:
        return BackupBucket.from_clients(self.clients, self.config)

    @property
    def dynamodb(self) -> Any:
        return self.clients.client("dynamodb", self.config.region)

    @property
    def guard(self) -> Guard:
        return self.clients.guard("dynamodb", self.config.region)


def to_python_item(raw: dict[str, Any]) -> dict[str, Any]:
    """Wire format -> Python values, exactly (Decimal numbers, sets, `Binary`)."""
    return {name: _deserializer.deserialize(value) for name, value in raw.items()}


class Restorer:
    def __init__(self, deps: RestoreDeps) -> None:
        self.deps = deps
        self.config = deps.config
        self.bucket = deps.bucket

    @tracer.capture_method
    def run(self, request: RestoreRequest) -> dict[str, Any]:
        started = time.monotonic()
        backup_id = request.backup_id or self._latest()
        target = request.target_table or self.config.ddb_table
        logger.info(
            "restore requested",
            extra={"backup_id": backup_id, "target_table": target, "dry_run": request.dry_run},
        )
        manifest = load_manifest(self.bucket, backup_id)
        report = verify_backup(self.bucket, manifest)
        if not report.ok:
            logger.error(
                "backup refused", extra={"backup_id": backup_id, "problems": report.problems}
            )
            raise CorruptBackupError(backup_id, report.problems)
        entry = manifest.object(REGISTRY)
        assert entry is not None  # parse_manifest guarantees a registry object
        etag = report.objects[REGISTRY].etag

        created = self._prepare_target(target, create=request.create_table, dry_run=request.dry_run)
        result: dict[str, Any] = {
            "backup_id": backup_id,
            "target_table": target,
            "items": entry.items,
            "backup_status": manifest.status,
            "created_at": manifest.created_at,
        }
        if request.dry_run:
            result.update(status="validated", dry_run=True, would_create_table=created)
            return result

        written = self._write(manifest, target, etag)
        result.update(
            status="restored",
            items=written,
            table_created=created,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        logger.info("restore finished", extra=result)
        emit_metrics({"RestoredItems": written}, dimensions={"Function": "restore"})
        return result

    def _latest(self) -> str:
        backup_id = latest_verified(self.bucket)
        if backup_id is None:
            raise BackupNotFoundError(
                f"no verified backup in s3://{self.bucket.bucket}/{layout.PREFIX}"
            )
        return backup_id

    # -- target table ------------------------------------------------------------------------

    def _describe(self, table: str) -> dict[str, Any] | None:
        try:
            response = self.deps.guard.call(self.deps.dynamodb.describe_table, TableName=table)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        description: dict[str, Any] = response["Table"]
        return description

    @staticmethod
    def _check_schema(table: str, description: dict[str, Any]) -> None:
        schema = sorted(
            (k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", ())
        )
        types = {
            d["AttributeName"]: d["AttributeType"]
            for d in description.get("AttributeDefinitions", ())
        }
        if (
            schema != [("pk", "HASH"), ("sk", "RANGE")]
            or types.get("pk") != "S"
            or types.get("sk") != "S"
        ):
            raise RestoreTargetError(
                f"table {table} does not have the registry key schema "
                f"(pk S HASH, sk S RANGE): {schema} {types}"
            )

    def _prepare_target(self, table: str, *, create: bool, dry_run: bool) -> bool:
        """Check (or create) the target; True when it is (or would be) created by this run."""
        description = self._describe(table)
        if description is not None:
            self._check_schema(table, description)
            if not dry_run:
                self._wait_active(table, description)
                if create:
                    self._ensure_ttl(table)
            return False
        if not create:
            raise RestoreTargetError(
                f"table {table} does not exist (pass create_table: true to create it)"
            )
        if dry_run:
            return True
        client = self.deps.dynamodb
        try:
            self.deps.guard.call(
                client.create_table,
                TableName=table,
                KeySchema=KEY_SCHEMA,
                AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
                BillingMode="PAY_PER_REQUEST",
                Tags=[
                    {"Key": "fleetops:restored-from", "Value": "registry-backup"},
                ],
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":  # a concurrent restore created it
                raise
        created = self._describe(table)
        if created is None:
            raise RestoreTargetError(f"table {table} vanished right after being created")
        self._wait_active(table, created)
        self._ensure_ttl(table)
        logger.info("restore target created", extra={"table": table})
        return True

    def _wait_active(self, table: str, description: dict[str, Any]) -> None:
        for _ in range(TABLE_WAIT_ATTEMPTS):
            if description.get("TableStatus") == "ACTIVE":
                return
            self.deps.sleep(TABLE_WAIT_SECONDS)
            refreshed = self._describe(table)
            if refreshed is None:
                raise RestoreTargetError(f"table {table} disappeared while waiting for it")
            description = refreshed
        raise RestoreTargetError(
            f"table {table} is still {description.get('TableStatus')} after "
            f"{TABLE_WAIT_ATTEMPTS * TABLE_WAIT_SECONDS:.0f}s"
        )

    def _ensure_ttl(self, table: str) -> None:
        client = self.deps.dynamodb
        ttl = self.deps.guard.call(client.describe_time_to_live, TableName=table)
        status = ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
        if status in ("ENABLED", "ENABLING"):
            return
        self.deps.guard.call(
            client.update_time_to_live,
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

    # -- writing -----------------------------------------------------------------------------

    def _chunks(self, manifest: Manifest, etag: str, stats: StreamStats) -> Iterator[list[Any]]:
        entry = manifest.object(REGISTRY)
        assert entry is not None
        reader = self.bucket.open(entry.key, if_match=etag)
        if reader is None:
            raise CorruptBackupError(manifest.backup_id, [f"{entry.key} vanished"])
        size = self.config.restore_chunk_items
        chunk: list[Any] = []
        for line in read_gzip_lines(reader.chunks(), stats):
            chunk.append(to_python_item(ddbjson.parse_item_line(line)))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    @tracer.capture_method
    def _write(self, manifest: Manifest, target: str, etag: str) -> int:
        table = RegistryTable(
            self.deps.dynamodb, target, guard=self.deps.guard, batch_retry=self.config.retry
        )
        stats = StreamStats()
        lock = threading.Lock()
        written = 0

        def put(chunk: list[Any]) -> int:
            nonlocal written
            count = table.batch_write(chunk)
            with lock:
                written += count
            return count

        try:
            workers = self.config.restore_write_concurrency
            map_concurrently(
                put,
                self._chunks(manifest, etag, stats),
                max_workers=workers,
                window=workers * 2,  # chunks parsed ahead of the writers: bounded memory
            )
        except (StreamFormatError, ddbjson.ItemFormatError) as exc:
            raise RestoreFailedError(manifest.backup_id, target, written, str(exc)) from None
        except AWS_ERRORS as exc:
            if isinstance(exc, CorruptBackupError):
                raise
            raise RestoreFailedError(
                manifest.backup_id, target, written, error_summary(exc)
            ) from exc
        entry = manifest.object(REGISTRY)
        assert entry is not None
        if (stats.sha256, stats.bytes, stats.lines) != (entry.sha256, entry.bytes, entry.items):
            raise RestoreFailedError(
                manifest.backup_id,
                target,
                written,
                "the registry object changed while it was being restored",
            )
        return written
