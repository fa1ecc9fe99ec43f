"""The Python Lambda zips work on their own, exactly as Lambda runs them.

Each zip is extracted and run by a bare Python 3.11 (`-I -S`: no site-packages, no repo code, no
environment-provided paths), so a dependency missing from the zip fails here, not in AWS. The
end-to-end case then runs the fleet-sync zip under `awslambdaric` (the runtime interface client
AWS's python3.11 runtime uses) against a local Lambda Runtime API and a moto server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetops.fleetctl.catalog import CATALOG, PYTHON_RUNTIME
from fleetops.local_aws.runtime_api import LocalRuntimeApi
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.artifacts import artifact, extract
from fleetops_tests.support.env import FAKE_CREDENTIALS, HOME_REGION, base_env
from fleetops_tests.support.moto_server import moto_server

_STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:fleetops-test-recovery"
_EXTRA_ENV = {
    "health-check": {"RECOVERY_STATE_MACHINE_ARN": _STATE_MACHINE},
    "backup": {"BACKUP_BUCKET": "fleetops-backups-test"},
    "restore": {"BACKUP_BUCKET": "fleetops-backups-test"},
    "cleanup": {"BACKUP_BUCKET": "fleetops-backups-test"},
}
PYTHON_ARTIFACTS: dict[str, dict[str, str]] = {
    spec.name: _EXTRA_ENV.get(spec.name, {}) for spec in CATALOG if spec.runtime == PYTHON_RUNTIME
}
"""Artifact name -> extra variables its cold start needs on top of the shared ones."""

FORBIDDEN_PARTS = ("tests", "fleetops_tests", ".pytest_cache")

UNCHECKED_HASH = 0b01
"""PEP 552 flags of a hash-based pyc that is never re-validated against its source."""


def _bare_python(
    code: str, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(PYTHON_ARTIFACTS))
def test_zip_is_flat_hermetic_and_clean(name: str) -> None:
    with zipfile.ZipFile(artifact(f"{name}.zip")) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert "lambda_function.py" in names, "handler shim missing at the zip root"
    assert any(n.startswith("fleetops/core/") for n in names), "shared core library missing"
    offenders = [n for n in names if set(Path(n).parts) & set(FORBIDDEN_PARTS)]
    assert offenders == [], offenders[:10]
    assert {i.date_time for i in infos} == {
        (1980, 1, 1, 0, 0, 0)
    }, "timestamps would break reproducibility"


@pytest.mark.parametrize("name", sorted(PYTHON_ARTIFACTS))
def test_every_module_carries_its_python_3_11_bytecode(name: str) -> None:
    """Lambda's task root is read-only: without bytecode every cold start compiles every module.
    Each .py has exactly its unchecked-hash pyc (reproducible: no timestamp), for 3.11."""
    import importlib.util

    with zipfile.ZipFile(artifact(f"{name}.zip")) as zf:
        names = set(zf.namelist())
        sources = {n for n in names if n.endswith(".py")}
        pycs = {n for n in names if n.endswith(".pyc")}
        expected = {importlib.util.cache_from_source(n) for n in sources}
        assert sys.implementation.cache_tag == "cpython-311"
        assert pycs == expected, (sorted(expected - pycs)[:5], sorted(pycs - expected)[:5])
        for source in sorted(sources)[:: max(1, len(sources) // 50)]:  # a spread sample
            pyc = zf.read(importlib.util.cache_from_source(source))
            assert pyc[:4] == importlib.util.MAGIC_NUMBER, source
            assert int.from_bytes(pyc[4:8], "little") == UNCHECKED_HASH, source
            assert pyc[8:16] == importlib.util.source_hash(zf.read(source)), source


@pytest.mark.parametrize("name", sorted(PYTHON_ARTIFACTS))
def test_handler_imports_in_a_bare_interpreter(name: str, tmp_path: Path) -> None:
    root = extract(artifact(f"{name}.zip"), tmp_path)
    env = {**base_env(), **FAKE_CREDENTIALS, **PYTHON_ARTIFACTS[name]}
    code = (
        "import os, sys; sys.path.insert(0, os.getcwd()); import lambda_function, fleetops; "
        "assert callable(lambda_function.handler); "
        "assert fleetops.__file__.startswith(os.getcwd()), fleetops.__file__; "
        "print('site' in sys.modules, sorted(p for p in sys.path if 'site-packages' in p))"
    )
    proc = _bare_python(code, root, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "False []", proc.stdout


@pytest.mark.parametrize("name", sorted(PYTHON_ARTIFACTS))
def test_cold_start_rejects_bad_configuration(name: str, tmp_path: Path) -> None:
    root = extract(artifact(f"{name}.zip"), tmp_path)
    env = {
        **base_env(),
        **FAKE_CREDENTIALS,
        **PYTHON_ARTIFACTS[name],
        "DDB_TABLE": "",
        "REGION": "nowhere",
    }
    proc = _bare_python("import sys; sys.path.insert(0, '.'); import lambda_function", root, env)
    assert proc.returncode != 0
    assert "DDB_TABLE" in proc.stderr and "REGION" in proc.stderr, proc.stderr[-2000:]


def _runtime_client_dir(tmp_path: Path) -> Path:
    """Only awslambdaric and its own dependencies, linked into one folder for the bare interpreter."""
    import awslambdaric
    import runtime_client  # awslambdaric's C extension
    import simplejson  # pants: no-infer-dep (awslambdaric's own dependency)
    import snapshot_restore_py  # pants: no-infer-dep (awslambdaric's own dependency)

    out = tmp_path / "ric"
    out.mkdir()
    for module in (awslambdaric, simplejson, snapshot_restore_py):
        src = Path(module.__file__ or "")
        src = src.parent if src.name == "__init__.py" else src
        (out / src.name).symlink_to(src)
    so = Path(runtime_client.__file__ or "")
    (out / so.name).symlink_to(so)
    return out


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_fleet_sync_zip_runs_under_the_lambda_runtime_against_moto(
    moto_endpoint: str, tmp_path: Path
) -> None:
    aws_fleet.create_registry_table(endpoint_url=moto_endpoint)
    aws_fleet.create_topic(endpoint_url=moto_endpoint)
    aws_fleet.build_fleet(
        "web", [HOME_REGION], asgs_per_region=1, instances_per_asg=3, endpoint_url=moto_endpoint
    )
    root = extract(artifact("fleet-sync.zip"), tmp_path)
    ric = _runtime_client_dir(tmp_path)
    with LocalRuntimeApi() as api:
        env = {
            **base_env(REGIONS=HOME_REGION),
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "fleetops-dev-fleet-sync",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "LAMBDA_TASK_ROOT": str(root),
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        code = (
            f"import sys; sys.path[:0] = [{str(root)!r}, {str(ric)!r}]; "
            "from awslambdaric import bootstrap; "
            f"bootstrap.run({str(root)!r}, 'lambda_function.handler', {api.address!r})"
        )
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", code],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            first = api.invoke({"fleets": ["web"]}, timeout=120)
            again = api.invoke({"fleets": ["web"]}, timeout=120)
            bad = api.invoke({"fleets": ["web"], "colour": "blue"}, timeout=60)
        finally:
            proc.kill()
            output = proc.communicate(timeout=30)[0]
    assert first.error is None, (first.error, output[-3000:])
    assert again.error is None, (again.error, output[-3000:])
    instances = [
        i for i in aws_fleet.scan_table(endpoint_url=moto_endpoint) if i["entity"] == "instance"
    ]
    assert len(instances) == 3
    assert {i["state"] for i in instances} == {"running"}
    assert first.response["status"] == "ok" and first.response["counts"]["created"] >= 3
    assert again.response["counts"]["created"] == again.response["counts"]["updated"] == 0
    assert bad.error is not None and "colour" in json.dumps(bad.error)
    # Structured JSON logs with the Lambda request id, as Powertools writes them in AWS.
    log_lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("function_request_id") for line in log_lines), output[-2000:]
