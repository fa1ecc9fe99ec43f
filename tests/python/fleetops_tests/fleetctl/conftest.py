"""Fixtures: a fake dist/, moto S3 with one bucket per environment, zero-wait retries."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetops.fleetctl.catalog import CATALOG
from fleetops.fleetctl.manifest import Manifest, build_manifest, write_manifest
from fleetops.fleetctl.s3 import Bucket, RetryPolicy

REGION = "eu-west-1"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PANTS_VERSION = "2.17.1"
BUCKETS = {
    "dev": "fleetops-artifacts-dev",
    "staging": "fleetops-artifacts-staging",
    "prod": "fleetops-artifacts-prod",
}
NO_WAIT = RetryPolicy(max_attempts=4, base_delay=0, max_delay=0)
REPO_ROOT = Path(__file__).resolve().parents[4]


def artifact_bytes(name: str, salt: str = "") -> bytes:
    """Deterministic, distinct, not-tiny content per artifact (a few KiB to ~100 KiB)."""
    seed = hashlib.sha256(f"{name}{salt}".encode()).digest()
    size = 4096 + seed[0] * 400
    blocks = (hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))
    return b"PK\x03\x04" + b"".join(blocks)[:size]


def make_dist(root: Path, salt: str = "") -> Path:
    dist = root / "dist"
    for spec in CATALOG:
        path = dist / spec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifact_bytes(spec.name, salt))
    return dist


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return make_dist(tmp_path / "build")


@pytest.fixture
def manifest(dist: Path) -> Manifest:
    m = build_manifest(dist, git_commit=COMMIT, pants_version=PANTS_VERSION)
    write_manifest(m, dist / "manifest.json")
    return m


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, one region, no real endpoint/profile, zero-wait retries, bucket vars."""
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("FLEETCTL_RETRY_BASE_DELAY", "0")
    for env, name in BUCKETS.items():
        monkeypatch.setenv(f"FLEETOPS_ARTIFACT_BUCKET_{env.upper()}", name)


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    """moto S3 with one artifact bucket per environment (standing for one account each)."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for name in BUCKETS.values():
            client.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        yield client


def env_client() -> Any:
    """A separate client per environment, as with credentials for separate accounts."""
    return boto3.session.Session(region_name=REGION).client("s3")


@pytest.fixture
def buckets(s3: Any) -> dict[str, Bucket]:
    return {
        env: Bucket(env_client(), name, env=env, retry=NO_WAIT) for env, name in BUCKETS.items()
    }


def keys(client: Any, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def body(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


class RecordingClient:
    """Wraps an S3 client: records every put_object key and can fail the Nth one (or each
    call of a method a few times with a transient error)."""

    def __init__(
        self,
        inner: Any,
        *,
        fail_put_at: int | None = None,
        error: BaseException | None = None,
        transient: dict[str, int] | None = None,
    ) -> None:
        self.inner = inner
        self.puts: list[str] = []
        self.calls: list[str] = []
        self.fail_put_at = fail_put_at
        self.error = error or RuntimeError("simulated crash mid-publish")
        self.transient = dict(transient or {})

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target) or name.startswith("_") or name == "meta":
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if self.transient.get(name, 0) > 0:
                self.transient[name] -= 1
                raise ClientError(
                    {
                        "Error": {
                            "Code": "SlowDown",
                            "Message": "Please reduce your request rate.",
                        },
                        "ResponseMetadata": {"HTTPStatusCode": 503},
                    },
                    name,
                )
            if name == "put_object":
                if self.fail_put_at is not None and len(self.puts) + 1 == self.fail_put_at:
                    raise self.error
                self.puts.append(kwargs["Key"])
            return target(*args, **kwargs)

        return call


def copy_dist(src: Path, dest_root: Path) -> Path:
    dest = dest_root / "dist"
    shutil.copytree(src, dest)
    return dest
