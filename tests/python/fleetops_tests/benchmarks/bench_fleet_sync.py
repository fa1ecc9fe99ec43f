"""Benchmark of fleet-sync over large moto fleets: prints numbers, asserts nothing.

    PYTHONPATH=src/python:tests/python python tests/python/fleetops_tests/benchmarks/bench_fleet_sync.py \
        --sizes 1000,10000 --regions 3

Everything runs against moto on loopback, never AWS. For each size (instances per region):

1. a *server* process starts moto in-process (`mock_aws`), builds one fleet in every region
   (ASGs of about 1,000 instances, launched per AZ in batches and attached 20 at a time, as
   AWS allows), the registry table and the topic, then serves that state with moto's
   ThreadedMotoServer on 127.0.0.1 (build time is printed separately);
2. every invocation runs in a fresh Python process (`_invoke`): the Lambda's cold start
   (imports, configuration, clients: `SyncDeps.create`, as the handler does), then one sync
   (`run_sync`) against the server through `AWS_ENDPOINT_URL`. Two deployment shapes:
   - `per-region` (what `infra/` deploys): the schedule fans out into one invocation per
     region, each given `{"regions": [<region>]}`; measured one after the other;
   - `all-regions` (one invocation for every region, e.g. a manual run): measured after the
     registry is emptied again.
   Each shape runs a first sync, a no-change re-sync, and a re-sync after 1% of the instances
   were stopped (all-regions: started again).

Per invocation: wall time, CPU time of the invocation process (fleet-sync's own work: parsing,
planning, serialising; moto's CPU is in the server), time spent waiting for moto, peak RSS of
the process (what Lambda's memory limit applies to: interpreter, boto3 and the sync), the
tracemalloc peak of the sync (`--tracemalloc`; slows the run ~2x), and AWS requests by
operation. The projection for Lambda: at 256 MB a function gets 256/1769 of a vCPU, so CPU
seconds here x 6.9 is roughly the CPU-bound duration there, plus the AWS round trips (~10-50 ms
each, mostly sequential per region) instead of moto's.

moto specifics handled here: moto pages DescribeInstances by reservation, not by instance, so
instances are launched 200 per reservation and `EC2_PAGE_SIZE=5` makes each page hold 1,000
instances, the largest page AWS returns. `fleetops.local_aws.patches.large_fleet_speedups` replaces
moto's quadratic EC2 tag lookup with an indexed one and its whole-table deep copies per
transaction action with item-level snapshots (same answers; `--stock-moto` keeps moto as
shipped, which makes sizes above a few thousand impractical). Wall times are still dominated by
moto (milliseconds per instance rendered and per item written); request counts are exact and
are what matters against AWS: reads grow with pages, writes with changes (100 per transaction).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALL_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
LAMBDA_MEMORY_MB = 256
LAMBDA_TIMEOUT_S = 300
VCPU_SHARE = LAMBDA_MEMORY_MB / 1769
RESERVATION_SIZE = 200
RESERVATIONS_PER_PAGE = 5
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "fleet-sync-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "fleetops-bench",
    "LOG_LEVEL": "WARNING",
}


# -- server process -----------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Build the fleet in-process (fast), then serve it on loopback until stdin closes."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from fleetops.local_aws.patches import large_fleet_speedups
    from fleetops_tests.support import aws_fleet

    regions = ALL_REGIONS[: args.regions]
    with mock_aws(), nullcontext() if args.stock_moto else large_fleet_speedups():
        started = time.perf_counter()
        aws_fleet.create_registry_table()
        aws_fleet.create_topic()
        asgs = max(1, round(args.instances / args.asg_size))
        for region in regions:
            network = aws_fleet.create_network(region)
            template = aws_fleet.create_launch_template(region, "bench-lt")
            base, extra = divmod(args.instances, asgs)
            for index in range(asgs):
                aws_fleet.create_asg(
                    region,
                    network=network,
                    fleet="bench",
                    name=f"bench-{index + 1}",
                    instances=base + (1 if index < extra else 0),
                    launch_template=template,
                    batch_size=RESERVATION_SIZE,
                )
        build_s = time.perf_counter() - started
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
        server.start()
        Path(args.ready).write_text(json.dumps({"build_s": build_s, "asgs_per_region": asgs}))
        sys.stdin.read()  # until the benchmark closes our stdin (or exits)
        server.stop()


# -- invocation process -------------------------------------------------------------------


class MotoTimer:
    """Time spent waiting for moto: from `before-send` to the parsed response, per thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._local = threading.local()
        self._lock = threading.Lock()

    def attach(self, clients: Any) -> None:
        clients.register("before-send", self._start)
        clients.register("needs-retry", self._stop)

    def _start(self, **_: Any) -> None:
        self._local.started = time.perf_counter()

    def _stop(self, **_: Any) -> None:
        started = getattr(self._local, "started", None)
        if started is not None:
            self._local.started = None
            with self._lock:
                self.seconds += time.perf_counter() - started


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM). Not `ru_maxrss`: Linux carries that over
    from the parent across fork and exec, so a child would report the benchmark's own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def invoke(args: argparse.Namespace) -> None:
    """One Lambda invocation in this fresh process: cold start, then one sync; JSON on stdout."""
    cold_started = time.perf_counter()
    from fleetops.fleet_sync.config import FleetSyncConfig
    from fleetops.fleet_sync.request import parse_request
    from fleetops.fleet_sync.sync import SyncDeps, run_sync
    from fleetops_tests.support.counting import RequestCounter
    from fleetops_tests.support.env import base_env

    env = base_env(
        REGIONS=",".join(ALL_REGIONS[: args.regions]),
        WRITE_CONCURRENCY=str(args.write_concurrency),
        LOG_LEVEL="WARNING",
        EC2_PAGE_SIZE=str(RESERVATIONS_PER_PAGE),
        AWS_ENDPOINT_URL=args.endpoint,
    )
    config = FleetSyncConfig.from_env(env)
    deps = SyncDeps.create(config)
    counter = RequestCounter().attach(deps.clients)
    timer = MotoTimer()
    timer.attach(deps.clients)
    event: dict[str, Any] = {
        "version": "0",
        "id": "bench",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-26T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
    if args.invoke_regions:
        event["regions"] = args.invoke_regions.split(",")
    request = parse_request(event, config)
    cold_s = time.perf_counter() - cold_started

    if args.tracemalloc:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_sync(request, deps)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
    print(
        json.dumps(
            {
                "status": result.status,
                "error": None if result.status == "ok" else result.as_dict(),
                "cold_s": cold_s,
                "wall_s": wall,
                "cpu_s": cpu,
                "moto_s": timer.seconds,
                "heap_mb": peak_mb,
                "rss_mb": _peak_rss_mb(),
                "requests": counter.by_operation(),
                "totals": result.totals(),
            }
        )
    )


# -- benchmark process --------------------------------------------------------------------


@dataclass
class Measurement:
    shape: str
    label: str
    scope: str
    cold_s: float
    wall_s: float
    cpu_s: float
    moto_s: float
    heap_mb: float | None
    rss_mb: float
    requests: dict[str, int]
    totals: dict[str, int]

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def lambda_cpu_s(self) -> float:
        return self.cpu_s / VCPU_SHARE


@dataclass
class SizeReport:
    instances_per_region: int
    regions: int
    asgs_per_region: int
    build_s: float
    measurements: list[Measurement] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fleet_ids(regions: tuple[str, ...], endpoint: str, state: str) -> dict[str, list[str]]:
    from fleetops_tests.support import aws_fleet

    ids: dict[str, list[str]] = {}
    for region in regions:
        ec2 = aws_fleet.aws("ec2", region, endpoint)
        ids[region] = [
            instance["InstanceId"]
            for page in ec2.get_paginator("describe_instances").paginate()
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
            if instance["State"]["Name"] == state
        ]
    return ids


def _change_fraction(
    regions: tuple[str, ...], fraction: float, endpoint: str, *, start: bool
) -> int:
    """Stop `fraction` of the running instances (or start the stopped ones again)."""
    from fleetops_tests.support import aws_fleet

    changed = 0
    for region, ids in _fleet_ids(regions, endpoint, "stopped" if start else "running").items():
        chosen = ids if start else ids[:: max(1, round(1 / fraction))]
        ec2 = aws_fleet.aws("ec2", region, endpoint)
        for first in range(0, len(chosen), 500):
            batch = chosen[first : first + 500]
            if start:
                ec2.start_instances(InstanceIds=batch)
            else:
                ec2.stop_instances(InstanceIds=batch)
        changed += len(chosen)
    return changed


def _empty_registry(endpoint: str) -> None:
    from fleetops_tests.support import aws_fleet

    ddb = aws_fleet.aws("dynamodb", aws_fleet.HOME_REGION, endpoint)
    ddb.delete_table(TableName=aws_fleet.TABLE_NAME)
    aws_fleet.create_registry_table(endpoint_url=endpoint)


def _invoke(
    args: argparse.Namespace, endpoint: str, shape: str, label: str, regions: str | None
) -> Measurement:
    command = [
        sys.executable,
        __file__,
        "_invoke",
        "--endpoint",
        endpoint,
        "--regions",
        str(args.regions),
        "--write-concurrency",
        str(args.write_concurrency),
    ]
    if regions:
        command += ["--invoke-regions", regions]
    if args.tracemalloc:
        command.append("--tracemalloc")
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{label}: invocation crashed:\n{done.stderr[-3000:]}")
    data = json.loads(lines[-1])
    if data["status"] != "ok":
        raise SystemExit(f"{label}: sync failed: {json.dumps(data['error'])[:2000]}")
    scope = regions or "all"
    print(f"  {shape:<11} {label:<24} {scope:<14} {data['wall_s']:7.1f}s", flush=True)
    return Measurement(
        shape,
        label,
        scope,
        data["cold_s"],
        data["wall_s"],
        data["cpu_s"],
        data["moto_s"],
        data["heap_mb"],
        data["rss_mb"],
        data["requests"],
        data["totals"],
    )


def bench_size(size: int, args: argparse.Namespace, workdir: Path) -> SizeReport:
    regions = ALL_REGIONS[: args.regions]
    port = _free_port()
    ready = workdir / f"ready-{size}.json"
    command = [
        sys.executable,
        __file__,
        "_serve",
        "--instances",
        str(size),
        "--regions",
        str(args.regions),
        "--asg-size",
        str(args.asg_size),
        "--port",
        str(port),
        "--ready",
        str(ready),
    ]
    if args.stock_moto:
        command.append("--stock-moto")
    server_log = (workdir / f"moto-{size}.log").open("w")
    server = subprocess.Popen(
        command,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + args.timeout
        while not ready.exists():
            if server.poll() is not None:
                server_log.flush()
                tail = (workdir / f"moto-{size}.log").read_text()[-2000:]
                raise SystemExit(f"moto server exited with {server.returncode}:\n{tail}")
            if time.time() > deadline:
                raise SystemExit("building the fleet timed out")
            time.sleep(0.5)
        built = json.loads(ready.read_text())
        report = SizeReport(size, len(regions), built["asgs_per_region"], built["build_s"])
        print(f"  built {size * len(regions):,} instances in {report.build_s:.1f}s", flush=True)
        endpoint = f"http://127.0.0.1:{port}"
        shapes = [shape for shape in ("per-region", "all-regions") if shape in args.shapes]
        for number, shape in enumerate(shapes):
            if number:
                _empty_registry(endpoint)
            scopes: list[str | None] = list(regions) if shape == "per-region" else [None]
            for run in ("first sync", "no-change re-sync", "change"):
                label = run
                if run == "change":
                    if args.change_fraction <= 0:
                        continue
                    changed = _change_fraction(
                        regions, args.change_fraction, endpoint, start=number % 2 == 1
                    )
                    label = f"re-sync, {changed} {'started' if number % 2 else 'stopped'}"
                for scope in scopes:
                    report.measurements.append(_invoke(args, endpoint, shape, label, scope))
        return report
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()


def print_reports(reports: list[SizeReport]) -> None:
    print()
    print("fleet-sync benchmark: moto server in its own process; each invocation a fresh process")
    header = (
        f"{'inst/region':>11} {'shape':<11} {'run':<22} {'scope':<10} {'cold s':>6} {'wall s':>7} "
        f"{'cpu s':>6} {'x6.9 s':>7} {'moto s':>7} {'RSS MB':>6} {'heap MB':>7} {'requests':>8}"
        "  created/updated/tombstoned/unchanged"
    )
    print(header)
    print("-" * len(header))
    for report in reports:
        print(
            f"{report.instances_per_region:>11,} x {report.regions} regions, "
            f"{report.asgs_per_region} ASGs/region, fleet built in {report.build_s:.0f}s"
        )
        for m in report.measurements:
            t = m.totals
            heap = f"{m.heap_mb:7.1f}" if m.heap_mb is not None else f"{'-':>7}"
            print(
                f"{'':>11} {m.shape:<11} {m.label:<22} {m.scope:<10} {m.cold_s:>6.2f} {m.wall_s:>7.1f} "
                f"{m.cpu_s:>6.1f} {m.lambda_cpu_s:>7.0f} {m.moto_s:>7.1f} {m.rss_mb:>6.0f} {heap} "
                f"{m.total_requests:>8}  {t['created']}/{t['updated']}/{t['tombstoned']}/{t['unchanged']}"
            )
    print()
    print("AWS requests by operation (per invocation)")
    columns = [(r, m) for r in reports for m in r.measurements]
    operations = sorted({op for _, m in columns for op in m.requests})
    names = [
        f"{r.instances_per_region // 1000}k {m.shape[:3]} {m.label.split(',')[0][:9]} {m.scope[:9]}"
        for r, m in columns
    ]
    print(f"{'operation':<38}" + "".join(f"{name:>30}" for name in names))
    for op in operations:
        print(f"{op:<38}" + "".join(f"{m.requests.get(op, 0):>30}" for _, m in columns))
    print()
    print(
        f"Lambda: {LAMBDA_MEMORY_MB} MB, {LAMBDA_TIMEOUT_S} s; 'x6.9 s' = cpu s / ({LAMBDA_MEMORY_MB}/1769 vCPU), "
        "the CPU-bound part of the duration there (AWS round trips come on top)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_serve", "_invoke"])
    parser.add_argument(
        "--sizes", default="1000,10000", help="instances per region, comma-separated"
    )
    parser.add_argument(
        "--regions", type=int, default=3, help=f"number of regions (max {len(ALL_REGIONS)})"
    )
    parser.add_argument(
        "--shapes",
        default="per-region,all-regions",
        help="deployment shapes to measure: per-region, all-regions",
    )
    parser.add_argument(
        "--asg-size", type=int, default=1000, help="instances per ASG (approximately)"
    )
    parser.add_argument("--write-concurrency", type=int, default=4)
    parser.add_argument(
        "--change-fraction",
        type=float,
        default=0.01,
        help="share of instances stopped before the last re-sync",
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace the sync's Python heap (slower)"
    )
    parser.add_argument(
        "--stock-moto", action="store_true", help="keep moto's slow paths (see above)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed for building one fleet"
    )
    parser.add_argument("--instances", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--invoke-regions", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in FAKE_AWS.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)

    if args.mode == "_serve":
        serve(args)
        return 0
    if args.mode == "_invoke":
        invoke(args)
        return 0
    reports = []
    with tempfile.TemporaryDirectory(prefix="fleet-sync-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            print(f"size {size:,} instances/region x {args.regions} regions", flush=True)
            reports.append(bench_size(size, args, Path(tmp)))
    print_reports(reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
