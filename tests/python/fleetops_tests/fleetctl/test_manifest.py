"""The artifact catalog and manifest: shape, determinism, validation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetops.fleetctl import catalog
from fleetops.fleetctl.errors import ConfigError, ManifestError
from fleetops.fleetctl.manifest import (
    Manifest,
    build_manifest,
    canonical_json,
    check_dist_matches,
    git_head,
    parse_manifest,
    read_pants_version,
    uncatalogued_zips,
)

from .conftest import COMMIT, PANTS_VERSION, REPO_ROOT, copy_dist, make_dist


def test_catalog_matches_the_conventions() -> None:
    specs = catalog.by_name()
    assert list(catalog.ARTIFACT_NAMES) == sorted(
        ["fleet-sync", "health-check", "backup", "restore", "cleanup", "workflow-tasks", "scaling"]
    )
    for name, spec in specs.items():
        assert spec.path == f"lambdas/{name}.zip"
        assert spec.architecture == "x86_64"
        if name == "scaling":
            assert (spec.runtime, spec.handler) == ("provided.al2023", "bootstrap")
        else:
            assert (spec.runtime, spec.handler) == ("python3.11", "lambda_function.handler")
    with pytest.raises(KeyError, match="known: backup"):
        catalog.get("nope")


def test_manifest_shape(dist: Path) -> None:
    m = build_manifest(dist, git_commit=COMMIT, pants_version=PANTS_VERSION)
    text = m.to_bytes().decode()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2) + "\n"  # sorted keys, 2 spaces
    assert set(doc) == {"format_version", "release_id", "git_commit", "pants_version", "artifacts"}
    assert doc["format_version"] == 1
    assert doc["git_commit"] == COMMIT
    assert doc["pants_version"] == "2.17.1"
    assert [a["name"] for a in doc["artifacts"]] == sorted(catalog.ARTIFACT_NAMES)
    for a in doc["artifacts"]:
        data = (dist / a["path"]).read_bytes()
        raw = hashlib.sha256(data).digest()
        spec = catalog.get(a["name"])
        assert a == {
            "name": spec.name,
            "path": spec.path,
            "s3_key": f"{spec.name}/{raw.hex()}.zip",
            "size": len(data),
            "sha256": raw.hex(),
            "sha256_base64": base64.b64encode(raw).decode(),
            "runtime": spec.runtime,
            "architecture": spec.architecture,
            "handler": spec.handler,
        }
    artifacts_hash = hashlib.sha256(canonical_json(doc["artifacts"])).hexdigest()
    assert doc["release_id"] == f"{COMMIT[:12]}-{artifacts_hash[:12]}"
    assert (
        canonical_json(doc["artifacts"])
        == json.dumps(doc["artifacts"], sort_keys=True, separators=(",", ":")).encode()
    )


def test_manifest_is_deterministic(dist: Path, tmp_path: Path) -> None:
    """Same sources, same bytes: another directory, other mtimes, another build of the same
    content, no timestamps or paths leaking in."""
    first = build_manifest(dist, git_commit=COMMIT, pants_version=PANTS_VERSION).to_bytes()
    other = copy_dist(dist, tmp_path / "elsewhere")
    for path in other.rglob("*.zip"):
        os.utime(path, (1_000_000, 1_000_000))
    rebuilt = make_dist(tmp_path / "rebuild")
    for d in (dist, other, rebuilt):
        assert build_manifest(d, git_commit=COMMIT, pants_version=PANTS_VERSION).to_bytes() == first
    assert str(tmp_path) not in first.decode()


def test_release_id_tracks_content_and_commit(dist: Path, tmp_path: Path) -> None:
    base = build_manifest(dist, git_commit=COMMIT, pants_version=PANTS_VERSION)
    changed = make_dist(tmp_path / "changed", salt="v2")
    other_bytes = build_manifest(changed, git_commit=COMMIT, pants_version=PANTS_VERSION)
    other_commit = build_manifest(dist, git_commit="f" * 40, pants_version=PANTS_VERSION)
    assert other_bytes.release_id.split("-")[0] == base.release_id.split("-")[0]
    assert other_bytes.release_id != base.release_id
    assert other_commit.release_id.split("-")[1] == base.release_id.split("-")[1]
    assert other_commit.release_id.startswith("ffffffffffff-")


def test_missing_catalog_artifact_is_named(dist: Path) -> None:
    (dist / "lambdas" / "scaling.zip").unlink()
    (dist / "lambdas" / "backup.zip").unlink()
    with pytest.raises(ManifestError, match=r"backup .*scaling") as exc:
        build_manifest(dist, git_commit=COMMIT, pants_version=PANTS_VERSION)
    assert "fleet-sync" not in str(exc.value)


def test_uncatalogued_zip_is_reported(dist: Path) -> None:
    (dist / "lambdas" / "stray.zip").write_bytes(b"x")
    assert uncatalogued_zips(dist) == ["lambdas/stray.zip"]


def test_roundtrip_and_strict_parsing(manifest: Manifest) -> None:
    assert parse_manifest(manifest.to_bytes()) == manifest
    doc = json.loads(manifest.to_bytes())

    def bad(mutate: Callable[[dict[str, Any]], object], match: str) -> None:
        d = json.loads(manifest.to_bytes())
        mutate(d)
        with pytest.raises(ManifestError, match=match):
            parse_manifest(json.dumps(d))

    bad(lambda d: d["artifacts"][0].update(sha256="0" * 64), "sha256_base64 does not encode")
    bad(lambda d: d.update(release_id=doc["release_id"][:-1] + "0"), "does not match the content")
    bad(lambda d: d.update(extra=1), "unknown extra")
    bad(lambda d: d["artifacts"][0].pop("handler"), "missing handler")
    bad(lambda d: d["artifacts"][0].update(path="../etc/passwd"), "must be relative")
    bad(lambda d: d.update(git_commit="abc"), "40 lowercase hex")
    bad(lambda d: d["artifacts"].reverse(), "not sorted")
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(b"{nope")


def test_tampered_sha_with_recomputed_base64_still_changes_release_id(manifest: Manifest) -> None:
    d = json.loads(manifest.to_bytes())
    raw = hashlib.sha256(b"evil").digest()
    art = d["artifacts"][0]
    art.update(
        sha256=raw.hex(),
        sha256_base64=base64.b64encode(raw).decode(),
        s3_key=f"{art['name']}/{raw.hex()}.zip",
    )
    with pytest.raises(ManifestError, match="release_id"):
        parse_manifest(json.dumps(d))


def test_dist_must_match_manifest(dist: Path, manifest: Manifest) -> None:
    assert len(check_dist_matches(dist, manifest)) == len(catalog.CATALOG)
    (dist / "lambdas" / "cleanup.zip").write_bytes(b"rebuilt differently")
    with pytest.raises(ManifestError, match="cleanup"):
        check_dist_matches(dist, manifest)


def test_pants_version_comes_from_the_repo_pants_toml(tmp_path: Path) -> None:
    assert read_pants_version(REPO_ROOT / "pants.toml") == "2.17.1"
    (tmp_path / "pants.toml").write_text("[GLOBAL]\nbackend_packages = []\n")
    with pytest.raises(ConfigError, match="pants_version"):
        read_pants_version(tmp_path / "pants.toml")


def test_git_head(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not on PATH")
    with pytest.raises(ConfigError, match="--git-commit"):
        git_head(tmp_path)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    subprocess.run(
        ["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"],
        check=True,
        env=env,
    )
    expected = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert git_head(tmp_path) == expected
