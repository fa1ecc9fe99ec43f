"""Publish, promote, verify and report releases in environments' artifact buckets.

Bucket layout (one bucket per environment, possibly in different accounts)::

    <name>/<sha256hex>.zip                 content-addressed artifacts (immutable by construction)
    releases/<release_id>/manifest.json    a release: the manifest, byte for byte as built
    releases/current.json                  what the environment runs: {release_id, manifest_key,
                                           git_commit}; always written LAST
    promotions/<utc>-<from>-to-<to>-<release_id>.json   who/what/when of each promotion

Ordering is what makes a half-finished run invisible: artifacts first (each verified), then the
release manifest, then the pointer. A run that dies midway leaves, at most, unreferenced
content-addressed objects that the next run finds and skips.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetops.fleetctl.errors import (
    ConfigError,
    FleetctlError,
    IntegrityError,
    ManifestError,
    ReleaseConflictError,
)
from fleetops.fleetctl.manifest import (
    Artifact,
    Digest,
    Manifest,
    check_dist_matches,
    is_valid_release_id,
    parse_manifest,
    release_manifest_key,
)
from fleetops.fleetctl.s3 import Bucket, ObjectInfo

POINTER_KEY = "releases/current.json"
PROMOTIONS_PREFIX = "promotions/"
ZIP_CONTENT_TYPE = "application/zip"
POINTER_FIELDS = frozenset({"release_id", "manifest_key", "git_commit"})

ProgressFn = Callable[[str], None]
Clock = Callable[[], datetime]


def _no_progress(_: str) -> None:
    return None


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- results ----------------------------------------------------------------------------------


@dataclass
class ArtifactRow:
    """What happened to one artifact. status: uploaded, replaced, copied, present (already
    there with the same checksum), verified (source bytes checked), ok, missing, mismatch,
    pending (not reached)."""

    name: str
    s3_key: str
    size: int
    sha256: str
    status: str = "pending"
    detail: str = ""

    @classmethod
    def of(cls, a: Artifact) -> ArtifactRow:
        return cls(name=a.name, s3_key=a.s3_key, size=a.size, sha256=a.sha256)


@dataclass
class EnvStatus:
    env: str
    bucket: str | None
    release_id: str | None = None
    git_commit: str | None = None
    manifest_key: str | None = None
    updated: str | None = None
    error: str | None = None


@dataclass
class Report:
    """Everything a command did, for the summary table and `--json`."""

    command: str
    ok: bool = False
    release_id: str | None = None
    git_commit: str | None = None
    env: str | None = None
    bucket: str | None = None
    from_env: str | None = None
    from_bucket: str | None = None
    to_env: str | None = None
    to_bucket: str | None = None
    manifest_key: str | None = None
    manifest_status: str | None = None
    pointer_status: str | None = None
    promotion_log_key: str | None = None
    previous_release_id: str | None = None
    artifacts: list[ArtifactRow] = field(default_factory=list)
    environments: list[EnvStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    manifest: Manifest | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "manifest" or value is None:
                continue
            if key in ("environments", "problems") and not value:
                continue
            if key == "artifacts" and not value and self.command == "status":
                continue
            doc[key] = value
        return doc


# --- pointer and release manifests -------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    release_id: str
    manifest_key: str
    git_commit: str

    @classmethod
    def of(cls, manifest: Manifest) -> Pointer:
        return cls(manifest.release_id, manifest.key, manifest.git_commit)

    def to_bytes(self) -> bytes:
        doc = {
            "release_id": self.release_id,
            "manifest_key": self.manifest_key,
            "git_commit": self.git_commit,
        }
        return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("ascii")


def read_pointer(bucket: Bucket) -> Pointer | None:
    """The environment's current release, or None when nothing was ever released there."""
    data = bucket.get_bytes(POINTER_KEY)
    if data is None:
        return None
    where = bucket.url(POINTER_KEY)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc})") from exc
    if (
        not isinstance(doc, dict)
        or set(doc) != POINTER_FIELDS
        or not all(isinstance(v, str) for v in doc.values())
    ):
        raise ManifestError(f"{where}: expected exactly {sorted(POINTER_FIELDS)} as strings")
    pointer = Pointer(doc["release_id"], doc["manifest_key"], doc["git_commit"])
    if not is_valid_release_id(pointer.release_id):
        raise ManifestError(f"{where}: release_id {pointer.release_id!r} is malformed")
    if pointer.manifest_key != release_manifest_key(pointer.release_id):
        raise ManifestError(f"{where}: manifest_key {pointer.manifest_key!r} does not match")
    return pointer


def load_release(bucket: Bucket, release_id: str) -> tuple[Manifest, bytes]:
    """A release's manifest (validated) and its exact stored bytes."""
    if not is_valid_release_id(release_id):
        raise ConfigError(f"release id {release_id!r} is malformed (expected <12 hex>-<12 hex>)")
    key = release_manifest_key(release_id)
    data = bucket.get_bytes(key)
    if data is None:
        raise IntegrityError(f"release {release_id} not found: {bucket.url(key)} does not exist")
    manifest = parse_manifest(data, source=bucket.url(key))
    if manifest.release_id != release_id:
        raise ManifestError(f"{bucket.url(key)} is for release {manifest.release_id}")
    return manifest, data


def _matches(info: ObjectInfo | None, a: Artifact) -> bool:
    return info is not None and info.size == a.size and info.checksum_sha256 == a.sha256_base64


def _confirm_stored(bucket: Bucket, a: Artifact) -> None:
    """After an upload: S3 must hold exactly the manifest's bytes (size and SHA-256)."""
    info = bucket.head(a.s3_key)
    if not _matches(info, a):
        got = "nothing" if info is None else f"{info.size} bytes, sha256 {info.checksum_sha256}"
        raise IntegrityError(
            f"{a.name}: after upload {bucket.url(a.s3_key)} holds {got}; "
            f"expected {a.size} bytes, sha256 {a.sha256_base64}"
        )


def _check_release_slot(bucket: Bucket, manifest: Manifest, data: bytes) -> bool:
    """True when the release manifest is already stored with these bytes; error if different."""
    existing = bucket.get_bytes(manifest.key)
    if existing is None:
        return False
    if existing != data:
        raise ReleaseConflictError(
            f"{bucket.url(manifest.key)} already exists with different content; "
            "releases are immutable (same release id must mean the same bytes)"
        )
    return True


def _put_if_changed(bucket: Bucket, key: str, data: bytes) -> str:
    if bucket.get_bytes(key) == data:
        return "unchanged"
    bucket.put_bytes(key, data)
    return "written"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


# --- publish -----------------------------------------------------------------------------------


def publish(
    dist: Path,
    manifest: Manifest,
    bucket: Bucket,
    *,
    report: Report | None = None,
    progress: ProgressFn = _no_progress,
) -> Report:
    """Upload dist/'s artifacts (checked against the manifest) and make them the env's release."""
    report = report or Report(command="publish")
    report.env, report.bucket = bucket.env, bucket.name
    report.release_id, report.git_commit = manifest.release_id, manifest.git_commit
    report.manifest_key, report.manifest = manifest.key, manifest
    report.artifacts = [ArtifactRow.of(a) for a in manifest.artifacts]

    checked = check_dist_matches(dist, manifest)
    data = manifest.to_bytes()
    manifest_stored = _check_release_slot(bucket, manifest, data)
    previous = read_pointer(bucket)
    report.previous_release_id = previous.release_id if previous else None

    total = len(checked)
    for i, ((a, path, _), row) in enumerate(zip(checked, report.artifacts, strict=True), 1):
        info = bucket.head(a.s3_key)
        if _matches(info, a):
            row.status = "present"
        else:
            bucket.put_file(
                a.s3_key, path, sha256_base64=a.sha256_base64, content_type=ZIP_CONTENT_TYPE
            )
            _confirm_stored(bucket, a)
            row.status = "uploaded" if info is None else "replaced"
            if info is not None:
                row.detail = "stored object had a different or no SHA-256 checksum"
        progress(
            f"[{i}/{total}] {a.name}: {row.status} ({human_size(a.size)}) {bucket.url(a.s3_key)}"
        )

    if manifest_stored:
        report.manifest_status = "unchanged"
    else:
        bucket.put_bytes(manifest.key, data)
        report.manifest_status = "written"
    progress(f"release manifest {report.manifest_status}: {bucket.url(manifest.key)}")
    report.pointer_status = _put_if_changed(bucket, POINTER_KEY, Pointer.of(manifest).to_bytes())
    progress(f"{bucket.env} now runs {manifest.release_id} ({report.pointer_status})")
    report.ok = True
    return report


# --- promote -----------------------------------------------------------------------------------


def promote(
    source: Bucket,
    dest: Bucket,
    *,
    release_id: str | None = None,
    who: str = "unknown",
    report: Report | None = None,
    progress: ProgressFn = _no_progress,
    now: Clock = utc_now,
    environ: Mapping[str, str] = os.environ,
    workdir: Path | None = None,
) -> Report:
    """Copy exactly one release's objects from `source` to `dest`, verified, then switch `dest`.

    Phase 1 reads every source object through SHA-256 into a local staging directory and writes
    nothing; any object missing or different refuses the whole promotion. Phase 2 uploads (with
    S3-side checksum checks), then the release manifest, the promotion log, and the pointer last.
    """
    report = report or Report(command="promote")
    report.from_env, report.from_bucket = source.env, source.name
    report.to_env, report.to_bucket = dest.env, dest.name
    if source.name == dest.name:
        raise ConfigError(f"source and destination are the same bucket ({source.name})")

    if release_id is None:
        pointer = read_pointer(source)
        if pointer is None:
            raise FleetctlError(f"{source.env} ({source.url()}) has no current release to promote")
        release_id = pointer.release_id
    manifest, data = load_release(source, release_id)
    report.release_id, report.git_commit = manifest.release_id, manifest.git_commit
    report.manifest_key, report.manifest = manifest.key, manifest
    report.artifacts = [ArtifactRow.of(a) for a in manifest.artifacts]

    manifest_stored = _check_release_slot(dest, manifest, data)
    previous = read_pointer(dest)
    report.previous_release_id = previous.release_id if previous else None

    total = len(manifest.artifacts)
    with tempfile.TemporaryDirectory(prefix="fleetctl-promote-", dir=workdir) as tmp:
        staged: list[Path] = []
        problems: list[str] = []
        for i, (a, row) in enumerate(zip(manifest.artifacts, report.artifacts, strict=True), 1):
            path = Path(tmp) / f"{a.name}-{a.sha256}.zip"
            with path.open("w+b") as sink:
                digest = source.download(a.s3_key, sink)
            row.status, row.detail = _judge(digest, a)
            if row.status != "verified":
                problems.append(f"{a.name}: {source.url(a.s3_key)} {row.detail}")
            staged.append(path)
            progress(f"[verify {i}/{total}] {a.name}: {row.status} {source.url(a.s3_key)}")
        if problems:
            report.problems = problems
            raise IntegrityError(
                f"refusing to promote {manifest.release_id} from {source.env} to {dest.env}: "
                + "; ".join(problems)
                + f"; nothing was written to {dest.url()}"
            )

        changed = False
        for i, (a, row, path) in enumerate(
            zip(manifest.artifacts, report.artifacts, staged, strict=True), 1
        ):
            if _matches(dest.head(a.s3_key), a):
                row.status = "present"
            else:
                dest.put_file(
                    a.s3_key, path, sha256_base64=a.sha256_base64, content_type=ZIP_CONTENT_TYPE
                )
                _confirm_stored(dest, a)
                row.status, changed = "copied", True
            progress(f"[copy {i}/{total}] {a.name}: {row.status} {dest.url(a.s3_key)}")

    if manifest_stored:
        report.manifest_status = "unchanged"
    else:
        dest.put_bytes(manifest.key, data)
        report.manifest_status, changed = "written", True
    progress(f"release manifest {report.manifest_status}: {dest.url(manifest.key)}")

    pointer_data = Pointer.of(manifest).to_bytes()
    if not changed and previous is not None and previous == Pointer.of(manifest):
        report.pointer_status = "unchanged"
        progress(f"{dest.env} already runs {manifest.release_id}: nothing to do")
        report.ok = True
        return report

    when = now().astimezone(UTC)
    record = {
        "release_id": manifest.release_id,
        "git_commit": manifest.git_commit,
        "manifest_key": manifest.key,
        "manifest_sha256": Digest.of_bytes(data).hex,
        "from": {"env": source.env, "bucket": source.name},
        "to": {"env": dest.env, "bucket": dest.name},
        "previous_release_id": report.previous_release_id,
        "who": who,
        "when": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "artifacts": [
            {"name": r.name, "s3_key": r.s3_key, "action": r.status} for r in report.artifacts
        ],
        "ci": _ci_context(environ),
    }
    log_key = (
        f"{PROMOTIONS_PREFIX}{when.strftime('%Y%m%dT%H%M%S.%fZ')}-"
        f"{source.env}-to-{dest.env}-{manifest.release_id}.json"
    )
    dest.put_bytes(log_key, (json.dumps(record, sort_keys=True, indent=2) + "\n").encode())
    report.promotion_log_key = log_key
    progress(f"promotion recorded: {dest.url(log_key)}")

    report.pointer_status = _put_if_changed(dest, POINTER_KEY, pointer_data)
    progress(f"{dest.env} now runs {manifest.release_id} ({report.pointer_status})")
    report.ok = True
    return report


def _judge(digest: Digest | None, a: Artifact) -> tuple[str, str]:
    if digest is None:
        return "missing", "is missing"
    if digest.hex != a.sha256 or digest.size != a.size:
        return "mismatch", (
            f"has sha256 {digest.hex} ({digest.size} bytes), "
            f"manifest says {a.sha256} ({a.size} bytes)"
        )
    return "verified", ""


def _ci_context(environ: Mapping[str, str]) -> dict[str, str]:
    names = {
        "GITHUB_REPOSITORY": "repository",
        "GITHUB_WORKFLOW": "workflow",
        "GITHUB_RUN_ID": "run_id",
        "GITHUB_RUN_ATTEMPT": "run_attempt",
        "GITHUB_SHA": "sha",
        "GITHUB_REF": "ref",
        "GITHUB_ACTOR": "actor",
        "GITHUB_JOB": "job",
    }
    ctx = {out: environ[var] for var, out in names.items() if environ.get(var)}
    if {"repository", "run_id"} <= ctx.keys():
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        ctx["run_url"] = f"{server}/{ctx['repository']}/actions/runs/{ctx['run_id']}"
    return ctx


# --- verify ------------------------------------------------------------------------------------


def verify(
    bucket: Bucket,
    *,
    release_id: str | None = None,
    deep: bool = True,
    expect: Manifest | None = None,
    report: Report | None = None,
    progress: ProgressFn = _no_progress,
) -> Report:
    """Re-check every object of the env's current (or given) release against its manifest.

    Stored size and SHA-256 checksum always; with `deep`, the bytes are read back and hashed.
    IntegrityError (after filling the report) when anything is missing or different.
    """
    report = report or Report(command="verify")
    report.env, report.bucket = bucket.env, bucket.name
    pointer = read_pointer(bucket)
    if release_id is None:
        if pointer is None:
            raise FleetctlError(f"{bucket.env} ({bucket.url()}) has no current release")
        release_id = pointer.release_id
    manifest, data = load_release(bucket, release_id)
    report.release_id, report.git_commit = manifest.release_id, manifest.git_commit
    report.manifest_key, report.manifest = manifest.key, manifest
    report.artifacts = [ArtifactRow.of(a) for a in manifest.artifacts]

    problems: list[str] = []
    if (
        pointer is not None
        and pointer.release_id == manifest.release_id
        and pointer != Pointer.of(manifest)
    ):
        problems.append(f"{bucket.url(POINTER_KEY)} disagrees with the release manifest")
    if expect is not None and expect.to_bytes() != data:
        problems.append(
            f"release manifest {bucket.url(manifest.key)} differs from the expected manifest "
            f"(expected release {expect.release_id})"
        )

    total = len(manifest.artifacts)
    for i, (a, row) in enumerate(zip(manifest.artifacts, report.artifacts, strict=True), 1):
        row.status, row.detail = _verify_one(bucket, a, deep=deep)
        if row.status != "ok":
            problems.append(f"{a.name}: {bucket.url(a.s3_key)} {row.detail}")
        progress(f"[{i}/{total}] {a.name}: {row.status} {bucket.url(a.s3_key)}")

    report.problems = problems
    if problems:
        raise IntegrityError(
            f"{bucket.env} release {manifest.release_id} failed verification: "
            + "; ".join(problems)
        )
    report.ok = True
    return report


def _verify_one(bucket: Bucket, a: Artifact, *, deep: bool) -> tuple[str, str]:
    info = bucket.head(a.s3_key)
    if info is None:
        return "missing", "is missing"
    if info.size != a.size:
        return "mismatch", f"is {info.size} bytes, manifest says {a.size}"
    if info.checksum_sha256 is not None and info.checksum_sha256 != a.sha256_base64:
        return "mismatch", (
            f"has stored sha256 {info.checksum_sha256}, manifest says {a.sha256_base64}"
        )
    if not deep:
        if info.checksum_sha256 is None:
            return "unverified", "has no stored SHA-256 checksum (re-run without --head-only)"
        return "ok", "stored checksum"
    status, detail = _judge(bucket.download(a.s3_key), a)
    if status == "verified":
        return "ok", "bytes re-read"
    return status, detail


# --- status ------------------------------------------------------------------------------------


def status(buckets: list[Bucket], *, report: Report | None = None) -> Report:
    """Which release each environment runs (an unreadable environment makes the report fail)."""
    report = report or Report(command="status")
    for bucket in buckets:
        row = EnvStatus(env=bucket.env, bucket=bucket.name)
        report.environments.append(row)
        try:
            pointer = read_pointer(bucket)
            if pointer is not None:
                row.release_id, row.git_commit = pointer.release_id, pointer.git_commit
                row.manifest_key = pointer.manifest_key
                info = bucket.head(POINTER_KEY)
                if info is not None and info.last_modified is not None:
                    row.updated = (
                        info.last_modified.astimezone(UTC).replace(microsecond=0).isoformat()
                    )
        except FleetctlError as exc:
            row.error = str(exc)
            report.problems.append(f"{bucket.env}: {exc}")
    report.ok = not report.problems
    if report.problems:
        report.error = "; ".join(report.problems)
    return report
