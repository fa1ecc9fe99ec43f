"""The backup bucket: SSE-KMS puts, a streaming multipart sink, streaming reads, listings.

Every object is written with `ServerSideEncryption="aws:kms"` (and `SSEKMSKeyId` when
`BACKUP_KMS_KEY_ID` is set). Every request goes through the `s3:<home region>` guard (retries on
throttling / 5xx / connection errors, breaker). Large objects are never held whole: the sink
keeps one part in memory and uploads it as soon as it is full; reads are streamed in chunks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from fleetops.core.aws import Guard, RetrySettings, error_summary
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import logger

if TYPE_CHECKING:
    from fleetops.backup.config import BackupConfig
    from fleetops.core.aws import AwsClients

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's minimum size of every part but the last."""
MAX_PARTS = 10_000
READ_CHUNK = 1024 * 1024
DELETE_BATCH = 1000
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _MISSING_CODES


class DeleteFailedError(FleetOpsError):
    """DeleteObjects reported per-key errors."""


@dataclass(frozen=True)
class StoredObject:
    """What was written: key, size, sha256 of the stored bytes, ETag."""

    key: str
    bytes: int
    sha256: str
    etag: str


@dataclass
class ObjectReader:
    """An open GetObject: metadata plus the body, read chunk by chunk."""

    key: str
    etag: str
    content_length: int
    server_side_encryption: str | None
    body: Any

    def chunks(self, size: int = READ_CHUNK) -> Iterator[bytes]:
        try:
            while True:
                chunk = self.body.read(size)
                if not chunk:
                    return
                yield chunk
        finally:
            self.body.close()


class BackupBucket:
    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        guard: Guard | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.guard = guard or Guard(RetrySettings())
        self.kms_key_id = kms_key_id

    @classmethod
    def from_clients(
        cls, clients: AwsClients, config: BackupConfig | Any, *, kms_key_id: str | None = None
    ) -> BackupBucket:
        """The configured bucket through the home region's S3 client and guard."""
        return cls(
            clients.client("s3", config.region),
            config.backup_bucket,
            guard=clients.guard("s3", config.region),
            kms_key_id=(
                kms_key_id if kms_key_id is not None else getattr(config, "backup_kms_key_id", None)
            ),
        )

    def sse_params(self) -> dict[str, str]:
        params = {"ServerSideEncryption": "aws:kms"}
        if self.kms_key_id:
            params["SSEKMSKeyId"] = self.kms_key_id
        return params

    # -- small objects -----------------------------------------------------------------------

    def put_bytes(
        self, key: str, body: bytes, *, content_type: str, content_encoding: str | None = None
    ) -> StoredObject:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            **self.sse_params(),
        }
        if content_encoding:
            params["ContentEncoding"] = content_encoding
        response = self.guard.call(self.client.put_object, **params)
        return StoredObject(
            key, len(body), hashlib.sha256(body).hexdigest(), str(response.get("ETag", ""))
        )

    def put_json(self, key: str, document: Mapping[str, Any]) -> StoredObject:
        body = json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        return self.put_bytes(key, body, content_type="application/json")

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's bytes, or None if it does not exist."""
        try:
            response = self.guard.call(self.client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def exists(self, key: str) -> bool:
        try:
            self.guard.call(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return False
            raise
        return True

    # -- streaming ---------------------------------------------------------------------------

    def open(self, key: str, *, if_match: str | None = None) -> ObjectReader | None:
        """Start reading `key` (None if missing). `if_match`: fail unless the ETag is this one."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_match:
            params["IfMatch"] = if_match
        try:
            response = self.guard.call(self.client.get_object, **params)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return ObjectReader(
            key=key,
            etag=str(response.get("ETag", "")),
            content_length=int(response.get("ContentLength", 0)),
            server_side_encryption=response.get("ServerSideEncryption"),
            body=response["Body"],
        )

    def sink(
        self,
        key: str,
        *,
        part_size: int,
        content_type: str,
        content_encoding: str | None = None,
    ) -> MultipartSink:
        return MultipartSink(
            self,
            key,
            part_size=part_size,
            content_type=content_type,
            content_encoding=content_encoding,
        )

    # -- listings and deletes ----------------------------------------------------------------

    def list_prefixes(self, prefix: str) -> Iterator[str]:
        """The "directories" directly under `prefix` (CommonPrefixes), in key order."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                params["ContinuationToken"] = token
            page = self.guard.call(self.client.list_objects_v2, **params)
            for entry in page.get("CommonPrefixes", ()):
                yield str(entry["Prefix"])
            token = page.get("NextContinuationToken")
            if not token:
                return

    def list_keys(self, prefix: str) -> Iterator[str]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                params["ContinuationToken"] = token
            page = self.guard.call(self.client.list_objects_v2, **params)
            for entry in page.get("Contents", ()):
                yield str(entry["Key"])
            token = page.get("NextContinuationToken")
            if not token:
                return

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete `keys` (1000 per request); `DeleteFailedError` if S3 reports any error."""
        batch: list[str] = []
        deleted = 0
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                deleted += self._delete_batch(batch)
                batch = []
        if batch:
            deleted += self._delete_batch(batch)
        return deleted

    def _delete_batch(self, keys: list[str]) -> int:
        response = self.guard.call(
            self.client.delete_objects,
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise DeleteFailedError(
                f"{len(errors)} of {len(keys)} deletes failed; first: "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        return len(keys)

    def abort_uploads(self, prefix: str) -> int:
        """Abort unfinished multipart uploads under `prefix` (left by a crashed run)."""
        aborted = 0
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self.guard.call(self.client.list_multipart_uploads, **params)
            for upload in page.get("Uploads") or ():
                self.guard.call(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
                aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            params["KeyMarker"] = page.get("NextKeyMarker")
            params["UploadIdMarker"] = page.get("NextUploadIdMarker")


class MultipartSink:
    """A write-only stream into one S3 object, holding at most one part in memory.

    Small objects (under one part) become a single PutObject; larger ones a multipart upload
    whose parts are all exactly `part_size` bytes except the last. The sha256 and size of the
    stored bytes are computed on the fly. Call `close()` to finish, `abort()` on failure
    (both idempotent); an upload is never left half-finished by this class on an error path.
    """

    def __init__(
        self,
        bucket: BackupBucket,
        key: str,
        *,
        part_size: int,
        content_type: str,
        content_encoding: str | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.bytes = 0
        self.parts_uploaded = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._closed = False
        self.result: StoredObject | None = None

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("write to a closed sink")
        if not data:
            return
        self._hash.update(data)
        self.bytes += len(data)
        self._buffer += data
        while len(self._buffer) >= self.part_size:
            with memoryview(self._buffer) as view:  # one copy of the part, not two
                part = bytes(view[: self.part_size])
            del self._buffer[: self.part_size]
            self._upload_part(part)

    def _start(self) -> str:
        params: dict[str, Any] = {
            "Bucket": self.bucket.bucket,
            "Key": self.key,
            "ContentType": self.content_type,
            **self.bucket.sse_params(),
        }
        if self.content_encoding:
            params["ContentEncoding"] = self.content_encoding
        response = self.bucket.guard.call(self.bucket.client.create_multipart_upload, **params)
        return str(response["UploadId"])

    def _upload_part(self, part: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._start()
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"{self.key}: more than {MAX_PARTS} parts; raise the part size")
        response = self.bucket.guard.call(
            self.bucket.client.upload_part,
            Bucket=self.bucket.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self.parts_uploaded += 1

    def close(self) -> StoredObject:
        if self.result is not None:
            return self.result
        if self._closed:
            raise ValueError("sink was aborted")
        try:
            if self._upload_id is None:
                stored = self.bucket.put_bytes(
                    self.key,
                    bytes(self._buffer),
                    content_type=self.content_type,
                    content_encoding=self.content_encoding,
                )
                etag = stored.etag
            else:
                if self._buffer:
                    self._upload_part(bytes(self._buffer))
                response = self.bucket.guard.call(
                    self.bucket.client.complete_multipart_upload,
                    Bucket=self.bucket.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                etag = str(response.get("ETag", ""))
        except BaseException:
            self.abort()
            raise
        self._buffer = bytearray()
        self._closed = True
        self.result = StoredObject(self.key, self.bytes, self._hash.hexdigest(), etag)
        return self.result

    def abort(self) -> None:
        """Drop the buffer and abort the multipart upload, if any (best effort)."""
        self._closed = True
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self.bucket.guard.call(
                self.bucket.client.abort_multipart_upload,
                Bucket=self.bucket.bucket,
                Key=self.key,
                UploadId=upload_id,
            )
        except Exception as exc:  # the failure being handled matters more than this one
            logger.warning(
                "could not abort multipart upload",
                extra={"key": self.key, "error": error_summary(exc)},
            )


class NullSink:
    """A sink that stores nothing (dry runs): counts bytes and hashes them like a real one."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.bytes = 0
        self.parts_uploaded = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.bytes += len(data)

    def close(self) -> StoredObject:
        return StoredObject(self.key, self.bytes, self._hash.hexdigest(), "")

    def abort(self) -> None:
        return None
