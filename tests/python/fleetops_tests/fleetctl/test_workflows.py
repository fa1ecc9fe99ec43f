"""The GitHub Actions workflows: schema-valid, pinned, least-privilege, build once.

Validated offline with check-jsonschema's vendored GitHub workflow schema (any network access is
pointed at a dead local port), plus structural rules the schema cannot express. actionlint (Go
module `github.com/rhysd/actionlint/cmd/actionlint`) runs too when it is on PATH or named by
$FLEETOPS_ACTIONLINT.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from .conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
RELEASE = WORKFLOWS / "release.yml"

# Commit SHAs checked against public workflows pinned the same way (`owner/repo@sha # vX.Y.Z`).
VERIFIED_PINS = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/setup-go": ("d35c59abb061a4a6fb18e82ac0862c26744d6ab5", "v5.5.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "aws-actions/configure-aws-credentials": (
        "e3dd6a429d7300a6a4c196c26e071d42e0343502",
        "v4.0.2",
    ),
    "hashicorp/setup-terraform": ("b9cd54a3c349d3f38e8881555d616ced269862dd", "v3.1.2"),
}
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^\s+#\s*(?P<version>v\d+\.\d+\.\d+)\s*$")
DEPLOY_ENVS = ("dev", "staging", "prod")


def load(path: Path) -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load(path.read_text())
    assert isinstance(doc, dict), path
    return doc


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(job))


def uses(job: dict[str, Any]) -> list[str]:
    return [str(s["uses"]).split("@")[0] for s in steps(job) if "uses" in s]


def test_the_two_workflows_exist() -> None:
    assert {"ci.yml", "release.yml"} <= {p.name for p in workflow_files()}


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against its vendored GitHub workflow schema, with the network pointed at
    a dead local port: the check must not need it."""
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is not installed (test requirement check-jsonschema==0.39.0)")
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""}
    env |= {"http_proxy": dead, "https_proxy": dead, "no_proxy": ""}
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run(
        [*argv, *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_schema_valid_offline() -> None:
    proc = check_jsonschema(*workflow_files())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validation done" in proc.stdout


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    step: []\n")
    proc = check_jsonschema(broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_every_action_is_pinned_by_verified_commit_sha() -> None:
    seen: set[str] = set()
    for path in workflow_files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = USES_LINE.match(line)
            if not m:
                continue
            where = f"{path.name}:{lineno}"
            pin = PINNED.match(m["ref"])
            assert pin, f"{where}: {m['ref']} is not pinned to a 40-hex commit SHA"
            comment = VERSION_COMMENT.match(m["rest"])
            assert comment, f"{where}: pinned action needs a `# vX.Y.Z` comment"
            action = pin["action"]
            assert action in VERIFIED_PINS, f"{where}: {action} has no verified pin in this test"
            assert (pin["sha"], comment["version"]) == VERIFIED_PINS[action], where
            seen.add(action)
    assert seen == set(VERIFIED_PINS)  # every verified pin is used (no stale entries)


def test_no_long_lived_aws_keys_anywhere() -> None:
    forbidden = re.compile(
        r"aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY"
        r"|AWS_SESSION_TOKEN|secrets\.",
        re.IGNORECASE,
    )
    for path in workflow_files():
        hits = [line.strip() for line in path.read_text().splitlines() if forbidden.search(line)]
        assert not hits, f"{path.name}: {hits}"


def test_least_privilege_permissions_and_oidc() -> None:
    for path in workflow_files():
        doc = load(path)
        top = doc.get("permissions")
        assert top in ({}, {"contents": "read"}), f"{path.name}: top-level permissions {top}"
        for name, job in doc["jobs"].items():
            where = f"{path.name}:{name}"
            perms = job.get("permissions", top)
            assert isinstance(job.get("timeout-minutes"), int), f"{where}: no timeout-minutes"
            aws_steps = [s for s in steps(job) if str(s.get("uses", "")).startswith("aws-actions/")]
            if aws_steps:
                assert perms == {"id-token": "write", "contents": "read"}, where
                for step in aws_steps:
                    role = step["with"]["role-to-assume"]
                    assert re.fullmatch(r"\$\{\{ vars\.AWS_DEPLOY_ROLE_ARN_[A-Z]+ \}\}", role)
                    assert set(step["with"]) == {
                        "role-to-assume",
                        "role-session-name",
                        "aws-region",
                    }, where
            else:
                assert "id-token" not in (perms or {}), f"{where}: OIDC token without AWS use"
                assert perms in ({}, {"contents": "read"}), where
            for step in steps(job):
                if str(step.get("uses", "")).startswith("actions/checkout"):
                    assert step.get("with", {}).get("persist-credentials") is False, where


def test_ci_runs_on_pull_requests_lint_check_test_then_package() -> None:
    doc = load(CI)
    assert set(doc["on"]) == {"pull_request"}
    (job,) = doc["jobs"].values()
    commands = [str(s["run"]).strip() for s in steps(job) if "run" in s]
    assert commands.index("./pants lint check test ::") < commands.index("./pants package ::")
    assert "environment" not in job


def test_release_builds_once_on_main() -> None:
    doc = load(RELEASE)
    assert doc["on"] == {"push": {"branches": ["main"]}}
    assert doc["concurrency"]["cancel-in-progress"] is False
    jobs = doc["jobs"]
    assert list(jobs) == ["build", *DEPLOY_ENVS]
    builders = [name for name, job in jobs.items() if "pants" in runs(job)]
    assert builders == ["build"]
    assert runs(jobs["build"]).count("./pants package ::") == 1
    assert "fleetctl.pex manifest --dist dist" in runs(jobs["build"])
    assert "actions/upload-artifact" in uses(jobs["build"])
    assert "environment" not in jobs["build"]


@pytest.mark.parametrize("env", DEPLOY_ENVS)
def test_deploy_jobs_use_the_built_bytes_and_never_rebuild(env: str) -> None:
    jobs = load(RELEASE)["jobs"]
    job = jobs[env]
    script = runs(job)
    assert job["environment"] == env
    assert "pants" not in script  # never `./pants package` (nor anything else Pants)
    assert "actions/upload-artifact" not in uses(job)
    assert "setup-go" not in " ".join(uses(job))
    download = next(s for s in steps(job) if str(s.get("uses", "")).startswith("actions/download"))
    assert download["with"] == {"name": "release-${{ github.sha }}", "path": "dist"}
    assert "build" in _needs(job)
    assert "${{ needs.build.outputs.release_id }}" in str(job["env"]["RELEASE_ID"])

    deploy = next(s for s in steps(job) if "terraform apply" in str(s.get("run", "")))
    assert deploy["working-directory"] == f"infra/envs/{env}"
    tf_env = deploy["env"]
    assert tf_env["TF_VAR_release_manifest_path"].endswith("/release/manifest.json")
    assert tf_env["TF_VAR_artifact_bucket_name"] == (
        f"${{{{ vars.FLEETOPS_ARTIFACT_BUCKET_{env.upper()} }}}}"
    )
    assert "terraform apply -input=false -auto-approve" in deploy["run"]
    order = [i for i, s in enumerate(steps(job)) if "run" in s]
    names = [str(steps(job)[i].get("name", "")) for i in order]
    assert any("Smoke test" in n for n in names)
    smoke = next(s for s in steps(job) if "Smoke test" in str(s.get("name", "")))
    assert "aws lambda invoke" in smoke["run"] and '"dry_run": true' in smoke["run"]
    assert steps(job).index(deploy) < steps(job).index(smoke)


def test_dev_publishes_and_later_envs_promote_in_order() -> None:
    jobs = load(RELEASE)["jobs"]
    assert "fleetctl.pex publish --env dev" in runs(jobs["dev"])
    assert "promote" not in runs(jobs["dev"])
    chain = {"staging": "dev", "prod": "staging"}
    for env, previous in chain.items():
        script = runs(jobs[env])
        assert previous in _needs(jobs[env])
        assert f'promote --from {previous} --to {env} --release "$RELEASE_ID"' in script
        assert "publish" not in script
        assert f"verify --env {env} --expect-manifest dist/manifest.json" in script
        assert "cmp release/manifest.json dist/manifest.json" in script
        promote = next(s for s in steps(jobs[env]) if "promote" in str(s.get("run", "")))
        apply = next(s for s in steps(jobs[env]) if "terraform apply" in str(s.get("run", "")))
        assert steps(jobs[env]).index(promote) < steps(jobs[env]).index(apply)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _actionlint() -> str | None:
    return os.environ.get("FLEETOPS_ACTIONLINT") or shutil.which("actionlint")


@pytest.mark.skipif(_actionlint() is None, reason="actionlint not installed (optional)")
def test_actionlint() -> None:
    exe = _actionlint()
    assert exe is not None
    proc = subprocess.run(
        [exe, "-no-color", *map(str, workflow_files())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
