"""`local-aws`: run fleet-ops as deployed, on this machine, with no AWS account.

    ./pants package ::                                  # the artifacts Terraform deploys
    ./pants run src/python/fleetops/local_aws:local-aws -- up
    export AWS_ENDPOINT_URL=http://127.0.0.1:4566       # what `up` prints
    ... local-aws invoke fleet-sync | fire fleetops-dev-health-check-schedule | audit --denied
    ./pants run src/python/fleetops/local_aws:local-aws -- down

`up` starts the local AWS (moto with IAM enforcement and a Lambda runtime, see
`fleetops.local_aws.server`) in the background and applies `infra/envs/local` into it with
Terraform: the dev environment, every function from its zip under its own role.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fleetops.local_aws.client import LocalAws, running_server, start_server
from fleetops.local_aws.stack import apply_local_environment, find_repository

DEFAULT_STATE_DIR = Path(".local-aws")


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _require(state_dir: Path) -> LocalAws:
    server = running_server(state_dir)
    if server is None:
        raise SystemExit(f"local-aws: no local AWS running from {state_dir} (run `local-aws up`)")
    return server.local


def cmd_up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    server = running_server(state_dir)
    if server is None:
        server = start_server(state_dir, port=args.port, detach=True)
        print(
            f"local AWS serving at {server.local.endpoint} (pid {server.pid}, logs {state_dir / 'server.log'})"
        )
    else:
        print(f"local AWS already serving at {server.local.endpoint}")
    if not args.no_apply:
        return cmd_apply(args)
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    local = _require(state_dir)
    repository = find_repository()
    dist = (args.dist or repository / "dist").resolve()
    if not (dist / "lambdas").is_dir():
        raise SystemExit(f"local-aws: {dist / 'lambdas'} missing: run ./pants package :: first")
    print("applying infra/envs/local (Terraform)...", flush=True)
    stack = apply_local_environment(local, state_dir / "terraform", repository, dist_dir=dist)
    print(
        f"{stack.terraform.describe()}; init {stack.init_seconds:.1f} s, apply {stack.apply_seconds:.1f} s"
    )
    print(
        f"\nexport AWS_ENDPOINT_URL={local.endpoint} AWS_ACCESS_KEY_ID=local-admin "
        f"AWS_SECRET_ACCESS_KEY=local-admin AWS_DEFAULT_REGION={stack.region}"
    )
    for name, fn in sorted(stack.outputs["functions"].items()):
        print(f"  function {name:15} {fn['function_name']}")
    for name, sm in sorted(stack.outputs["state_machines"].items()):
        print(f"  workflow {name:15} {sm['arn']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    server = running_server(args.state_dir.resolve())
    if server is None:
        print("local AWS not running")
        return 0
    server.stop()
    print(f"local AWS (pid {server.pid}) stopped; its state is gone (it lives in memory)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print(_require(args.state_dir.resolve()).health())
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    local = _require(args.state_dir.resolve())
    name = (
        args.function if args.function.startswith("fleetops-") else f"fleetops-dev-{args.function}"
    )
    response = local.client("lambda", args.region).invoke(
        FunctionName=name, Payload=args.event.encode(), LogType="Tail"
    )
    import base64

    print(base64.b64decode(response.get("LogResult", "")).decode(errors="replace"), file=sys.stderr)
    print(response["Payload"].read().decode())
    return 1 if response.get("FunctionError") else 0


def cmd_fire(args: argparse.Namespace) -> int:
    local = _require(args.state_dir.resolve())
    _print(local.fire_rule(args.region, args.rule))
    if args.wait:
        local.wait_for_lambdas(args.wait)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    records = _require(args.state_dir.resolve()).audit()
    for r in records:
        if args.denied and r["decision"] == "allow":
            continue
        print(f"{r['decision']:13} {r['role']:40} {r['action']:45} {r['resource']}")
    return 0


def cmd_invocations(args: argparse.Namespace) -> int:
    for e in _require(args.state_dir.resolve()).invocations():
        print(
            f"{e['status']:13} {e['function_name']:32} {e['invocation_type']:15} attempt {e['attempt']} "
            f"{(e['duration_ms'] or 0):8.0f} ms  {e['source']}  {e['error_type'] or ''}"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from fleetops.local_aws.report import markdown

    local = _require(args.state_dir.resolve())
    roles = [
        r["RoleName"]
        for page in local.client("iam", "us-east-1").get_paginator("list_roles").paginate()
        for r in page["Roles"]
        if r["RoleName"].startswith("fleetops-")
    ]
    print(markdown(local, sorted(roles)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-aws", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local AWS and apply the local environment")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--dist", type=Path, help="folder of lambdas/*.zip (default: ./dist)")
    up.add_argument("--no-apply", action="store_true", help="start the server only")
    up.set_defaults(run=cmd_up)
    apply = sub.add_parser("apply", help="(re)apply infra/envs/local")
    apply.add_argument("--dist", type=Path)
    apply.set_defaults(run=cmd_apply)
    sub.add_parser("down", help="stop the local AWS").set_defaults(run=cmd_down)
    sub.add_parser("status", help="is it running").set_defaults(run=cmd_status)
    invoke = sub.add_parser("invoke", help="invoke a deployed function synchronously")
    invoke.add_argument("function", help="fleet-sync, health-check, ... or a full name")
    invoke.add_argument("--event", default="{}", help="the event (JSON)")
    invoke.add_argument("--region", default="eu-west-1")
    invoke.set_defaults(run=cmd_invoke)
    fire = sub.add_parser("fire", help="fire an EventBridge schedule rule once")
    fire.add_argument("rule")
    fire.add_argument("--region", default="eu-west-1")
    fire.add_argument(
        "--wait", type=float, default=300, help="seconds to wait for the invocations (0: don't)"
    )
    fire.set_defaults(run=cmd_fire)
    audit = sub.add_parser("audit", help="IAM decisions for the functions' and workflows' roles")
    audit.add_argument("--denied", action="store_true")
    audit.set_defaults(run=cmd_audit)
    sub.add_parser("invocations", help="every invocation and attempt").set_defaults(
        run=cmd_invocations
    )
    sub.add_parser("report", help="grants versus use per role, runs per function").set_defaults(
        run=cmd_report
    )
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
