"""The building blocks without AWS: line format, gzip streams, multipart sink, ids, manifest."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary

from fleetops.backup import ddbjson, layout
from fleetops.backup.config import BackupConfig
from fleetops.backup.jsonl import GzipLinesWriter, StreamFormatError, StreamStats, read_gzip_lines
from fleetops.backup.manifest import ManifestError, parse_manifest
from fleetops.backup.request import parse_backup_request, parse_restore_request
from fleetops.backup.restore import to_python_item
from fleetops.backup.s3store import BackupBucket, MultipartSink, NullSink
from fleetops.core.errors import ConfigError, InvalidInputError
from fleetops.core.registry.table import serialize_item
from fleetops_tests.backup import helpers
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import base_env


def test_every_dynamodb_type_survives_the_line_format_and_the_python_round_trip() -> None:
    for raw in helpers.typed_items():
        line = ddbjson.item_line(raw)
        assert line.endswith(b"\n") and b"\n" not in line[:-1]
        decoded = ddbjson.parse_item_line(line[:-1])
        assert decoded == raw
        # restore: wire -> Python (Decimal, sets, Binary) -> wire via the core serializer
        python = to_python_item(decoded)
        assert helpers._normalise(serialize_item(python)) == helpers._normalise(raw)
    item = to_python_item(helpers.typed_items()[0])
    assert item["huge"] == Decimal("12345678901234567890123456789012345678")
    assert item["cpu"] == Decimal("0.1000000000000000055511151231257827")
    assert item["ports"] == {Decimal("22"), Decimal("443"), Decimal("8080.5")}
    assert item["blob"] == Binary(b"\x00\x01\xfe\xff")


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[]",
        b'{"Item": {}}',
        b'{"Item": {"pk": {"S": "a"}}}',
        b'{"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}}',
        b'{"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"B": "not base64!"}}}',
        b'{"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"Q": 1}}}',
        b'{"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}, "extra": 1}',
    ],
)
def test_malformed_lines_are_rejected(line: bytes) -> None:
    with pytest.raises(ddbjson.ItemFormatError):
        ddbjson.parse_item_line(line)


def test_gzip_lines_stream_round_trip_with_hash_and_counts_in_small_chunks() -> None:
    sink = NullSink("k")
    captured = bytearray()
    original_write = sink.write

    def write(data: bytes) -> None:
        captured.extend(data)
        original_write(data)

    sink.write = write  # type: ignore[method-assign]
    writer = GzipLinesWriter(sink)
    rng = random.Random(7)
    lines = [json.dumps({"n": n, "pad": "x" * rng.randint(0, 3000)}).encode() for n in range(2000)]
    for line in lines:
        writer.write_line(line + b"\n")
    stored = writer.close()
    assert stored.bytes == len(captured)
    assert stored.sha256 == hashlib.sha256(captured).hexdigest()
    assert gzip.decompress(bytes(captured)).splitlines() == lines

    stats = StreamStats()
    chunks = [bytes(captured[i : i + 777]) for i in range(0, len(captured), 777)]
    assert list(read_gzip_lines(chunks, stats)) == lines
    assert (stats.lines, stats.bytes, stats.sha256) == (2000, stored.bytes, stored.sha256)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (gzip.compress(b"a\nb\n")[:-6], "truncated"),
        (b"definitely not gzip", "not a valid gzip stream"),
        (gzip.compress(b"a\nb\n") + b"junk", "after the end"),
        (gzip.compress(b"a\nb"), "no newline"),
    ],
)
def test_damaged_streams_are_detected(data: bytes, error: str) -> None:
    with pytest.raises(StreamFormatError, match=error):
        list(read_gzip_lines([data], StreamStats()))


def test_a_decompression_bomb_line_is_refused_without_holding_it() -> None:
    bomb = gzip.compress(b"x" * (9 * 1024 * 1024))
    with pytest.raises(StreamFormatError, match="longer than"):
        list(read_gzip_lines([bomb], StreamStats()))


def test_multipart_sink_uploads_exact_parts_and_the_same_bytes(aws: None) -> None:
    helpers.create_bucket()
    bucket = BackupBucket(helpers.s3(), helpers.BUCKET, kms_key_id=helpers.KMS_KEY)
    parts = helpers.capture(bucket.client, "s3", "UploadPart")
    counter = RequestCounter().attach(bucket.client)
    sink = MultipartSink(
        bucket, "backups/x/blob", part_size=5 * 1024 * 1024, content_type="application/gzip"
    )
    rng = random.Random(1)
    payload = bytearray()
    while len(payload) < 12 * 1024 * 1024 + 123:
        chunk = os.urandom(rng.randint(1, 900_000))
        payload += chunk
        sink.write(chunk)
    stored = sink.close()

    assert [len(p["Body"]) for p in parts][:-1] == [5 * 1024 * 1024] * (len(parts) - 1)
    assert len(parts) == 3
    assert counter.counts["s3.CreateMultipartUpload"] == 1
    assert counter.counts["s3.CompleteMultipartUpload"] == 1
    assert all(
        p.get("SSEKMSKeyId") is None for p in parts
    )  # encryption is set once, on CreateMultipartUpload
    assert stored.bytes == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    assert helpers.read_object("backups/x/blob") == bytes(payload)
    head = helpers.s3().head_object(Bucket=helpers.BUCKET, Key="backups/x/blob")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", helpers.KMS_KEY)


def test_small_objects_are_one_put_and_aborts_leave_nothing(aws: None) -> None:
    helpers.create_bucket()
    bucket = BackupBucket(helpers.s3(), helpers.BUCKET)
    counter = RequestCounter().attach(bucket.client)
    small = MultipartSink(bucket, "backups/x/small", part_size=5 * 1024 * 1024, content_type="t")
    small.write(b"hello")
    small.close()
    assert counter.counts["s3.PutObject"] == 1
    assert counter.counts["s3.CreateMultipartUpload"] == 0

    big = MultipartSink(bucket, "backups/x/big", part_size=5 * 1024 * 1024, content_type="t")
    big.write(os.urandom(6 * 1024 * 1024))
    big.abort()
    assert helpers.s3().list_multipart_uploads(Bucket=helpers.BUCKET).get("Uploads", []) == []
    assert helpers.list_keys() == ["backups/x/small"]
    with pytest.raises(ValueError, match="at least"):
        MultipartSink(bucket, "k", part_size=1024, content_type="t")


def test_backup_ids_sort_by_time_and_are_stable_per_event() -> None:
    first = layout.backup_id_for(1795658400, "event-a")
    assert first == layout.backup_id_for(1795658400.9, "event-a")
    assert first != layout.backup_id_for(1795658400, "event-b")
    assert first < layout.backup_id_for(1795658400 + 86400, "event-0")
    assert layout.backup_time(first) == 1795658400
    assert layout.backup_id_of_prefix(f"backups/{first}/") == first
    assert layout.backup_id_of_prefix("backups/notes/") is None
    with pytest.raises(ValueError):
        layout.backup_time("20261126-nope")


def manifest_doc(**overrides: Any) -> dict[str, Any]:
    backup_id = "20261126T020000Z-1a2b3c4d"
    doc: dict[str, Any] = {
        "format_version": 1,
        "backup_id": backup_id,
        "created_at": "2026-11-26T02:00:00Z",
        "completed_at": "2026-11-26T02:01:00Z",
        "status": "complete",
        "source": {
            "table": "t",
            "region": "us-east-1",
            "regions": ["us-east-1"],
            "environment": "dev",
            "fleet_tag_key": "Fleet",
            "trigger": "schedule",
        },
        "objects": [
            {
                "name": "registry",
                "key": f"backups/{backup_id}/registry.jsonl.gz",
                "format": "dynamodb-json-lines",
                "items": 1,
                "bytes": 10,
                "sha256": "0" * 64,
            }
        ],
        "future_field": "tolerated",
    }
    doc.update(overrides)
    return doc


def test_manifest_parsing_accepts_known_and_refuses_broken_documents() -> None:
    manifest = parse_manifest(json.dumps(manifest_doc()).encode())
    assert manifest.object("registry") is not None
    with pytest.raises(ManifestError, match="stored under"):
        parse_manifest(json.dumps(manifest_doc()).encode(), expected_id="20261126T020000Z-ffffffff")
    outside = manifest_doc()
    outside["objects"][0]["key"] = "elsewhere/registry.jsonl.gz"
    with pytest.raises(ManifestError, match="outside"):
        parse_manifest(json.dumps(outside).encode())
    with pytest.raises(ManifestError, match="objects"):
        parse_manifest(json.dumps(manifest_doc(objects=[])).encode())
    with pytest.raises(ManifestError, match="status"):
        parse_manifest(json.dumps(manifest_doc(status="done")).encode())


def test_backup_config_defaults_and_validation() -> None:
    config = BackupConfig.from_env(base_env(BACKUP_BUCKET="my.backups-1"))
    assert (config.backup_kms_key_id, config.part_size_bytes) == (None, 8 * 1024 * 1024)
    with pytest.raises(ConfigError) as raised:
        BackupConfig.from_env(
            base_env(BACKUP_BUCKET="ab", BACKUP_PART_SIZE_MB="4", RESTORE_CHUNK_ITEMS="x")
        )
    assert set(raised.value.problems) == {
        "BACKUP_BUCKET",
        "BACKUP_PART_SIZE_MB",
        "RESTORE_CHUNK_ITEMS",
    }


def test_request_parsing() -> None:
    request = parse_backup_request(
        helpers.scheduled_event("abc", source="aws.scheduler"), now=5, request_id="r"
    )
    assert (request.trigger, request.seed, request.at) == ("schedule", "abc", 1795658400.0)
    manual = parse_backup_request({"dry_run": True}, now=5, request_id="r")
    assert (manual.trigger, manual.seed, manual.at, manual.dry_run) == ("manual", "r", 5, True)
    restore = parse_restore_request(
        {"backup_id": "20261126T020000Z-1a2b3c4d", "create_table": True}
    )
    assert restore.create_table and restore.target_table is None
    with pytest.raises(InvalidInputError, match="backup_id: must be a backup id"):
        parse_restore_request({"backup_id": "latest"})
