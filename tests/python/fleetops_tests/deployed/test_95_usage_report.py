"""After every deployed run above: what each role was granted versus what the runs used.

A used action is always a granted one (the enforcement allowed it); a granted action no run
used is a candidate for removal, listed in the report (set FLEETOPS_DEPLOYED_REPORT=<file> to
keep it; the run's note quotes it).
"""

from __future__ import annotations

import os
from pathlib import Path

from fleetops.local_aws.report import markdown, role_usage
from fleetops_tests.deployed.harness import Deployed


def roles(deployed: Deployed) -> list[str]:
    arns = [f["role_arn"] for f in deployed.stack.outputs["functions"].values()]
    arns += [m["role_arn"] for m in deployed.stack.outputs["state_machines"].values()]
    return sorted(str(a).rsplit("/", 1)[-1] for a in arns)


def test_every_role_used_only_what_it_is_granted_and_nothing_was_denied(deployed: Deployed) -> None:
    usages = role_usage(deployed.local, roles(deployed))
    report = markdown(deployed.local, roles(deployed))
    print(report)
    if os.environ.get("FLEETOPS_DEPLOYED_REPORT"):
        Path(os.environ["FLEETOPS_DEPLOYED_REPORT"]).write_text(report + "\n")
    for usage in usages:
        assert usage.used <= usage.granted, (usage.role, usage.used - usage.granted)
        assert usage.denied == set(), (usage.role, usage.denied)
        assert usage.used, f"{usage.role}: no run used it"
