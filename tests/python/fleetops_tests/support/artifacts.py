"""Locating the packaged artifacts that Pants puts in the test sandbox.

`runtime_package_dependencies` places each artifact at its `output_path` relative to the sandbox
root (pytest's working directory), e.g. `lambdas/fleet-sync.zip`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest


def artifact(name: str) -> Path:
    path = Path.cwd() / "lambdas" / name
    if not path.exists():
        if "PANTS_EXECUTION_SLOT" in os.environ:
            pytest.fail(f"{path} missing: is it in runtime_package_dependencies?")
        pytest.skip(f"{path} not built (run through ./pants test, which packages it first)")
    return path


def extract(zip_path: Path, dest: Path) -> Path:
    """Unzip keeping the Unix permission bits (zipfile drops them), as Lambda does."""
    out = dest / zip_path.stem
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(out)
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (out / info.filename).chmod(mode)
    return out
