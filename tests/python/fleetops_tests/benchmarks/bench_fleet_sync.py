"""Benchmark of fleet-sync over large moto fleets: prints numbers, asserts nothing.

    PYTHONPATH=src/python:tests/python python tests/python/fleetops_tests/benchmarks/bench_fleet_sync.py \
        --sizes 1000,3000,10000 --regions 3

Everything runs against moto on loopback, never AWS. For each size (instances per region):

1. a *server* process starts moto in-process (`mock_aws`), builds one fleet in every region
   (ASGs of about 1,000 instances, launched per AZ in batches and attached 20 at a time, as
   AWS allows), the registry table and the topic, then serves that state with moto's
   ThreadedMotoServer on 127.0.0.1 (build time is printed separately);
2. this process runs fleet-sync's domain code (`run_sync`, the handler minus its decorators)
   against that server through `AWS_ENDPOINT_URL`, exactly as the Lambda reaches AWS, for a
   first sync, a no-change re-sync, and a re-sync after 1% of the instances were stopped.

Each run reports wall time, the CPU time of this process (fleet-sync's own work: parsing,
planning, serialising; moto's CPU is in the other process), the time spent waiting for moto's
answers (summed over threads), the tracemalloc peak above the pre-run baseline (the Python heap the sync itself
needed), and AWS requests by operation. The process's peak RSS (interpreter + boto3 included)
is printed per size. Why a separate moto process: moto keeps the whole fleet and the registry
in its own memory and renders responses in pure Python, which would otherwise be counted as
fleet-sync's memory and time.

moto specifics handled here: moto pages DescribeInstances by reservation, not by instance, so
instances are launched 200 per reservation and `EC2_PAGE_SIZE=5` makes each page hold 1,000
instances, the largest page AWS returns; moto's quadratic EC2 tag lookup is replaced by an
indexed one in the server (`support.moto_patches`, same answers; `--stock-moto` keeps moto as
shipped, which makes sizes above a few thousand impractical). Wall times are still dominated by
moto (milliseconds per instance rendered, ~5 ms per UpdateItem); request counts are exact and
are what matters against AWS: reads grow with pages, writes with changes.
"""

from __future__ import annotations

import argparse
import gc
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
RESERVATION_SIZE = 200
RESERVATIONS_PER_PAGE = 5
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "fleet-sync-bench",
    "LOG_LEVEL": "WARNING",
}


# -- server process -----------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Build the fleet in-process (fast), then serve it on loopback until stdin closes."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from fleetops_tests.support import aws_fleet
    from fleetops_tests.support.moto_patches import indexed_ec2_tags

    regions = ALL_REGIONS[: args.regions]
    with mock_aws(), nullcontext() if args.stock_moto else indexed_ec2_tags():
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


# -- benchmark process --------------------------------------------------------------------


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

    def reset(self) -> None:
        with self._lock:
            self.seconds = 0.0


@dataclass
class Measurement:
    label: str
    wall_s: float
    cpu_s: float
    moto_s: float
    peak_mb: float
    requests: dict[str, int]
    totals: dict[str, int]

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass
class SizeReport:
    instances_per_region: int
    regions: int
    asgs_per_region: int
    build_s: float
    measurements: list[Measurement] = field(default_factory=list)
    rss_mb: float = 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_fraction(regions: tuple[str, ...], fraction: float, endpoint: str) -> int:
    from fleetops_tests.support import aws_fleet

    stopped = 0
    for region in regions:
        ec2 = aws_fleet.aws("ec2", region, endpoint)
        ids = [
            instance["InstanceId"]
            for page in ec2.get_paginator("describe_instances").paginate()
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
            if instance["State"]["Name"] == "running"
        ]
        chosen = ids[:: max(1, round(1 / fraction))]
        for start in range(0, len(chosen), 500):
            ec2.stop_instances(InstanceIds=chosen[start : start + 500])
        stopped += len(chosen)
    return stopped


def _measure(label: str, sync: Any, timer: MotoTimer, counter: Any, trace: bool) -> Measurement:
    counter.reset()
    timer.reset()
    gc.collect()
    if trace:
        tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0] if trace else 0
    started, cpu_started = time.perf_counter(), time.process_time()
    result = sync()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mb = (tracemalloc.get_traced_memory()[1] - baseline) / 2**20 if trace else float("nan")
    if trace:
        tracemalloc.stop()
    if result.status != "ok":
        raise SystemExit(f"{label}: sync failed: {json.dumps(result.as_dict())[:2000]}")
    print(f"  {label}: {wall:.1f}s", flush=True)
    return Measurement(
        label, wall, cpu, timer.seconds, peak_mb, counter.by_operation(), result.totals()
    )


def bench_size(size: int, args: argparse.Namespace, workdir: Path) -> SizeReport:
    from fleetops.core.aws import AwsClients
    from fleetops.fleet_sync.config import FleetSyncConfig
    from fleetops.fleet_sync.request import SyncRequest
    from fleetops.fleet_sync.sync import SyncDeps, run_sync
    from fleetops_tests.support.counting import RequestCounter
    from fleetops_tests.support.env import base_env

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
        env = base_env(
            REGIONS=",".join(regions),
            WRITE_CONCURRENCY=str(args.write_concurrency),
            LOG_LEVEL="WARNING",
            EC2_PAGE_SIZE=str(RESERVATIONS_PER_PAGE),
            AWS_ENDPOINT_URL=endpoint,
        )
        config = FleetSyncConfig.from_env(env)
        clients = AwsClients.from_config(config)
        counter = RequestCounter().attach(clients)
        timer = MotoTimer()
        timer.attach(clients)
        deps = SyncDeps(config=config, clients=clients)
        request = SyncRequest(trigger="schedule", regions=regions, fleets=None, dry_run=False)

        def sync() -> Any:
            return run_sync(request, deps)

        trace = not args.no_tracemalloc
        report.measurements.append(_measure("first sync", sync, timer, counter, trace))
        report.measurements.append(_measure("no-change re-sync", sync, timer, counter, trace))
        if args.change_fraction > 0:
            stopped = _stop_fraction(regions, args.change_fraction, endpoint)
            report.measurements.append(
                _measure(f"re-sync, {stopped} stopped", sync, timer, counter, trace)
            )
        report.rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
    print("fleet-sync benchmark: moto server in its own process; this process runs the sync")
    header = (
        f"{'inst/region':>11} {'regions':>7} {'ASGs/reg':>8} {'build s':>8}  {'run':<24} {'wall s':>7} "
        f"{'cpu s':>7} {'moto s':>7} {'peak MB':>8} {'requests':>8}  created/updated/tombstoned/unchanged"
    )
    print(header)
    print("-" * len(header))
    for report in reports:
        for index, m in enumerate(report.measurements):
            if index == 0:
                prefix = (
                    f"{report.instances_per_region:>11,} {report.regions:>7} {report.asgs_per_region:>8} "
                    f"{report.build_s:>8.1f}"
                )
            else:
                prefix = " " * 37
            t = m.totals
            print(
                f"{prefix}  {m.label:<24} {m.wall_s:>7.1f} {m.cpu_s:>7.1f} {m.moto_s:>7.1f} {m.peak_mb:>8.1f} "
                f"{m.total_requests:>8}  {t['created']}/{t['updated']}/{t['tombstoned']}/{t['unchanged']}"
            )
    print()
    print("AWS requests by operation")
    columns = [(r, m) for r in reports for m in r.measurements]
    operations = sorted({op for _, m in columns for op in m.requests})
    names = [f"{r.instances_per_region // 1000}k {m.label.split(',')[0][:13]}" for r, m in columns]
    print(f"{'operation':<38}" + "".join(f"{name:>19}" for name in names))
    for op in operations:
        print(f"{op:<38}" + "".join(f"{m.requests.get(op, 0):>19}" for _, m in columns))
    print()
    for report in reports:
        print(
            f"peak RSS of this process after {report.instances_per_region:,}/region: {report.rss_mb:.0f} MB "
            f"(interpreter, boto3 and all runs so far included)"
        )
    print(f"Lambda limits: {LAMBDA_MEMORY_MB} MB, {LAMBDA_TIMEOUT_S} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_serve"])
    parser.add_argument(
        "--sizes", default="1000,3000,10000", help="instances per region, comma-separated"
    )
    parser.add_argument(
        "--regions", type=int, default=3, help=f"number of regions (max {len(ALL_REGIONS)})"
    )
    parser.add_argument(
        "--asg-size", type=int, default=1000, help="instances per ASG (approximately)"
    )
    parser.add_argument("--write-concurrency", type=int, default=16)
    parser.add_argument(
        "--change-fraction",
        type=float,
        default=0.01,
        help="share of instances stopped before the last re-sync",
    )
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="time without tracemalloc's overhead"
    )
    parser.add_argument(
        "--stock-moto", action="store_true", help="keep moto's quadratic EC2 tag lookup"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed for building one fleet"
    )
    parser.add_argument("--instances", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in FAKE_AWS.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)

    if args.mode == "_serve":
        serve(args)
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
