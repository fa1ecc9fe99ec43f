"""One Lambda execution environment: a function's own code, runtime and role, in a process.

What Lambda does, and this reproduces:
- the code is the zip stored in the deployed function (its bytes are checked against the
  function's CodeSha256), unpacked into a read-only task root;
- the runtime is the function's: python3.11 runs awslambdaric (the runtime interface client of
  AWS's python3.11 image) in a bare interpreter (`-I -S -B`: no site-packages, no user paths, no
  bytecode written), provided.al2023 executes the zip's `bootstrap`; either polls a Runtime API
  of its own on loopback (`runtime_api.LocalRuntimeApi`);
- the environment variables are the function's plus Lambda's reserved ones, and nothing of the
  host's (the only local addition is AWS_ENDPOINT_URL, the local AWS);
- the credentials are a session of the function's execution role, obtained the way Lambda does
  (`sts:AssumeRole`, allowed only if the role trusts `lambda.amazonaws.com`);
- timeout, memory size (the process is killed when its resident memory exceeds it), and the
  log stream (`START`/`END`/`REPORT` lines included) in the function's log group.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetops.local_aws.runtime_api import Invocation, LocalRuntimeApi

PYTHON_RUNTIMES = {"python3.11": (3, 11)}
CUSTOM_RUNTIMES = {"provided.al2023", "provided.al2"}
INIT_TIMEOUT_SECONDS = 10.0
"""Lambda gives the init phase 10 s (on-demand functions)."""

RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
"""Variables Lambda sets itself; a function's own value for one of them is ignored, as in AWS."""


class EnvironmentError_(Exception):
    """The environment could not be created (code, role, runtime): the invocation fails."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class FunctionSpec:
    """Everything an execution environment takes from the deployed function."""

    function_name: str
    function_arn: str
    region: str
    account: str
    runtime: str
    handler: str
    role_arn: str
    timeout: int
    memory_size: int
    environment: Mapping[str, str]
    code_sha256: str
    """Base64 sha256 of the zip, as Lambda reports it (CodeSha256)."""
    log_group: str
    tracing_active: bool
    version: str = "$LATEST"

    @property
    def config_key(self) -> str:
        """Environments are reused only for an unchanged function (code and configuration)."""
        data = json.dumps(
            [
                self.code_sha256,
                self.runtime,
                self.handler,
                self.role_arn,
                self.timeout,
                self.memory_size,
                sorted(self.environment.items()),
            ]
        )
        return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


@dataclass
class Outcome:
    """What one invocation did in its environment."""

    request_id: str
    payload: bytes
    error: dict[str, Any] | None
    duration_ms: float
    init_ms: float | None
    max_memory_mb: int
    log_lines: list[str] = field(default_factory=list)
    fatal: bool = False
    """The environment is gone (timeout, crash, out of memory, init error)."""


class CodeStore:
    """Unpacked code by sha256, read-only, shared by every environment of the same bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def task_root(self, code: bytes, code_sha256_b64: str) -> Path:
        digest = hashlib.sha256(code)
        if base64.b64encode(digest.digest()).decode() != code_sha256_b64:
            raise EnvironmentError_(
                "Runtime.InvalidCode",
                f"stored code does not match CodeSha256 {code_sha256_b64}",
            )
        target = self.root / digest.hexdigest()
        with self._lock:
            if not (target / ".complete").exists():
                staging = self.root / f".{digest.hexdigest()}.{uuid.uuid4().hex}"
                with zipfile.ZipFile(io.BytesIO(code)) as zf:
                    zf.extractall(staging)
                    for info in zf.infolist():
                        mode = (info.external_attr >> 16) & 0o777
                        path = staging / info.filename
                        if mode and not info.is_dir():
                            path.chmod(mode)
                (staging / ".complete").write_text(code_sha256_b64)
                _make_read_only(staging)
                if target.exists():
                    _make_writable(target)
                    shutil.rmtree(target)
                staging.rename(target)
        return target


def _make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o7777
        path.chmod(mode & ~0o222)


def _make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod((path.stat().st_mode & 0o7777) | 0o200)


def runtime_client_dir(root: Path) -> Path:
    """awslambdaric and its own dependencies, linked into one folder for the bare interpreter
    (the python3.11 image keeps them in /var/runtime, outside the function's code)."""
    import awslambdaric
    import runtime_client  # awslambdaric's C extension
    import simplejson  # pants: no-infer-dep (awslambdaric's own dependency)
    import snapshot_restore_py  # pants: no-infer-dep (awslambdaric's own dependency)

    out = root / "runtime"
    if (out / ".complete").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for module in (awslambdaric, simplejson, snapshot_restore_py):
        src = Path(module.__file__ or "")
        src = src.parent if src.name == "__init__.py" else src
        link = out / src.name
        if not link.exists():
            link.symlink_to(src)
    so = Path(runtime_client.__file__ or "")
    if not (out / so.name).exists():
        (out / so.name).symlink_to(so)
    (out / ".complete").write_text("")
    return out


LogSink = Callable[["ExecutionEnvironment", list[str]], None]


class ExecutionEnvironment:
    """A runtime process of one function version, reused by successive invocations."""

    def __init__(
        self,
        spec: FunctionSpec,
        task_root: Path,
        runtime_dir: Path,
        credentials: Credentials,
        endpoint_url: str,
        xray_address: str | None,
        log_sink: LogSink,
        enforce_memory: bool = True,
    ) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.task_root = task_root
        self.runtime_dir = runtime_dir
        self.credentials = credentials
        self.endpoint_url = endpoint_url
        self.xray_address = xray_address
        self.log_sink = log_sink
        self.enforce_memory = enforce_memory
        self.created = time.monotonic()
        self.last_used = self.created
        self.invocations = 0
        self.log_stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{spec.version}]{self.id}"
        self.api = LocalRuntimeApi(spec.function_arn)
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._lines_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._init_ms: float | None = None
        self.init_report: tuple[float, int] | None = None
        """(init duration ms, peak resident MiB before the first event), once initialized."""
        self.closed = False

    # ---- process ----

    def environment_variables(self) -> dict[str, str]:
        spec = self.spec
        env = {k: v for k, v in spec.environment.items() if k not in RESERVED_VARIABLES}
        env.update(
            {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "en_US.UTF-8",
                "TZ": ":UTC",
                "LD_LIBRARY_PATH": "/usr/lib64:/usr/lib",
                "_HANDLER": spec.handler,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_ACCESS_KEY": self.credentials.access_key_id,
                "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
                "AWS_SESSION_TOKEN": self.credentials.session_token,
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "LAMBDA_TASK_ROOT": str(self.task_root),
                "LAMBDA_RUNTIME_DIR": str(self.runtime_dir),
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
                # The one local addition: every AWS call goes to the local AWS.
                "AWS_ENDPOINT_URL": self.endpoint_url,
            }
        )
        if self.xray_address:
            host, _, port = self.xray_address.rpartition(":")
            env["AWS_XRAY_DAEMON_ADDRESS"] = self.xray_address
            env["_AWS_XRAY_DAEMON_ADDRESS"] = host
            env["_AWS_XRAY_DAEMON_PORT"] = port
        return env

    def _command(self) -> list[str]:
        spec = self.spec
        if spec.runtime in PYTHON_RUNTIMES:
            if sys.version_info[:2] != PYTHON_RUNTIMES[spec.runtime]:
                raise EnvironmentError_(
                    "Runtime.Unavailable",
                    f"{spec.runtime} needs Python {PYTHON_RUNTIMES[spec.runtime]}; "
                    f"the local AWS runs {sys.version_info[:2]}",
                )
            boot = (
                f"import sys; sys.path[:0] = [{str(self.task_root)!r}, {str(self.runtime_dir)!r}]; "
                "from awslambdaric import bootstrap; "
                f"bootstrap.run({str(self.task_root)!r}, {spec.handler!r}, {self.api.address!r})"
            )
            return [sys.executable, "-I", "-S", "-B", "-c", boot]
        if spec.runtime in CUSTOM_RUNTIMES:
            bootstrap = self.task_root / "bootstrap"
            if not bootstrap.is_file() or not os.access(bootstrap, os.X_OK):
                raise EnvironmentError_(
                    "Runtime.InvalidEntrypoint",
                    "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
                )
            return [str(bootstrap)]
        raise EnvironmentError_("Runtime.Unsupported", f"runtime {spec.runtime} is not emulated")

    def start(self) -> None:
        command = self._command()
        self.api.start()
        started = time.monotonic()
        self._process = subprocess.Popen(
            command,
            cwd=self.task_root,
            env=self.environment_variables(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        deadline = started + INIT_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.api.initialized.wait(0.02) or self.api.init_error_event.is_set():
                break
            if self._process.poll() is not None:
                break
        if self.api.initialized.is_set() and self.api.initialized_at is not None:
            self._init_ms = (self.api.initialized_at - started) * 1000
            self.init_report = (self._init_ms, self.memory_mb()[1])

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for raw in iter(self._process.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self._lines_lock:
                self._lines.append(line)

    def _take_lines(self) -> list[str]:
        with self._lines_lock:
            lines, self._lines = self._lines, []
        return lines

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None and not self.closed

    def memory_mb(self) -> tuple[int, int]:
        """(current, peak) resident memory of the runtime process, MiB."""
        if self._process is None:
            return 0, 0
        current = peak = 0
        try:
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) // 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) // 1024
        except OSError:
            pass
        return current, peak

    # ---- invocations ----

    def invoke(self, request_id: str, event: Any, trace_id: str) -> Outcome:
        spec = self.spec
        init_ms, self._init_ms = self._init_ms, None
        began = time.monotonic()
        deadline_ms = int(time.time() * 1000 + spec.timeout * 1000)
        lines = [f"START RequestId: {request_id} Version: {spec.version}"]
        inv = Invocation(
            request_id=request_id, event=event, deadline_ms=deadline_ms, trace_id=trace_id
        )
        error, fatal, peak = self._run(inv, began)
        duration_ms = (time.monotonic() - began) * 1000
        self.invocations += 1
        self.last_used = time.monotonic()
        time.sleep(0.01)  # let the reader catch the handler's last lines
        lines.extend(self._take_lines())
        lines.append(f"END RequestId: {request_id}")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {spec.memory_size} MB\t"
            f"Max Memory Used: {peak} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        lines.append(report)
        self.log_sink(self, lines)
        payload = inv.raw_response if error is None else json.dumps(error).encode()
        if fatal:
            self.close()
        return Outcome(request_id, payload, error, duration_ms, init_ms, peak, lines, fatal)

    def _run(self, inv: Invocation, began: float) -> tuple[dict[str, Any] | None, bool, int]:
        spec = self.spec
        peak = 0
        if self.api.init_error_event.is_set():
            error = dict(self.api.init_error or {})
            error.setdefault("errorType", "Runtime.Unknown")
            return error, True, self.memory_mb()[1]
        if not self.alive:
            return self._exit_error(inv.request_id), True, 0
        self.api.submit(inv)
        deadline = began + spec.timeout
        while not inv.done.wait(0.02):
            current, peak = self.memory_mb()
            if self.enforce_memory and current > spec.memory_size:
                self.close()
                return (
                    {
                        "errorType": "Runtime.OutOfMemory",
                        "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited with "
                        f"error: signal: killed (resident memory {current} MB > {spec.memory_size} MB)",
                    },
                    True,
                    current,
                )
            if self.api.init_error_event.is_set():
                error = dict(self.api.init_error or {})
                error.setdefault("errorType", "Runtime.Unknown")
                return error, True, peak
            if not self.alive:
                return self._exit_error(inv.request_id), True, peak
            if time.monotonic() > deadline:
                self.close()
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                return (
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"{stamp}Z {inv.request_id} Task timed out after "
                        f"{spec.timeout:.2f} seconds",
                    },
                    True,
                    peak,
                )
        peak = max(peak, self.memory_mb()[1])
        if inv.error is not None:
            error = dict(inv.error)
            error.setdefault("errorType", "Unhandled")
            return error, False, peak
        return None, False, peak

    def _exit_error(self, request_id: str) -> dict[str, Any]:
        code = self._process.poll() if self._process else None
        status = f"signal: {-code}" if code is not None and code < 0 else f"exit status {code}"
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}",
        }

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)
        self.api.close()
