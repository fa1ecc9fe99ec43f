"""Benchmark: backup and restore of a large registry: time, peak memory, bytes written.

    PYTHONPATH=src/python:tests/python python tests/python/fleetops_tests/benchmarks/bench_backup.py \
        [--sizes 100000,1000000] [--part-size-mb 8] [--restore-workers 8] [--json results.json]

Everything runs against moto on loopback, never AWS. For each size:

1. a *server* process starts moto in-process (`mock_aws`), creates the registry table, the
   backup bucket and the topic, loads N registry items with BatchWriteItem (in-process, the
   fast way to seed moto), then serves that state with moto's ThreadedMotoServer on 127.0.0.1;
2. a *backup* process runs the backup Lambda's domain code (`BackupRunner`, with verification)
   against that server through `AWS_ENDPOINT_URL`, exactly as the Lambda would reach AWS;
3. a *restore* process restores the backup into a new table (`create_table`) the same way.

Why separate processes: moto keeps every table item and every S3 object in its own process's
memory (and assembles multipart objects in memory); measured in-process, that storage would be
counted as the backup's memory. Each phase process measures only what a Lambda would hold:
`tracemalloc` peak (Python heap) and `ru_maxrss` (whole process, includes the interpreter,
boto3 and botocore, ~100 MB before any work).

Moto's DynamoDB Scan serializes each returned item in pure Python (~1-3 ms per item) and sorts
the whole table for every page, so the backup's wall time here is dominated by moto, not by
the code measured; the per-item figures are printed so larger sizes can be extrapolated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REGION = "us-east-1"
TABLE = "fleetops-registry-bench"
TARGET = "fleetops-registry-restored"
BUCKET = "fleetops-backups-bench"
TOPIC = "fleetops-bench"
ACCOUNT = "123456789012"
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "fleetops-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "FleetOpsBench",
    "ENVIRONMENT": "dev",
    "LOG_LEVEL": "ERROR",
    "REGION": REGION,
    "REGIONS": REGION,
    "DDB_TABLE": TABLE,
    "SNS_TOPIC": f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}",
    "BACKUP_BUCKET": BUCKET,
    "BACKUP_KMS_KEY_ID": "alias/fleetops-bench",
    "RETRY_BASE_DELAY_SECONDS": "0.05",
    "RETRY_MAX_DELAY_SECONDS": "1",
}
MIB = 1024 * 1024


def item(index: int) -> dict[str, Any]:
    """A realistic instance item (~25 attributes, ~700 bytes), in DynamoDB wire format.

    Ids, addresses and times are pseudo-random (seeded by the index, so runs are repeatable)
    as in a real fleet: the data compresses like real registry data, not like a template.
    """
    rng = random.Random(index)
    region = ("us-east-1", "us-west-2", "eu-west-1")[index % 3]
    fleet = f"fleet-{rng.randrange(20):02d}"
    iid = f"i-{rng.getrandbits(68):017x}"
    launched = 1793000000 + rng.randrange(2_600_000)
    checked = 1795658000 + rng.randrange(300)
    return {
        "pk": {"S": f"FLEET#{fleet}"},
        "sk": {"S": f"INSTANCE#{region}#{iid}"},
        "entity": {"S": "instance"},
        "fleet": {"S": fleet},
        "region": {"S": region},
        "instance_id": {"S": iid},
        "state": {"S": rng.choice(("running", "running", "running", "stopped", "terminated"))},
        "az": {"S": f"{region}{rng.choice('abc')}"},
        "instance_type": {"S": rng.choice(("m6i.large", "m6i.xlarge", "c6i.2xlarge", "r6i.large"))},
        "asg": {"S": f"{fleet}-asg-{rng.randrange(7)}"},
        "launch_template_id": {"S": f"lt-{rng.getrandbits(68):017x}"},
        "launch_template_version": {"S": str(rng.randrange(1, 14))},
        "lifecycle_state": {"S": "InService"},
        "private_ip": {"S": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"},
        "image_id": {"S": f"ami-{rng.getrandbits(68):017x}"},
        "first_seen": {"S": iso(launched)},
        "last_seen": {"S": iso(checked - rng.randrange(300))},
        "sync_version": {"N": str(rng.randrange(5000))},
        "health": {"S": rng.choice(("healthy", "healthy", "healthy", "unhealthy"))},
        "health_reason": {"S": rng.choice(("all probes passed", "http 503 on /health", "timeout"))},
        "health_checked_at": {"S": iso(checked)},
        "health_version": {"N": str(rng.randrange(5000))},
        "version": {"N": str(rng.randrange(10000))},
        "cpu": {"N": f"{rng.random() * 100:.4f}"},
        "labels": {"SS": ["web", f"shard-{rng.randrange(16)}"]},
    }


def iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- phase: server ---------------------------------------------------------------------------


def serve(items: int, port: int, ready_file: str) -> None:
    import boto3
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    os.environ.update({k: v for k, v in BASE_ENV.items() if k.startswith("AWS_")})
    mock = mock_aws()
    mock.start()
    ddb = boto3.client("dynamodb", region_name=REGION)
    for name in (TABLE,):
        ddb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    boto3.client("sns", region_name=REGION).create_topic(Name=TOPIC)
    started = time.perf_counter()
    for start in range(0, items, 25):
        batch = [{"PutRequest": {"Item": item(i)}} for i in range(start, min(items, start + 25))]
        ddb.batch_write_item(RequestItems={TABLE: batch})
    load_seconds = time.perf_counter() - started
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    Path(ready_file).write_text(json.dumps({"load_seconds": load_seconds}))
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


# -- phases: backup / restore (what a Lambda would run) ---------------------------------------


def bench_clients(config: Any) -> Any:
    """Clients as the Lambda builds them, but with a long read timeout: moto answers one Scan
    page of a large table in tens of seconds (AWS: ~100 ms), beyond the default 20 s."""
    from fleetops.core.aws import AwsClients, client_config

    return AwsClients.from_config(config, botocore_config=client_config(read_timeout=600))


def warm_up(clients: Any) -> None:
    """Create the clients first: botocore's service models (tens of MB of parsed JSON, loaded
    once per container at cold start) are not what the run itself allocates."""
    for service in ("dynamodb", "s3", "sns", "ec2", "autoscaling"):
        clients.client(service, REGION)


def measured(fn: Any, *, trace: bool = True) -> dict[str, Any]:
    """Time, tracemalloc peak (unless `trace=False`: tracemalloc slows allocation-heavy code
    several times over) and the process's ru_maxrss, around `fn()`."""
    if trace:
        tracemalloc.start()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    peak = None
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "seconds": round(seconds, 2),
        "peak_traced_mib": round(peak / MIB, 1) if peak is not None else None,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "result": result,
    }


def run_backup(out: str) -> None:
    from fleetops.backup.backup import BackupDeps, BackupRunner
    from fleetops.backup.config import BackupConfig
    from fleetops.backup.request import BackupRequest

    config = BackupConfig.from_env()
    deps = BackupDeps(config=config, clients=bench_clients(config))
    parts: list[int] = []

    def count_part(params: dict[str, Any], **_: Any) -> None:
        parts.append(len(params["Body"]))

    deps.clients.register("provide-client-params.s3.UploadPart", count_part)
    warm_up(deps.clients)
    request = BackupRequest("manual", time.time(), "bench", None, False)

    def backup() -> dict[str, Any]:
        result = BackupRunner(deps).run(request, owner="bench", lease_seconds=3600)
        return result.as_dict()

    stats = measured(backup)
    stats["parts"] = len(parts)
    stats["part_bytes_max"] = max(parts, default=0)
    Path(out).write_text(json.dumps(stats))


def run_restore(out: str, backup_id: str) -> None:
    from fleetops.backup.config import BackupConfig
    from fleetops.backup.request import RestoreRequest
    from fleetops.backup.restore import RestoreDeps, Restorer

    config = BackupConfig.from_env()
    deps = RestoreDeps(config=config, clients=bench_clients(config))
    request = RestoreRequest(backup_id, TARGET, True, False)
    warm_up(deps.clients)
    stats = measured(lambda: Restorer(deps).run(request))
    Path(out).write_text(json.dumps(stats))


# -- pipeline only (no moto): our per-item cost and memory at any size -----------------------


class FileSink:
    """A `Sink` like `MultipartSink` (one part buffered, parts flushed as they fill, sha256 on
    the fly) whose parts go to a local file instead of UploadPart."""

    def __init__(self, path: Path, part_size: int) -> None:
        import hashlib

        self.path = path
        self.part_size = part_size
        self.bytes = 0
        self.parts_uploaded = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.bytes += len(data)
        self._buffer += data
        while len(self._buffer) >= self.part_size:
            with memoryview(self._buffer) as view:  # as MultipartSink: one copy of the part
                self._file.write(bytes(view[: self.part_size]))
            del self._buffer[: self.part_size]
            self.parts_uploaded += 1

    def close(self) -> Any:
        from fleetops.backup.s3store import StoredObject

        self._file.write(bytes(self._buffer))
        self.parts_uploaded += 1
        self._buffer = bytearray()
        self._file.close()
        return StoredObject(str(self.path), self.bytes, self._hash.hexdigest(), "")

    def abort(self) -> None:
        self._file.close()


def run_pipeline(size: int, part_size_mb: int, workdir: Path, *, trace: bool) -> dict[str, Any]:
    """Export `size` items through the backup's writer, then read them back as restore does."""
    from fleetops.backup import ddbjson
    from fleetops.backup.jsonl import GzipLinesWriter, StreamStats, read_gzip_lines
    from fleetops.backup.restore import to_python_item

    path = workdir / "registry.jsonl.gz"
    sink = FileSink(path, part_size_mb * MIB)

    def export() -> dict[str, Any]:
        writer = GzipLinesWriter(sink)
        for index in range(size):
            writer.write_line(ddbjson.item_line(item(index)))
        stored = writer.close()
        return {"bytes": stored.bytes, "sha256": stored.sha256, "parts": sink.parts_uploaded}

    def read_back() -> dict[str, Any]:
        stats = StreamStats()
        chunk: list[Any] = []
        with path.open("rb") as handle:
            chunks = iter(lambda: handle.read(1024 * 1024), b"")
            for line in read_gzip_lines(chunks, stats):
                chunk.append(to_python_item(ddbjson.parse_item_line(line)))
                if len(chunk) == 500:
                    chunk = []  # restore hands each chunk to BatchWriteItem here
        return {"items": stats.lines, "bytes": stats.bytes, "sha256": stats.sha256}

    written = measured(export, trace=trace)
    read = measured(read_back, trace=trace)
    path.unlink()
    assert read["result"]["sha256"] == written["result"]["sha256"]
    assert read["result"]["items"] == size
    return {"items": size, "export": written, "read_back": read}


def _traced(stats: dict[str, Any]) -> str:
    peak = stats["peak_traced_mib"]
    return "n/a (--no-trace)" if peak is None else f"{peak} MiB"


def pipeline_report(row: dict[str, Any]) -> str:
    n = row["items"]
    export, read = row["export"], row["read_back"]
    return "\n".join(
        [
            f"== pipeline only (no AWS, no moto): {n:,} registry items ==",
            f"export   : time={export['seconds']}s ({export['seconds'] / n * 1e6:.1f} us/item) "
            f"peak_traced={_traced(export)} max_rss={export['max_rss_mib']} MiB "
            f"bytes={export['result']['bytes']:,} ({export['result']['bytes'] / n:.0f} B/item) "
            f"parts={export['result']['parts']}",
            f"read-back: time={read['seconds']}s ({read['seconds'] / n * 1e6:.1f} us/item) "
            f"peak_traced={_traced(read)} max_rss={read['max_rss_mib']} MiB "
            "(checksum, gunzip, parse, decode to Python items in chunks of 500)",
        ]
    )


# -- orchestration ---------------------------------------------------------------------------


def phase(args: list[str], env: dict[str, str], out: Path, timeout: float) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, __file__, *args, "--out", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=timeout,
    )
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def bench_size(size: int, options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    port = free_port()
    ready = workdir / f"ready-{size}.json"
    env = {**os.environ, **BASE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(
        [
            str(Path(__file__).resolve().parents[2]),
            str(Path(__file__).resolve().parents[4] / "src" / "python"),
        ]
    )
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "_serve",
            "--items",
            str(size),
            "--port",
            str(port),
            "--ready",
            str(ready),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + options.timeout
        while not ready.exists():
            if server.poll() is not None:
                raise RuntimeError(f"moto server for {size} items exited with {server.returncode}")
            if time.time() > deadline:
                raise TimeoutError(f"loading {size} items took longer than {options.timeout}s")
            time.sleep(1)
        load = json.loads(ready.read_text())
        phase_env = {
            **env,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "BACKUP_PART_SIZE_MB": str(options.part_size_mb),
            "RESTORE_WRITE_CONCURRENCY": str(options.restore_workers),
        }
        backup = phase(["_backup"], phase_env, workdir / f"backup-{size}.json", options.timeout)
        backup_id = backup["result"]["backup_id"]
        restore = phase(
            ["_restore", "--backup-id", backup_id],
            phase_env,
            workdir / f"restore-{size}.json",
            options.timeout,
        )
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {
        "items": size,
        "load_seconds": round(load["load_seconds"], 1),
        "backup": backup,
        "restore": restore,
    }


def report(row: dict[str, Any]) -> str:
    backup, restore = row["backup"], row["restore"]
    result = backup["result"]
    n = row["items"]
    lines = [
        f"== {n:,} registry items (moto load {row['load_seconds']}s) ==",
        f"backup : status={result['status']} items={result['items']:,} time={backup['seconds']}s "
        f"({backup['seconds'] / n * 1e6:.0f} us/item) peak_traced={backup['peak_traced_mib']} MiB "
        f"max_rss={backup['max_rss_mib']} MiB (rss before work {backup['rss_before_mib']} MiB)",
        f"         bytes written={result['bytes']:,} (registry {result['objects']['registry']['bytes']:,}, "
        f"{result['objects']['registry']['bytes'] / n:.0f} B/item gzip) "
        f"multipart parts={backup['parts']} (largest {backup['part_bytes_max']:,} B)",
        f"restore: status={restore['result']['status']} items={restore['result']['items']:,} "
        f"time={restore['seconds']}s ({restore['seconds'] / n * 1e6:.0f} us/item) "
        f"peak_traced={restore['peak_traced_mib']} MiB max_rss={restore['max_rss_mib']} MiB",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "mode", nargs="?", default="bench", choices=["bench", "_serve", "_backup", "_restore"]
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--part-size-mb", type=int, default=8)
    parser.add_argument("--restore-workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--pipeline",
        type=int,
        help="instead: push this many items through the export / read-back code, no moto",
    )
    parser.add_argument(
        "--no-trace", action="store_true", help="pipeline: time and ru_maxrss only, no tracemalloc"
    )
    parser.add_argument("--items", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--ready")
    parser.add_argument("--out")
    parser.add_argument("--backup-id")
    options = parser.parse_args()

    if options.mode == "_serve":
        serve(options.items, options.port, options.ready)
        return
    if options.mode == "_backup":
        run_backup(options.out)
        return
    if options.mode == "_restore":
        run_restore(options.out, options.backup_id)
        return

    rows = []
    if options.pipeline:
        with tempfile.TemporaryDirectory(prefix="fleetops-bench-") as tmp:
            row = run_pipeline(
                options.pipeline, options.part_size_mb, Path(tmp), trace=not options.no_trace
            )
        print(pipeline_report(row), flush=True)
        if options.json:
            Path(options.json).write_text(json.dumps(row, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="fleetops-bench-") as tmp:
        for size in (int(s) for s in options.sizes.split(",") if s.strip()):
            row = bench_size(size, options, Path(tmp))
            rows.append(row)
            print(report(row), flush=True)
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
