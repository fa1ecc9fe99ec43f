"""Benchmark: artifact size and cold-start import time of every Python Lambda zip in dist/.

Prints numbers; asserts nothing. Each zip is extracted and its handler module imported by a bare
Python 3.11 (`-I -S`, as in test_python_artifacts), N times; the median wall time and peak RSS of
the import are reported. Run after `./pants package ::`:

    python tests/python/fleetops_tests/benchmarks/bench_cold_start.py [dist] [runs]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ENV = {
    "PATH": "/usr/bin:/bin",
    "ENVIRONMENT": "dev",
    "REGION": "us-east-1",
    "DDB_TABLE": "fleetops-registry-bench",
    "SNS_TOPIC": "arn:aws:sns:us-east-1:123456789012:fleetops-bench",
    "BACKUP_BUCKET": "fleetops-backups-bench",
    "RECOVERY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:recovery",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
PROBE = (
    "import os, resource, sys, time; sys.path.insert(0, os.getcwd()); t = time.perf_counter(); "
    "import lambda_function; dt = time.perf_counter() - t; "
    "print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def measure(zip_path: Path, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        times, rss = [], []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-I", "-S", "-c", PROBE],
                cwd=tmp,
                env=ENV,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            times.append(float(out[0]))
            rss.append(int(out[1]))
    return {
        "size_mib": round(zip_path.stat().st_size / 2**20, 1),
        "import_ms_median": round(statistics.median(times) * 1000, 1),
        "import_ms_min": round(min(times) * 1000, 1),
        "peak_rss_mib": round(max(rss) / 1024, 1),
    }


def main(dist: str = "dist", runs: str = "5") -> None:
    results = {}
    for zip_path in sorted(Path(dist, "lambdas").glob("*.zip")):
        with zipfile.ZipFile(zip_path) as zf:
            if "lambda_function.py" not in zf.namelist():
                results[zip_path.stem] = {"size_mib": round(zip_path.stat().st_size / 2**20, 1)}
                continue
        results[zip_path.stem] = measure(zip_path, int(runs))
    print(f"{'artifact':16} {'MiB':>6} {'import ms (median)':>19} {'min':>7} {'peak RSS MiB':>13}")
    for name, r in results.items():
        print(
            f"{name:16} {r['size_mib']:>6} {r.get('import_ms_median', '-'):>19} "
            f"{r.get('import_ms_min', '-'):>7} {r.get('peak_rss_mib', '-'):>13}"
        )
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:])
