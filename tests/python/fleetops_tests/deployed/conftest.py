"""The deployed stack, once per test session: a local AWS, `infra/envs/local` applied by
Terraform, and a seeded fleet. Every test here runs the functions and workflows as deployed.

- `deployed` (session): the local AWS server (its own process), the Terraform outputs and the
  seeded fleets. All test files of this folder share it (one Pants batch, see BUILD).
- `aws_credentials` (autouse, overrides the shared one): the test's own AWS calls go to the
  local AWS as its administrator (static keys, no session: not subject to IAM enforcement);
  everything the functions and workflows do runs under their roles.

Where the stack cannot be built (no Terraform provider: no mirror and no registry access), the
tests are skipped with one loud line; under CI (`CI=true`) they fail instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetops.local_aws.client import ADMIN_CREDENTIALS, start_server
from fleetops.local_aws.stack import apply_local_environment, find_repository
from fleetops.local_aws.terraform import TerraformError, find_mirror
from fleetops_tests.deployed.harness import Deployed, seed_fleets


def _cannot_run(reason: str) -> None:
    line = f"DEPLOYED-RUN TESTS CANNOT RUN HERE: {reason}"
    print(f"\n{'!' * 20} {line} {'!' * 20}", file=sys.stderr)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(line)
    pytest.skip(line)


def _artifacts_dir(repository: Path) -> Path:
    """Pants puts the packaged zips at lambdas/ in the sandbox; the dev loop uses dist/."""
    for candidate in (Path.cwd(), repository / "dist"):
        if (candidate / "lambdas" / "fleet-sync.zip").is_file():
            return candidate
    _cannot_run("no lambdas/*.zip (run through ./pants test, or ./pants package :: first)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    repository = find_repository()
    artifacts = _artifacts_dir(repository)
    state = tmp_path_factory.mktemp("local-aws")
    server = start_server(state, port=0, retry_delays="0.2,0.4")
    try:
        try:
            stack = apply_local_environment(
                server.local,
                state / "terraform",
                repository,
                dist_dir=artifacts,
                statemachines_dir=repository / "statemachines",
            )
        except TerraformError as exc:
            text = str(exc)
            if find_mirror() is None and ("registry.terraform.io" in text or "provider" in text):
                _cannot_run(
                    f"the hashicorp/aws provider is neither mirrored nor downloadable: {text[-400:]}"
                )
            raise
        saved = {k: os.environ.get(k) for k in _ADMIN_ENV}
        os.environ.update(_admin_env(server.local.endpoint, stack.region))
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_SECURITY_TOKEN", None)
        try:
            fleets = seed_fleets(server.local, stack)
            yield Deployed(server, stack, artifacts, fleets)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        server.stop()


_ADMIN_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)


def _admin_env(endpoint: str, region: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ADMIN_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": ADMIN_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": region,
    }


@pytest.fixture(autouse=True)
def aws_credentials(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in _admin_env(deployed.local.endpoint, deployed.stack.region).items():
        monkeypatch.setenv(name, value)
