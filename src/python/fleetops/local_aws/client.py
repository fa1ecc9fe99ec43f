"""Client of a running local AWS: its control API, and AWS clients pointed at it.

Used by the CLI (`local-aws`), the deployed-run tests and the benchmarks alike.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ADMIN_CREDENTIALS = {"aws_access_key_id": "local-admin", "aws_secret_access_key": "local-admin"}
"""Static keys (no session token): the local AWS treats them as an administrator, not a role."""


@dataclass
class LocalAws:
    endpoint: str

    def __post_init__(self) -> None:
        if not self.endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise ValueError(f"the local AWS listens on loopback http, not {self.endpoint!r}")

    # ---- control API ----

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback http, see __post_init__)
            f"{self.endpoint}/_localaws/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            # The URL is the loopback endpoint checked in __post_init__ (no file: or other scheme).
            response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310  # nosec B310
            with response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"local AWS {path}: {exc.code} {exc.read()[:2000]!r}") from None

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "health", timeout=5)
        return result

    def audit(self, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"iam/audit?since={since}")
        return result

    def invocations(self, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"lambda/invocations?since={since}")
        return result

    def wait_for_lambdas(self, timeout: float = 300) -> None:
        if not self._call("POST", "lambda/wait", {"timeout": timeout}, timeout=timeout + 30)[
            "idle"
        ]:
            raise TimeoutError(f"asynchronous invocations still running after {timeout}s")

    def reset_environments(self) -> int:
        return int(self._call("POST", "lambda/reset", {})["closed"])

    def fire_rule(self, region: str, rule: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "POST", "events/fire", {"region": region, "rule": rule}
        )
        return result

    def alarm_actions(self, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"alarms/actions?since={since}")
        return result

    def xray_segments(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "xray/segments")
        return result

    # ---- AWS clients (administrator) ----

    def client(self, service: str, region: str) -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint, **ADMIN_CREDENTIALS
        )


@dataclass
class RunningServer:
    """A local AWS server process started by `start_server`."""

    process: subprocess.Popen[bytes] | None
    local: LocalAws
    state_dir: Path
    pid: int

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)


def start_server(
    state_dir: Path,
    port: int = 0,
    log_file: Path | None = None,
    retry_delays: str = "1,2",
    detach: bool = False,
    timeout: float = 60,
) -> RunningServer:
    """Start `fleetops.local_aws.server` in its own process; returns once it serves."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ready = state_dir / "server.json"
    ready.unlink(missing_ok=True)
    log = open(log_file or state_dir / "server.log", "ab")  # noqa: SIM115 (the child owns it)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # The child imports what this process can (a Pants test sandbox, a PEX, a dev checkout).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleetops.local_aws.server",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            "--ready-file",
            str(ready),
            "--async-retry-delays",
            retry_delays,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=detach,
    )
    deadline = time.time() + timeout
    while not ready.exists():
        if process.poll() is not None:
            tail = (
                (state_dir / "server.log").read_text(errors="replace")[-3000:]
                if log_file is None
                else ""
            )
            raise RuntimeError(f"local AWS exited ({process.returncode}):\n{tail}")
        if time.time() > deadline:
            process.kill()
            raise TimeoutError(f"local AWS did not start in {timeout}s")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return RunningServer(
        None if detach else process, LocalAws(info["endpoint"]), state_dir, int(info["pid"])
    )


def running_server(state_dir: Path) -> RunningServer | None:
    """The server a previous `local-aws up` left running in `state_dir`, if any."""
    ready = state_dir / "server.json"
    if not ready.exists():
        return None
    info = json.loads(ready.read_text())
    local = LocalAws(info["endpoint"])
    try:
        local.health()
    except OSError:
        return None
    return RunningServer(None, local, state_dir, int(info["pid"]))
