"""Benchmark of health-check over moto fleets: prints numbers, asserts nothing.

    PYTHONPATH=src/python:tests/python python tests/python/fleetops_tests/benchmarks/bench_health_check.py \
        --sizes 300,1000 --regions 1

For each size (instances per region) it builds, in a fresh in-process moto, one fleet of ASGs of
up to 500 instances each (behind one target group per region), records it with fleet-sync, then
measures four health-check runs, one simulated minute apart:

1. first run (every instance gets its health fields: one write each);
2. steady run (nothing changed, heartbeat not due: reads only);
3. 2% of the instances impaired (writes for those, reboots within the budget);
4. 60% impaired (the fleet breaker opens: no remediation, one StartExecution + one SNS).

For each: wall time, tracemalloc peak above the pre-run baseline (an upper bound: it includes
moto building its responses in-process) and the AWS requests by operation, which are exact and
are what matters: reads grow with pages (1000 statuses per DescribeInstanceStatus page, one
DescribeTargetHealth per target group), writes with changes.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "health-check-bench")
os.environ.setdefault("LOG_LEVEL", "WARNING")
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

# Imported after the environment above is set: Powertools reads it at import.
from moto import mock_aws  # noqa: E402

from fleetops.core.observability import logger  # noqa: E402
from fleetops.health_check.report import HealthResult  # noqa: E402
from fleetops.health_check.run import HealthDeps, run_health_check  # noqa: E402
from fleetops_tests.health_check import helpers as h  # noqa: E402
from fleetops_tests.support import aws_fleet  # noqa: E402
from fleetops_tests.support.counting import RequestCounter  # noqa: E402
from fleetops_tests.support.env import FLEET_REGIONS  # noqa: E402

ASG_SIZE = 500


def measure(
    label: str, deps: HealthDeps, counter: RequestCounter, regions: tuple[str, ...]
) -> None:
    counter.reset()
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    result: HealthResult = run_health_check(h.manual(regions), deps)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    counts = result.totals()
    breaker = result.fleets["bench"].breaker["state"]
    print(
        f"  {label:<28} {elapsed:6.2f}s  peak {peak / 2**20:6.1f} MiB  "
        f"checked={counts['checked']} impaired={counts['impaired']} rebooted={counts['rebooted']} "
        f"skipped_budget={counts['skipped_budget']} breaker={breaker}"
    )
    print(f"  {'':<28} requests={counter.total()} {counter.by_operation()}")
    deps.clock.advance(60)  # type: ignore[attr-defined]


def bench(size: int, regions: tuple[str, ...]) -> None:
    print(f"{size} instances per region x {len(regions)} region(s)")
    with mock_aws():
        aws_fleet.create_registry_table()
        aws_fleet.create_topic()
        h.create_state_machine()
        asgs = max(1, size // ASG_SIZE)
        fleet = h.build("bench", regions, asgs_per_region=asgs, instances_per_asg=size // asgs)
        h.sync_registry(regions)
        clock = h.FakeClock()
        deps = h.deps(
            clock,
            REGIONS=",".join(regions),
            HEALTH_HEARTBEAT_SECONDS="300",
            UNHEALTHY_CHECKS_BEFORE_ACTION="1",
            REMEDIATION_BUDGET_SHARE="0.01",
            BREAKER_UNHEALTHY_SHARE="0.3",
            WRITE_CONCURRENCY="16",
        )
        injector = h.StatusInjector().attach(deps.clients)
        counter = RequestCounter().attach(deps.clients)
        measure("first run", deps, counter, regions)
        measure("steady", deps, counter, regions)
        for region in regions:
            ids = fleet.ids(region)
            injector.impair(ids[: max(1, len(ids) // 50)])
        measure("2% impaired", deps, counter, regions)
        injector.heal()
        for region in regions:
            ids = fleet.ids(region)
            injector.impair(ids[: len(ids) * 6 // 10])
        measure("60% impaired (breaker)", deps, counter, regions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="300,1000", help="instances per region, comma-separated")
    parser.add_argument("--regions", type=int, default=1, choices=range(1, len(FLEET_REGIONS) + 1))
    args = parser.parse_args()
    logger.setLevel("WARNING")
    regions = FLEET_REGIONS[: args.regions]
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        bench(size, regions)


if __name__ == "__main__":
    main()
