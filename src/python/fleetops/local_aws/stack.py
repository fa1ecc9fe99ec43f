"""The local environment: `infra/envs/local` applied by Terraform into a running local AWS.

The root is the dev environment with two differences only, both in its provider block: every
endpoint is the local AWS, and the only account allowed is the local one (moto's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetops.local_aws.client import ADMIN_CREDENTIALS, LocalAws
from fleetops.local_aws.terraform import Terraform

LOCAL_ROOT = Path("infra") / "envs" / "local"


def find_repository(start: Path | None = None) -> Path:
    """The folder holding infra/envs/local: the working directory (a Pants sandbox or the
    repository root) or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / LOCAL_ROOT / "main.tf").is_file():
            return candidate
    raise FileNotFoundError(f"{LOCAL_ROOT} not found from {here}")


@dataclass
class Stack:
    """What Terraform created in the local AWS (its outputs), and how long it took."""

    local: LocalAws
    outputs: dict[str, Any]
    region: str
    regions: list[str]
    init_seconds: float
    apply_seconds: float
    terraform: Terraform
    variables: dict[str, Any]

    def function(self, name: str) -> dict[str, Any]:
        function: dict[str, Any] = self.outputs["functions"][name]
        return function

    def state_machine(self, name: str) -> dict[str, Any]:
        machine: dict[str, Any] = self.outputs["state_machines"][name]
        return machine

    @property
    def table(self) -> str:
        return str(self.outputs["registry_table_name"])

    @property
    def topic_arn(self) -> str:
        return str(self.outputs["notification_topic_arn"])

    @property
    def backup_bucket(self) -> str:
        return str(self.outputs["backup_bucket_name"])


def apply_local_environment(
    local: LocalAws,
    work_dir: Path,
    repository: Path | None = None,
    dist_dir: Path | None = None,
    statemachines_dir: Path | None = None,
    regions: list[str] | None = None,
    region: str = "eu-west-1",
    extra_variables: dict[str, Any] | None = None,
    parallelism: int = 20,
) -> Stack:
    repository = repository or find_repository()
    variables: dict[str, Any] = {
        "endpoint_url": local.endpoint,
        "local_account_id": local.health()["account"],
        "region": region,
    }
    if regions:
        variables["regions"] = regions
    if dist_dir:
        variables["dist_dir"] = str(dist_dir)
    if statemachines_dir:
        variables["statemachines_dir"] = str(statemachines_dir)
    variables.update(extra_variables or {})
    terraform = Terraform(
        repository / LOCAL_ROOT,
        work_dir,
        env={
            "AWS_ACCESS_KEY_ID": ADMIN_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": ADMIN_CREDENTIALS["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": None,
            "AWS_SECURITY_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_ENDPOINT_URL": local.endpoint,
        },
    )
    init = terraform.init()
    apply = terraform.apply(variables, parallelism=parallelism)
    outputs = terraform.outputs()
    return Stack(
        local=local,
        outputs=outputs,
        region=str(outputs["region"]),
        regions=list(outputs["regions"]),
        init_seconds=init.seconds,
        apply_seconds=apply.seconds,
        terraform=terraform,
        variables=variables,
    )
