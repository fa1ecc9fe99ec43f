"""The fleetctl command line end to end: main(argv) against moto S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetops.fleetctl.cli import main
from fleetops.fleetctl.manifest import parse_manifest

from .conftest import BUCKETS, COMMIT, REPO_ROOT, body, keys

DEV, STAGING, PROD = BUCKETS["dev"], BUCKETS["staging"], BUCKETS["prod"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)  # exactly one JSON document on stdout


@pytest.fixture
def built(dist: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = a build root (pants.toml + dist/) and `fleetctl manifest` run in it."""
    root = dist.parent
    (root / "pants.toml").write_bytes((REPO_ROOT / "pants.toml").read_bytes())
    monkeypatch.chdir(root)
    assert main(["manifest", "--dist", "dist", "--git-commit", COMMIT, "-q"]) == 0
    return root


def test_manifest_command(
    built: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    first = (built / "dist" / "manifest.json").read_bytes()
    manifest = parse_manifest(first)
    assert manifest.pants_version == "2.17.1"
    assert manifest.git_commit == COMMIT

    code, out, _ = run(capsys, "manifest", "--git-commit", COMMIT)
    assert code == 0
    assert "fleet-sync" in out and "lambda_function.handler" in out and "provided.al2023" in out
    assert f"release {manifest.release_id}" in out and "unchanged" in out
    assert (built / "dist" / "manifest.json").read_bytes() == first

    code, doc = run_json(capsys, "manifest", "--check", "--git-commit", COMMIT)
    assert (code, doc["status"], doc["release_id"]) == (0, "identical", manifest.release_id)
    code, doc = run_json(capsys, "manifest", "--check", "--git-commit", "e" * 40)
    assert (code, doc["ok"], doc["status"]) == (1, False, "different")

    monkeypatch.chdir(built.parent)  # no pants.toml at or above
    code, _, err = run(capsys, "manifest", "--dist", str(built / "dist"), "--git-commit", COMMIT)
    assert code == 1 and "pants.toml" in err
    monkeypatch.chdir(built)

    (built / "dist" / "lambdas" / "health-check.zip").unlink()
    code, out, err = run(capsys, "manifest", "--git-commit", COMMIT)
    assert code == 1
    assert "health-check" in err and "missing" in err
    assert (built / "dist" / "manifest.json").read_bytes() == first


def test_publish_promote_verify_status(
    built: Path, s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = parse_manifest((built / "dist" / "manifest.json").read_bytes())

    code, out, err = run(capsys, "publish", "--env", "dev")
    assert code == 0, err
    assert f"publish release {manifest.release_id}" in out
    assert "ARTIFACT" in out and "uploaded" in out and "OK: 7 artifacts (7 uploaded)" in out
    assert "[1/7] backup: uploaded" in err  # progress on stderr

    code, doc = run_json(capsys, "publish", "--env", "dev")
    assert code == 0 and doc["ok"]
    assert {a["status"] for a in doc["artifacts"]} == {"present"}
    assert (doc["manifest_status"], doc["pointer_status"]) == ("unchanged", "unchanged")

    out_manifest = tmp_path / "promoted.json"
    code, doc = run_json(
        capsys, "promote", "--from", "dev", "--to", "staging", "--manifest-out", str(out_manifest)
    )
    assert code == 0, doc
    assert doc["release_id"] == manifest.release_id
    assert doc["promotion_log_key"].startswith("promotions/")
    assert out_manifest.read_bytes() == manifest.to_bytes()
    log = json.loads(body(s3, STAGING, doc["promotion_log_key"]))
    assert log["who"].startswith("arn:aws:")  # moto's STS caller identity

    code, out, err = run(
        capsys, "promote", "--from", "staging", "--to", "prod", "--release", manifest.release_id
    )
    assert code == 0, err
    assert "copied" in out and "current release:  written" in out

    code, doc = run_json(capsys, "verify", "--env", "prod")
    assert code == 0 and doc["ok"]
    assert {a["status"] for a in doc["artifacts"]} == {"ok"}
    code, doc = run_json(
        capsys, "verify", "--env", "prod", "--expect-manifest", str(built / "dist/manifest.json")
    )
    assert code == 0

    code, out, _ = run(capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ENV", "BUCKET", "RELEASE", "COMMIT", "UPDATED"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["dev", DEV, manifest.release_id],
        ["staging", STAGING, manifest.release_id],
        ["prod", PROD, manifest.release_id],
    ]
    code, doc = run_json(capsys, "status", "--env", "prod")
    assert [e["release_id"] for e in doc["environments"]] == [manifest.release_id]

    # A changed object in prod: verify fails, with a table and a non-zero exit.
    victim = manifest.artifact("workflow-tasks")
    s3.put_object(Bucket=PROD, Key=victim.s3_key, Body=b"PK changed")
    code, out, err = run(capsys, "verify", "--env", "prod")
    assert code == 1
    assert "mismatch" in out and "FAILED" in out
    assert "workflow-tasks" in err and "failed verification" in err


def test_promote_refusal_exits_non_zero_and_writes_nothing(
    built: Path, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = parse_manifest((built / "dist" / "manifest.json").read_bytes())
    assert main(["publish", "--env", "dev", "-q"]) == 0
    s3.put_object(Bucket=DEV, Key=manifest.artifact("fleet-sync").s3_key, Body=b"PK tampered")
    capsys.readouterr()

    code, doc = run_json(capsys, "promote", "--from", "dev", "--to", "staging", "-q")
    assert code == 1
    assert doc["ok"] is False
    assert "refusing to promote" in doc["error"] and "fleet-sync" in doc["error"]
    assert {a["name"]: a["status"] for a in doc["artifacts"]}["fleet-sync"] == "mismatch"
    assert keys(s3, STAGING) == []


def test_configuration_errors(
    built: Path, s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEETOPS_ARTIFACT_BUCKET_STAGING")
    code, _, err = run(capsys, "publish", "--env", "staging")
    assert code == 1
    assert "FLEETOPS_ARTIFACT_BUCKET_STAGING" in err and "--bucket" in err
    code, _, err = run(capsys, "publish", "--env", "staging", "--bucket", STAGING)
    assert code == 0, err

    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "dev")
    assert code == 1 and "same environment" in err

    code, doc = run_json(capsys, "status", "--bucket", "qa=no-such-bucket-for-qa")
    assert code == 1
    rows = {e["env"]: e for e in doc["environments"]}
    assert list(rows) == ["dev", "prod", "qa"]  # envs with a bucket configured, then --bucket's
    assert rows["dev"]["bucket"] == DEV
    assert "does not exist" in rows["qa"]["error"]

    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    code, _, err = run(capsys, "status", "--env", "dev")
    assert code == 1 and "AWS_REGION" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["publish"]) == 2  # --env is required
    assert main(["promote", "--from", "Dev!", "--to", "staging"]) == 2
    assert main(["--help"]) == 0
    assert "publish" in capsys.readouterr().out


def test_module_entry_point_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-m", "fleetops.fleetctl", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("manifest", "publish", "promote", "verify", "status"):
        assert command in proc.stdout
