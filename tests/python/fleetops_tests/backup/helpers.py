"""Helpers for backup / restore / cleanup tests: the bucket, typed registry items, events.

Everything goes through boto3 against moto (see `fleetops_tests.support.aws_fleet`).
"""

from __future__ import annotations

import gzip
import importlib
import json
import uuid
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from botocore.awsrequest import AWSResponse

from fleetops_tests.support import aws_fleet
from fleetops_tests.support.env import HOME_REGION, TABLE_NAME
from fleetops_tests.support.faults import error_response, register

BUCKET = "fleetops-backups-test"
KMS_KEY = "alias/fleetops-backups-test"
SCHEDULED_TIME = "2026-11-26T02:00:00Z"


def create_bucket(name: str = BUCKET, region: str = HOME_REGION) -> str:
    aws_fleet.aws("s3", region).create_bucket(Bucket=name)
    return name


def s3() -> Any:
    return aws_fleet.aws("s3", HOME_REGION)


def ddb() -> Any:
    return aws_fleet.aws("dynamodb", HOME_REGION)


def list_keys(bucket: str = BUCKET, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(entry["Key"] for entry in page.get("Contents", ()))
    return sorted(keys)


def read_object(key: str, bucket: str = BUCKET) -> bytes:
    data: bytes = s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def read_json(key: str, bucket: str = BUCKET) -> Any:
    return json.loads(read_object(key, bucket))


def read_lines(key: str, bucket: str = BUCKET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(read_object(key, bucket)).splitlines()]


def put_object(key: str, body: bytes, bucket: str = BUCKET) -> None:
    s3().put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms")


def scheduled_event(
    event_id: str | None = None, time: str = SCHEDULED_TIME, **overrides: Any
) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": HOME_REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/fleetops-schedule"],
        "detail": {},
    }
    event.update(overrides)
    return event


def typed_items() -> list[dict[str, Any]]:
    """Wire-format items exercising every DynamoDB type (as the low-level client takes them)."""
    return [
        {
            "pk": {"S": "FLEET#web"},
            "sk": {"S": "INSTANCE#us-east-1#i-0123456789abcdef0"},
            "entity": {"S": "instance"},
            "state": {"S": "running"},
            "version": {"N": "7"},
            "cpu": {"N": "0.1000000000000000055511151231257827"},
            "huge": {"N": "12345678901234567890123456789012345678"},
            "tiny": {"N": "-1.5E-120"},
            "tags": {"SS": ["a", "b", "c"]},
            "ports": {"NS": ["22", "443", "8080.5"]},
            "blob": {"B": b"\x00\x01\xfe\xff"},
            "blobs": {"BS": [b"\x00", b"\xff\x10"]},
            "nothing": {"NULL": True},
            "flag": {"BOOL": False},
            "nested": {
                "M": {
                    "list": {"L": [{"N": "1"}, {"S": "two"}, {"B": b"3"}, {"M": {}}]},
                    "empty": {"S": ""},
                    "set": {"SS": ["x"]},
                }
            },
        },
        {
            "pk": {"S": "ALARM#cpu-high"},
            "sk": {"S": "POLICY"},
            "entity": {"S": "scaling_policy"},
            "step": {"N": "2"},
            "cooldown_seconds": {"N": "300"},
        },
        {
            "pk": {"S": "ALARM#*"},
            "sk": {"S": "POLICY"},
            "entity": {"S": "scaling_policy"},
            "step": {"N": "1"},
        },
        {
            "pk": {"S": "ALARM#cpu-high"},
            "sk": {"S": "DECISION#2026-11-25T10:00:00Z"},
            "entity": {"S": "scaling_decision"},
            "expires_at": {"N": "1790000000"},
        },
        {"pk": {"S": "FLEETS"}, "sk": {"S": "FLEET#web"}, "entity": {"S": "fleet_index"}},
    ]


def fleet_items(count: int, fleet: str = "web", region: str = HOME_REGION) -> list[dict[str, Any]]:
    """`count` instance items (wire format) with a little of everything."""
    return [
        {
            "pk": {"S": f"FLEET#{fleet}"},
            "sk": {"S": f"INSTANCE#{region}#i-{index:017x}"},
            "entity": {"S": "instance"},
            "fleet": {"S": fleet},
            "region": {"S": region},
            "instance_id": {"S": f"i-{index:017x}"},
            "state": {"S": "running"},
            "az": {"S": f"{region}{'abc'[index % 3]}"},
            "version": {"N": str(index % 11)},
            "load": {"N": f"{index}.25"},
            "labels": {"SS": ["x", f"n{index % 5}"]},
        }
        for index in range(count)
    ]


def put_items(items: Iterable[dict[str, Any]], table: str = TABLE_NAME) -> int:
    client = ddb()
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        pending = [{"PutRequest": {"Item": item}} for item in batch]
        while pending:
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])

    for item in items:
        batch.append(item)
        written += 1
        if len(batch) == 25:
            flush()
            batch = []
    if batch:
        flush()
    return written


def raw_scan(table: str = TABLE_NAME) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item in wire format, by key (exact comparison of types and number text)."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in ddb().get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            items[(raw["pk"]["S"], raw["sk"]["S"])] = _normalise(raw)
    return items


def _normalise(value: Any) -> Any:
    """Sets come back in any order: sort them so equal items compare equal."""
    if isinstance(value, dict):
        out = {}
        for kind, inner in value.items():
            if kind in ("SS", "NS", "BS"):
                out[kind] = sorted(inner)
            else:
                out[kind] = _normalise(inner)
        return out
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def without_operational(items: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    return {key: item for key, item in items.items() if key[0] not in ("BACKUP", "CLEANUP")}


def wipe_table(table: str = TABLE_NAME) -> None:
    client = ddb()
    keys = list(raw_scan(table))
    for start in range(0, len(keys), 25):
        client.batch_write_item(
            RequestItems={
                table: [
                    {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}
                    for pk, sk in keys[start : start + 25]
                ]
            }
        )


def reload(module_name: str) -> ModuleType:
    """(Re)import a handler module so it reads the current environment at "cold start"."""
    module = importlib.import_module(module_name)
    return importlib.reload(module)


class FailNth:
    """Fail calls `nth` to `last` (1-based, `last=None`: every later call) with `code`."""

    def __init__(self, nth: int, code: str, last: int | None, status: int = 400) -> None:
        self.nth = nth
        self.last = last
        self.code = code
        self.status = status
        self.calls = 0
        self.injected = 0
        self.active = True

    def __call__(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.calls += 1
        if not self.active or self.calls < self.nth:
            return None
        if self.last is not None and self.calls > self.last:
            return None
        self.injected += 1
        return error_response(self.code, "injected failure", self.status)


def fail_nth(
    target: Any, service: str, operation: str, nth: int, code: str, *, last: int | None = -1
) -> FailNth:
    """Fail the `nth` call only (default), or calls `nth..last`, or (`last=None`) all from `nth`."""
    handler = FailNth(nth, code, nth if last == -1 else last)
    register(target, f"before-call.{service}.{operation}", handler)
    return handler


def capture(target: Any, service: str, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every call of an operation (as built by botocore)."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    register(target, f"provide-client-params.{service}.{operation}", record)
    return seen
