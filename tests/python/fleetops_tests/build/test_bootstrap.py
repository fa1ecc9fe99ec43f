"""support/bootstrap.sh fails clearly on bad set-ups: one line naming what is missing and how to get it.

Each case runs the real script with a fresh cache directory, system installs forbidden
(FLEETOPS_NO_INSTALL=1) and pyenv hidden, so nothing on the machine is changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path("support/bootstrap.sh").resolve()


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "FLEETOPS_CACHE_DIR": str(tmp_path / "cache"),
        "FLEETOPS_NO_INSTALL": "1",
        "FLEETOPS_NO_PYENV": "1",
    }
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip().splitlines()[-1]


def test_missing_python39_is_one_clear_line(tmp_path: Path) -> None:
    if any(Path(p).exists() for p in ("/usr/bin/python3.9", "/bin/python3.9")):
        pytest.skip("this machine has a system python3.9")
    proc = _run(tmp_path)
    assert proc.returncode == 1
    line = _last_line(proc)
    assert line.startswith("fleet-ops bootstrap: Python 3.9 is required"), line
    assert "FLEETOPS_PYTHON39" in line and "pyenv install 3.9" in line


def test_override_that_is_not_python39_is_rejected(tmp_path: Path) -> None:
    proc = _run(tmp_path, FLEETOPS_PYTHON39=sys.executable)
    assert proc.returncode == 1
    assert "FLEETOPS_PYTHON39 points to" in _last_line(proc)
    assert "not a working Python 3.9" in _last_line(proc)


def _python39() -> str:
    pyenv = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
    for c in [Path("/usr/bin/python3.9"), *sorted(pyenv.glob("3.9*/bin/python3.9"))]:
        if c.exists():
            return str(c)
    pytest.skip("no Python 3.9 on this machine to get past the first check")


def test_wrong_go_override_is_rejected(tmp_path: Path) -> None:
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho 'go version go1.26.8 linux/amd64'\n")
    fake_go.chmod(0o755)
    proc = _run(tmp_path, FLEETOPS_PYTHON39=_python39(), FLEETOPS_GO121=str(fake_go))
    assert proc.returncode == 1
    line = _last_line(proc)
    assert "FLEETOPS_GO121 points to" in line and "Go 1.21" in line, line


def test_unreachable_package_index_is_reported(tmp_path: Path) -> None:
    go = Path("/usr/lib/go-1.21/bin/go")
    if not go.exists():
        pytest.skip("needs Go 1.21 to reach the Pants install step")
    proc = _run(
        tmp_path,
        FLEETOPS_PYTHON39=_python39(),
        FLEETOPS_GO121=str(go),
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        PIP_NO_CACHE_DIR="1",
    )
    assert proc.returncode == 1
    line = _last_line(proc)
    assert "could not install pantsbuild.pants 2.17.1 from the package index" in line, line
    assert not (tmp_path / "cache" / "pants-2.17.1-py39").exists(), "no half-built venv left behind"
