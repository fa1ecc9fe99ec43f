"""Benchmark: cold start of every Lambda zip, measured the way Lambda runs it.

Each run is a fresh execution environment of the local AWS's Lambda runtime
(`fleetops.local_aws.lambda_environment`): the zip unpacked into a read-only task root, a fresh
interpreter (python3.11: awslambdaric in `-I -S -B`, no bytecode written; Go: the `bootstrap`),
the function's environment variables, polling a Runtime API on loopback. Measured per run:
- init: process start to the runtime's first `GET /invocation/next` (Lambda's Init Duration),
- first event: init plus answering one event (a malformed one: rejected before any AWS call),
- peak RSS before the first event (VmHWM).
Median (and min) over N runs; with `--baseline <dist>` the same for another build (for example
the previous release, `support/build-at-revision.sh <rev> <dir>`) and the ratio new/old.
Prints a table; asserts nothing. Run after `./pants package ::`:

    python tests/python/fleetops_tests/benchmarks/bench_cold_start.py --dist dist --runs 7 \
        [--baseline /tmp/prev/dist]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from fleetops.local_aws.lambda_environment import (
    CodeStore,
    Credentials,
    ExecutionEnvironment,
    FunctionSpec,
    runtime_client_dir,
)

RUNTIMES = {"scaling": ("provided.al2023", "bootstrap")}
ENV = {
    "ENVIRONMENT": "dev",
    "LOG_LEVEL": "INFO",
    "REGION": "eu-west-1",
    "REGIONS": "eu-west-1,us-east-1",
    "DDB_TABLE": "fleetops-dev-registry",
    "SNS_TOPIC": "arn:aws:sns:eu-west-1:123456789012:fleetops-dev-notifications",
    "FLEET_TAG_KEY": "Fleet",
    "DRY_RUN": "false",
    "BACKUP_BUCKET": "fleetops-dev-backup-123456789012-eu-west-1",
    "RECOVERY_STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:fleetops-dev-recovery",
    "POWERTOOLS_METRICS_NAMESPACE": "FleetOps",
}
MALFORMED = {"fleetops_benchmark": "not an event any function accepts"}


def run_once(zip_path: Path, work: Path) -> tuple[float, float, int]:
    name = zip_path.stem
    code = zip_path.read_bytes()
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    runtime, handler = RUNTIMES.get(name, ("python3.11", "lambda_function.handler"))
    spec = FunctionSpec(
        function_name=f"fleetops-dev-{name}",
        function_arn=f"arn:aws:lambda:eu-west-1:123456789012:function:fleetops-dev-{name}",
        region="eu-west-1",
        account="123456789012",
        runtime=runtime,
        handler=handler,
        role_arn="arn:aws:iam::123456789012:role/bench",
        timeout=60,
        memory_size=1024,
        environment={**ENV, "POWERTOOLS_SERVICE_NAME": name},
        code_sha256=sha,
        log_group=f"/aws/lambda/fleetops-dev-{name}",
        tracing_active=True,
    )
    task_root = CodeStore(work / "code").task_root(code, sha)
    env = ExecutionEnvironment(
        spec,
        task_root,
        runtime_client_dir(work),
        Credentials("ASIABENCHBENCHBENCH0", "bench", "bench"),
        "http://127.0.0.1:9",  # nothing listens: the malformed event needs no AWS call
        "127.0.0.1:9",
        lambda _env, _lines: None,
        enforce_memory=False,
    )
    started = time.monotonic()
    env.start()
    try:
        assert env.init_report is not None, f"{name}: the runtime never asked for an event"
        init_ms, peak_mb = env.init_report
        env.invoke("bench", MALFORMED, "Root=1-00000000-000000000000000000000000;Sampled=0")
        first_ms = (time.monotonic() - started) * 1000
    finally:
        env.close()
    return init_ms, first_ms, peak_mb


def measure(dist: Path, runs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for zip_path in sorted((dist / "lambdas").glob("*.zip")):
            samples = [run_once(zip_path, Path(tmp)) for _ in range(runs)]
            inits, firsts, peaks = zip(*samples, strict=True)
            with zipfile.ZipFile(zip_path) as zf:
                pycs = sum(1 for n in zf.namelist() if n.endswith(".pyc"))
            results[zip_path.stem] = {
                "size_mib": round(zip_path.stat().st_size / 2**20, 1),
                "pycs": pycs,
                "init_ms": round(statistics.median(inits), 1),
                "init_min_ms": round(min(inits), 1),
                "first_event_ms": round(statistics.median(firsts), 1),
                "peak_rss_mib": max(peaks),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=Path("dist"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another build's dist/ to compare with")
    args = parser.parse_args()
    new = measure(args.dist, args.runs)
    old = measure(args.baseline, args.runs) if args.baseline else {}
    header = "| artifact | size MiB | pycs | init ms (median / min) | init + first event ms | peak RSS before first event MiB |"
    if old:
        header += " init ratio new/old | RSS ratio new/old |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, r in new.items():
        row = (
            f"| {name} | {r['size_mib']} | {r['pycs']} | {r['init_ms']} / {r['init_min_ms']} | "
            f"{r['first_event_ms']} | {r['peak_rss_mib']} |"
        )
        if name in old:
            o = old[name]
            row += f" {r['init_ms'] / o['init_ms']:.2f} ({o['init_ms']}) | {r['peak_rss_mib'] / o['peak_rss_mib']:.2f} ({o['peak_rss_mib']}) |"
        print(row)
    print(
        f"\n{args.runs} runs each; median init over all Python zips: "
        f"{statistics.median(r['init_ms'] for n, r in new.items() if n not in RUNTIMES):.0f} ms"
    )


if __name__ == "__main__":
    main()
