"""What a run of the deployed stack used: per role, the actions granted versus the actions its
requests needed (an unused grant is a candidate for removal), and per function, its runs.

Read from the local AWS itself: the roles' policies through IAM, the decisions from the audit
trail, the runs from the Lambda journal.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fleetops.local_aws.client import LocalAws


@dataclass
class RoleUsage:
    role: str
    granted: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)

    @property
    def unused(self) -> list[str]:
        return sorted(self.granted - self.used)


def granted_actions(local: LocalAws, role: str) -> set[str]:
    iam = local.client("iam", "us-east-1")
    actions: set[str] = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = document if isinstance(document, dict) else json.loads(document)
        statements = document["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            listed = statement.get("Action", [])
            actions.update(listed if isinstance(listed, list) else [listed])
    return actions


def role_usage(local: LocalAws, roles: list[str]) -> list[RoleUsage]:
    usage = {role: RoleUsage(role, granted_actions(local, role)) for role in roles}
    for record in local.audit():
        entry = usage.get(record["role"])
        if entry is None:
            continue
        (entry.used if record["decision"] == "allow" else entry.denied).add(record["action"])
    return list(usage.values())


def function_runs(local: LocalAws) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in local.invocations():
        if entry["status"] not in ("running", "throttled"):
            runs[entry["function_name"]].append(entry)
    summary = {}
    for name, entries in sorted(runs.items()):
        durations = [e["duration_ms"] for e in entries if e["duration_ms"] is not None]
        inits = [e["init_ms"] for e in entries if e["init_ms"] is not None]
        summary[name] = {
            "runs": len(entries),
            "errors": sum(1 for e in entries if e["status"] != "success"),
            "median_ms": round(statistics.median(durations)) if durations else None,
            "max_ms": round(max(durations)) if durations else None,
            "cold_starts": len(inits),
            "median_init_ms": round(statistics.median(inits)) if inits else None,
            "max_memory_mb": max((e["max_memory_mb"] or 0 for e in entries), default=0),
        }
    return summary


def markdown(local: LocalAws, roles: list[str]) -> str:
    lines = ["| role | granted | used | unused (candidates to remove) |", "|---|---|---|---|"]
    for usage in role_usage(local, roles):
        lines.append(
            f"| {usage.role} | {len(usage.granted)} | {len(usage.used & usage.granted)} | "
            f"{', '.join(usage.unused) or '-'} |"
        )
    lines += [
        "",
        "| function | runs | errors | median / max ms | cold starts (median init ms) | max memory MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in function_runs(local).items():
        lines.append(
            f"| {name} | {s['runs']} | {s['errors']} | {s['median_ms']} / {s['max_ms']} | "
            f"{s['cold_starts']} ({s['median_init_ms']}) | {s['max_memory_mb']} |"
        )
    return "\n".join(lines)
