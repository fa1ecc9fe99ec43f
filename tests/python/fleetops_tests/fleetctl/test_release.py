"""publish / promote / verify / status against moto S3, one bucket per environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fleetops.fleetctl import release
from fleetops.fleetctl.errors import (
    ConfigError,
    FleetctlError,
    IntegrityError,
    ReleaseConflictError,
)
from fleetops.fleetctl.manifest import Manifest, build_manifest, write_manifest
from fleetops.fleetctl.release import POINTER_KEY, Pointer
from fleetops.fleetctl.s3 import Bucket, RetryPolicy

from .conftest import (
    BUCKETS,
    COMMIT,
    NO_WAIT,
    PANTS_VERSION,
    RecordingClient,
    body,
    env_client,
    keys,
    make_dist,
)

DEV, STAGING, PROD = BUCKETS["dev"], BUCKETS["staging"], BUCKETS["prod"]
FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _recording(env: str, **kwargs: Any) -> tuple[Bucket, RecordingClient]:
    client = RecordingClient(env_client(), **kwargs)
    return Bucket(client, BUCKETS[env], env=env, retry=NO_WAIT), client


def _artifact_keys(manifest: Manifest) -> list[str]:
    return [a.s3_key for a in manifest.artifacts]


def _promote(buckets: dict[str, Bucket], src: str, dst: str, **kwargs: Any) -> release.Report:
    return release.promote(
        buckets[src], buckets[dst], who="tester", now=lambda: FIXED_NOW, environ={}, **kwargs
    )


# --- publish -----------------------------------------------------------------------------------


def test_publish_uploads_content_addressed_with_sha256_checksums(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    dev, rec = _recording("dev")
    report = release.publish(dist, manifest, dev)

    assert report.ok
    assert [r.status for r in report.artifacts] == ["uploaded"] * len(manifest.artifacts)
    assert (report.manifest_status, report.pointer_status) == ("written", "written")
    expected = sorted([*_artifact_keys(manifest), manifest.key, POINTER_KEY])
    assert keys(s3, DEV) == expected
    for a in manifest.artifacts:
        assert a.s3_key == f"{a.name}/{a.sha256}.zip"
        assert body(s3, DEV, a.s3_key) == (dist / a.path).read_bytes()
        head = s3.head_object(Bucket=DEV, Key=a.s3_key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == a.sha256_base64
    assert (
        body(s3, DEV, manifest.key) == manifest.to_bytes() == (dist / "manifest.json").read_bytes()
    )
    assert json.loads(body(s3, DEV, POINTER_KEY)) == {
        "release_id": manifest.release_id,
        "manifest_key": f"releases/{manifest.release_id}/manifest.json",
        "git_commit": COMMIT,
    }
    # Artifacts first, the release manifest after them, the pointer last.
    assert rec.puts[-2:] == [manifest.key, POINTER_KEY]
    assert sorted(rec.puts[:-2]) == sorted(_artifact_keys(manifest))


def test_republish_is_a_noop(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    before = {k: s3.head_object(Bucket=DEV, Key=k)["LastModified"] for k in keys(s3, DEV)}

    dev, rec = _recording("dev")
    report = release.publish(dist, manifest, dev)

    assert report.ok
    assert rec.puts == []
    assert {r.status for r in report.artifacts} == {"present"}
    assert (report.manifest_status, report.pointer_status) == ("unchanged", "unchanged")
    after = {k: s3.head_object(Bucket=DEV, Key=k)["LastModified"] for k in keys(s3, DEV)}
    assert after == before


def test_publish_of_a_new_build_only_uploads_what_changed(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, tmp_path: Path
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    new_dist = make_dist(tmp_path / "next")
    (new_dist / "lambdas" / "fleet-sync.zip").write_bytes(b"PK new fleet-sync build")
    new = build_manifest(new_dist, git_commit="a" * 40, pants_version=PANTS_VERSION)

    dev, rec = _recording("dev")
    report = release.publish(new_dist, new, dev)

    statuses = {r.name: r.status for r in report.artifacts}
    assert statuses.pop("fleet-sync") == "uploaded"
    assert set(statuses.values()) == {"present"}
    assert rec.puts == [new.artifact("fleet-sync").s3_key, new.key, POINTER_KEY]
    assert report.previous_release_id == manifest.release_id
    assert json.loads(body(s3, DEV, POINTER_KEY))["release_id"] == new.release_id
    # The old release stays intact and promotable.
    assert body(s3, DEV, manifest.key) == manifest.to_bytes()


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("simulated crash mid-publish"),
        ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "PutObject"),
    ],
    ids=["crash", "access-denied"],
)
def test_interrupted_publish_leaves_no_visible_release(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, error: BaseException
) -> None:
    dev, _ = _recording("dev", fail_put_at=4, error=error)
    with pytest.raises((RuntimeError, FleetctlError)):
        release.publish(dist, manifest, dev)

    stored = keys(s3, DEV)
    assert len(stored) == 3
    assert not [k for k in stored if k.startswith("releases/")]
    assert release.read_pointer(buckets["dev"]) is None
    status = release.status([buckets["dev"]])
    assert status.environments[0].release_id is None

    # The next run finishes the job, skipping what the first one uploaded.
    report = release.publish(dist, manifest, buckets["dev"])
    assert [r.status for r in report.artifacts].count("present") == 3
    assert release.read_pointer(buckets["dev"]) == Pointer.of(manifest)


def test_publish_retries_throttling_with_backoff(s3: Any, dist: Path, manifest: Manifest) -> None:
    dev, rec = _recording("dev", transient={"put_object": 2, "head_object": 1, "get_object": 1})
    report = release.publish(dist, manifest, dev)
    assert report.ok
    assert rec.calls.count("put_object") == len(manifest.artifacts) + 2 + 2


def test_retries_give_up_after_max_attempts(s3: Any, dist: Path, manifest: Manifest) -> None:
    client = RecordingClient(env_client(), transient={"get_object": 10})
    dev = Bucket(client, DEV, env="dev", retry=RetryPolicy(max_attempts=3, base_delay=0))
    with pytest.raises(FleetctlError, match="SlowDown"):
        release.publish(dist, manifest, dev)
    assert client.calls.count("get_object") == 3
    assert keys(s3, DEV) == []


def test_publish_refuses_a_dist_that_does_not_match_its_manifest(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    (dist / "lambdas" / "backup.zip").write_bytes(b"rebuilt after the manifest")
    with pytest.raises(FleetctlError, match="backup"):
        release.publish(dist, manifest, buckets["dev"])
    assert keys(s3, DEV) == []


def test_publish_replaces_a_corrupt_content_addressed_object(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    victim = manifest.artifact("restore")
    s3.put_object(Bucket=DEV, Key=victim.s3_key, Body=b"garbage")
    report = release.publish(dist, manifest, buckets["dev"])
    row = next(r for r in report.artifacts if r.name == "restore")
    assert row.status == "replaced"
    assert body(s3, DEV, victim.s3_key) == (dist / victim.path).read_bytes()


def test_release_ids_are_immutable(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    s3.put_object(Bucket=DEV, Key=manifest.key, Body=b'{"something": "else"}\n')
    with pytest.raises(ReleaseConflictError, match="immutable"):
        release.publish(dist, manifest, buckets["dev"])
    assert keys(s3, DEV) == [manifest.key]


# --- promote -----------------------------------------------------------------------------------


def test_publish_then_promote_gives_identical_bytes_and_keys(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    staging, rec = _recording("staging")
    report = release.promote(
        buckets["dev"],
        staging,
        who="arn:aws:sts::1:assumed-role/ci",
        now=lambda: FIXED_NOW,
        environ={"GITHUB_REPOSITORY": "org/fleet-ops", "GITHUB_RUN_ID": "42"},
    )

    assert report.ok
    assert report.release_id == manifest.release_id
    assert {r.status for r in report.artifacts} == {"copied"}
    log_key = f"promotions/20260102T030405.678901Z-dev-to-staging-{manifest.release_id}.json"
    assert report.promotion_log_key == log_key
    assert rec.puts[-3:] == [manifest.key, log_key, POINTER_KEY]  # pointer last

    staging_keys = [k for k in keys(s3, STAGING) if not k.startswith("promotions/")]
    assert staging_keys == keys(s3, DEV)
    for key in keys(s3, DEV):
        assert body(s3, STAGING, key) == body(s3, DEV, key)
    for a in manifest.artifacts:
        head = s3.head_object(Bucket=STAGING, Key=a.s3_key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == a.sha256_base64

    log = json.loads(body(s3, STAGING, log_key))
    assert log["release_id"] == manifest.release_id
    assert log["from"] == {"env": "dev", "bucket": DEV}
    assert log["to"] == {"env": "staging", "bucket": STAGING}
    assert log["who"] == "arn:aws:sts::1:assumed-role/ci"
    assert log["when"] == "2026-01-02T03:04:05.678901Z"
    assert log["previous_release_id"] is None
    assert log["ci"]["run_url"] == "https://github.com/org/fleet-ops/actions/runs/42"

    # ...and on to prod, the same bytes again.
    _promote(buckets, "staging", "prod")
    for a in manifest.artifacts:
        assert body(s3, PROD, a.s3_key) == (dist / a.path).read_bytes()
    assert body(s3, PROD, manifest.key) == manifest.to_bytes()


def test_promote_again_is_a_noop(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    _promote(buckets, "dev", "staging")
    staging, rec = _recording("staging")
    report = release.promote(buckets["dev"], staging, who="t", now=lambda: FIXED_NOW, environ={})
    assert report.ok
    assert rec.puts == []
    assert {r.status for r in report.artifacts} == {"present"}
    assert report.pointer_status == "unchanged"
    assert report.promotion_log_key is None


@pytest.mark.parametrize("tamper", ["changed", "deleted"])
def test_tampered_or_missing_source_object_refuses_and_writes_nothing(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, tamper: str
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    victim = manifest.artifact("health-check")
    if tamper == "changed":
        s3.put_object(Bucket=DEV, Key=victim.s3_key, Body=b"PK evil bytes")
    else:
        s3.delete_object(Bucket=DEV, Key=victim.s3_key)

    staging, rec = _recording("staging")
    with pytest.raises(IntegrityError) as exc:
        release.promote(buckets["dev"], staging, who="t", now=lambda: FIXED_NOW, environ={})

    message = str(exc.value)
    assert "refusing to promote" in message and "health-check" in message
    assert "nothing was written" in message
    assert ("missing" if tamper == "deleted" else "has sha256") in message
    assert rec.puts == []
    assert keys(s3, STAGING) == []


def test_promote_refuses_when_a_later_object_is_bad_even_if_earlier_ones_are_fine(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    """Verification of every source object happens before the first write."""
    release.publish(dist, manifest, buckets["dev"])
    last = manifest.artifacts[-1]
    s3.put_object(Bucket=DEV, Key=last.s3_key, Body=b"PK evil")
    report = release.Report(command="promote")
    with pytest.raises(IntegrityError):
        _promote(buckets, "dev", "staging", report=report)
    assert [r.status for r in report.artifacts] == ["verified"] * (len(manifest.artifacts) - 1) + [
        "mismatch"
    ]
    assert keys(s3, STAGING) == []


def test_promote_a_specific_release_and_roll_back(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, tmp_path: Path
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    _promote(buckets, "dev", "staging")
    new_dist = make_dist(tmp_path / "next", salt="v2")
    new = build_manifest(new_dist, git_commit="b" * 40, pants_version=PANTS_VERSION)
    release.publish(new_dist, new, buckets["dev"])

    report = _promote(buckets, "dev", "staging")
    assert report.release_id == new.release_id
    assert report.previous_release_id == manifest.release_id

    rollback = _promote(buckets, "dev", "staging", release_id=manifest.release_id)
    assert rollback.ok
    assert {r.status for r in rollback.artifacts} == {"present"}
    assert rollback.promotion_log_key is not None
    assert release.read_pointer(buckets["staging"]) == Pointer.of(manifest)


def test_promote_errors(s3: Any, buckets: dict[str, Bucket]) -> None:
    with pytest.raises(FleetctlError, match="no current release"):
        _promote(buckets, "dev", "staging")
    with pytest.raises(IntegrityError, match="not found"):
        _promote(buckets, "dev", "staging", release_id="0123456789ab-0123456789ab")
    with pytest.raises(ConfigError, match="malformed"):
        _promote(buckets, "dev", "staging", release_id="latest")
    with pytest.raises(ConfigError, match="same bucket"):
        _promote(buckets, "dev", "dev")
    assert keys(s3, STAGING) == []


def test_interrupted_promote_leaves_the_target_on_its_previous_release(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, tmp_path: Path
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    _promote(buckets, "dev", "staging")
    new_dist = make_dist(tmp_path / "next", salt="v3")
    new = build_manifest(new_dist, git_commit="c" * 40, pants_version=PANTS_VERSION)
    release.publish(new_dist, new, buckets["dev"])

    staging, _ = _recording("staging", fail_put_at=3)
    with pytest.raises(RuntimeError):
        release.promote(buckets["dev"], staging, who="t", now=lambda: FIXED_NOW, environ={})
    assert release.read_pointer(buckets["staging"]) == Pointer.of(manifest)
    assert new.key not in keys(s3, STAGING)
    assert release.verify(buckets["staging"]).ok


# --- verify and status -------------------------------------------------------------------------


def test_verify_passes_then_detects_a_changed_object(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    _promote(buckets, "dev", "staging")
    _promote(buckets, "staging", "prod")
    report = release.verify(buckets["prod"])
    assert report.ok and {r.status for r in report.artifacts} == {"ok"}

    victim = manifest.artifact("scaling")
    s3.put_object(Bucket=PROD, Key=victim.s3_key, Body=b"PK swapped bootstrap")
    for deep in (True, False):
        report = release.Report(command="verify")
        with pytest.raises(IntegrityError, match="scaling"):
            release.verify(buckets["prod"], deep=deep, report=report)
        assert {r.name: r.status for r in report.artifacts}["scaling"] == "mismatch"
        assert [r.status for r in report.artifacts].count("ok") == len(manifest.artifacts) - 1


def test_verify_deep_catches_same_size_change_with_a_forged_checksum(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    """An object rewritten with the size and checksum header the manifest expects (which real S3
    would reject; moto stores it) is still caught by reading the bytes back."""
    release.publish(dist, manifest, buckets["dev"])
    victim = manifest.artifact("backup")
    forged = bytes(victim.size)
    s3.put_object(
        Bucket=DEV,
        Key=victim.s3_key,
        Body=forged,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=victim.sha256_base64,
    )
    head = s3.head_object(Bucket=DEV, Key=victim.s3_key, ChecksumMode="ENABLED")
    if head.get("ChecksumSHA256") != victim.sha256_base64:
        pytest.skip("this S3 rejected or recomputed the forged checksum (as real S3 does)")
    assert release.verify(buckets["dev"], deep=False).ok
    with pytest.raises(IntegrityError, match="backup"):
        release.verify(buckets["dev"], deep=True)


def test_verify_detects_missing_object_and_unexpected_manifest(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, tmp_path: Path
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    other = build_manifest(
        make_dist(tmp_path / "o", "x"), git_commit=COMMIT, pants_version="2.17.1"
    )
    with pytest.raises(IntegrityError, match="differs from the expected manifest"):
        release.verify(buckets["dev"], expect=other)
    assert release.verify(buckets["dev"], expect=manifest).ok

    s3.delete_object(Bucket=DEV, Key=manifest.artifact("cleanup").s3_key)
    with pytest.raises(IntegrityError, match=r"cleanup: .* is missing"):
        release.verify(buckets["dev"])
    with pytest.raises(FleetctlError, match="no current release"):
        release.verify(buckets["staging"])


def test_status_reports_each_environment(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest
) -> None:
    release.publish(dist, manifest, buckets["dev"])
    _promote(buckets, "dev", "staging")
    broken = Bucket(env_client(), "no-such-bucket-here", env="qa", retry=NO_WAIT)

    report = release.status([buckets["dev"], buckets["staging"], buckets["prod"], broken])

    rows = {e.env: e for e in report.environments}
    assert rows["dev"].release_id == rows["staging"].release_id == manifest.release_id
    assert rows["dev"].git_commit == COMMIT
    assert rows["dev"].updated and rows["dev"].updated.endswith("+00:00")
    assert rows["prod"].release_id is None and rows["prod"].error is None
    assert rows["qa"].error and "does not exist" in rows["qa"].error
    assert not report.ok


def test_manifest_written_by_write_manifest_is_what_publish_stores(
    s3: Any, buckets: dict[str, Bucket], dist: Path, manifest: Manifest, tmp_path: Path
) -> None:
    out = tmp_path / "copy.json"
    assert write_manifest(manifest, out)
    assert not write_manifest(manifest, out)  # unchanged bytes: not rewritten
    release.publish(dist, manifest, buckets["dev"])
    assert body(s3, DEV, manifest.key) == out.read_bytes()
