"""The local Lambda service: moto's Invoke API, answered by running the deployed function.

Lambda's behaviour that matters for an operator, reproduced here:
- **Synchronous** invokes (`RequestResponse`: Step Functions tasks, the CLI) return the
  function's result, or its error with `X-Amz-Function-Error: Unhandled`.
- **Asynchronous** invokes (`Event`: EventBridge schedules, alarm actions) are queued; a function
  error is retried as the function's event invoke config says (MaximumRetryAttempts, default 2;
  MaximumEventAgeInSeconds), then the event goes to the dead-letter queue, sent with the
  function's own role as Lambda does (so its `sqs:SendMessage` grant is proven).
- **Concurrency**: at most `ReservedConcurrentExecutions` environments run at once; a
  synchronous invoke beyond that is throttled (429 TooManyRequestsException), an asynchronous
  one waits in the queue. Environments are reused while the function is unchanged (warm starts).
- **Logs** go to the function's log group (one stream per environment), written with the
  role's `logs:CreateLogStream`/`logs:PutLogEvents` as Lambda does: a role without them loses
  its logs, which the audit trail shows.

Every invocation, and every attempt of an asynchronous one, is kept in `Journal`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moto.core.exceptions import JsonRESTError

from fleetops.local_aws.iam_enforcement import AccessDenied, Enforcer, Session
from fleetops.local_aws.iam_requests import Check
from fleetops.local_aws.lambda_environment import (
    CodeStore,
    Credentials,
    EnvironmentError_,
    ExecutionEnvironment,
    FunctionSpec,
    Outcome,
    runtime_client_dir,
)

DEFAULT_CONCURRENCY = 10
"""Unreserved functions: the local stand-in for the account's concurrency (one 2-core machine)."""


@dataclass
class JournalEntry:
    seq: int
    request_id: str
    function_name: str
    function_arn: str
    invocation_type: str
    source: str
    attempt: int
    status: str
    """success, error, throttled, dead-lettered, dropped (too old), or running."""
    started_at: float
    code_sha256: str = ""
    role_arn: str = ""
    duration_ms: float | None = None
    init_ms: float | None = None
    max_memory_mb: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    event: Any = None
    response: Any = None
    log_lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []
        self._lock = threading.Lock()
        self._seq = 0
        self.changed = threading.Condition(self._lock)

    def add(self, **fields: Any) -> JournalEntry:
        with self._lock:
            self._seq += 1
            entry = JournalEntry(seq=self._seq, **fields)
            self._entries.append(entry)
            self.changed.notify_all()
            return entry

    def update(self, entry: JournalEntry, **fields: Any) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(entry, k, v)
            self.changed.notify_all()

    def since(self, seq: int = 0) -> list[JournalEntry]:
        with self._lock:
            return [e for e in self._entries if e.seq > seq]


@dataclass
class _AsyncEvent:
    request_id: str
    function_arn: str
    region: str
    account: str
    payload: Any
    source: str
    received: float
    attempt: int = 0
    not_before: float = 0.0


class _Pool:
    """The execution environments of one function, bounded by its concurrency."""

    def __init__(self) -> None:
        self.idle: list[ExecutionEnvironment] = []
        self.busy = 0


class LambdaService:
    def __init__(
        self,
        state_dir: Path,
        endpoint_url: str,
        enforcer: Enforcer,
        xray_address: str | None = None,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        idle_seconds: float = 600.0,
        enforce_memory: bool = True,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.enforcer = enforcer
        self.xray_address = xray_address
        self.retry_delays = retry_delays
        self.idle_seconds = idle_seconds
        self.enforce_memory = enforce_memory
        self.code = CodeStore(state_dir / "code")
        self.code.root.mkdir(parents=True, exist_ok=True)
        self.runtime_dir = runtime_client_dir(state_dir)
        self.journal = Journal()
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Condition()
        self._queue: list[_AsyncEvent] = []
        self._queue_lock = threading.Condition()
        self._in_flight = 0
        """Asynchronous events taken off the queue whose attempt has not finished."""
        self._stopping = threading.Event()
        self._sessions: dict[str, tuple[float, Session]] = {}
        self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True)
        self._reaper = threading.Thread(target=self._reap_loop, daemon=True)
        self._dispatcher.start()
        self._reaper.start()

    # ---- the deployed function ----

    @staticmethod
    def function(account: str, region: str, name: str, qualifier: str | None = None) -> Any:
        from moto.awslambda.utils import get_backend  # moto's choice of Lambda backend

        return get_backend(account, region).get_function(name, qualifier)

    @staticmethod
    def spec_of(fn: Any) -> FunctionSpec:
        kept = getattr(fn, "fleetops_config", {})
        log_group = (
            kept.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{fn.function_name}"
        )
        return FunctionSpec(
            function_name=fn.function_name,
            function_arn=fn.function_arn,
            region=fn.region,
            account=fn.account_id,
            runtime=str(fn.run_time),
            handler=str(fn.handler),
            role_arn=str(fn.role),
            timeout=int(fn.timeout),
            memory_size=int(fn.memory_size),
            environment=dict(fn.environment_vars or {}),
            code_sha256=str(fn.code_sha_256),
            log_group=str(log_group),
            tracing_active=(fn.tracing_config or {}).get("Mode") == "Active",
        )

    @staticmethod
    def concurrency_of(fn: Any) -> int:
        reserved = fn.reserved_concurrency
        return DEFAULT_CONCURRENCY if reserved in (None, "") else int(reserved)

    @staticmethod
    def invoke_config_of(fn: Any) -> dict[str, Any]:
        configs = getattr(fn, "event_invoke_config", None) or []
        return dict(configs[-1].config) if configs else {}

    # ---- roles ----

    def session_for_role(
        self, account: str, partition: str, role_arn: str, session_name: str, service: str
    ) -> Session:
        """A session of `role_arn` as the `service` principal would obtain it (cached ~1 h)."""
        key = f"{role_arn}|{session_name}|{service}"
        cached = self._sessions.get(key)
        if cached and cached[0] > time.time():
            return cached[1]
        session = assume_role_as_service(
            account, partition, role_arn, session_name, service, self.enforcer
        )
        self._sessions[key] = (time.time() + 3000, session)
        return session

    # ---- environments ----

    def _acquire(self, fn: Any, spec: FunctionSpec) -> ExecutionEnvironment | None:
        limit = self.concurrency_of(fn)
        with self._lock:
            pool = self._pools.setdefault(spec.function_arn, _Pool())
            for env in list(pool.idle):
                pool.idle.remove(env)
                if env.alive and env.spec.config_key == spec.config_key:
                    pool.busy += 1
                    return env
                env.close()
            if pool.busy >= limit:
                return None
            pool.busy += 1
        try:
            return self._create(fn, spec)
        except BaseException:
            with self._lock:
                pool.busy -= 1
            raise

    def _release(self, env: ExecutionEnvironment) -> None:
        with self._lock:
            pool = self._pools[env.spec.function_arn]
            pool.busy -= 1
            if env.alive:
                pool.idle.append(env)
            self._lock.notify_all()

    def _create(self, fn: Any, spec: FunctionSpec) -> ExecutionEnvironment:
        if not fn.code_bytes:
            raise EnvironmentError_("Runtime.InvalidCode", f"{spec.function_name} has no code")
        task_root = self.code.task_root(fn.code_bytes, spec.code_sha256)
        from moto.utilities.utils import get_partition

        session = self.session_for_role(
            spec.account,
            get_partition(spec.region),
            spec.role_arn,
            spec.function_name,
            "lambda.amazonaws.com",
        )
        env = ExecutionEnvironment(
            spec,
            task_root,
            self.runtime_dir,
            Credentials(session.access_key_id, session.secret_access_key, session.session_token),
            self.endpoint_url,
            self.xray_address if spec.tracing_active else None,
            self._write_logs,
            self.enforce_memory,
        )
        env.session = session  # type: ignore[attr-defined]
        env.start()
        if spec.tracing_active:
            self._authorize_tracing(session, spec)
        return env

    def _authorize_tracing(self, session: Session, spec: FunctionSpec) -> None:
        """Active tracing: Lambda's X-Ray daemon sends the segments and reads the sampling rules
        with the function's role; without these grants the traces are dropped (not an error)."""
        actions = (
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        )
        try:
            self.enforcer.decide(
                session, [Check(a, "*") for a in actions], "XRayDaemon", spec.region, via="lambda"
            )
        except AccessDenied:
            return

    def _write_logs(self, env: ExecutionEnvironment, lines: list[str]) -> None:
        """Deliver the environment's output to CloudWatch Logs with the role's permissions."""
        from moto.logs.models import logs_backends

        spec = env.spec
        session: Session = env.session  # type: ignore[attr-defined]
        stream_arn = (
            f"arn:aws:logs:{spec.region}:{spec.account}:log-group:{spec.log_group}"
            f":log-stream:{env.log_stream}"
        )
        try:
            self.enforcer.decide(
                session,
                [Check("logs:CreateLogStream", stream_arn), Check("logs:PutLogEvents", stream_arn)],
                "DeliverLogs",
                spec.region,
                via="lambda",
            )
        except AccessDenied:
            return  # Lambda drops the logs of a role that may not write them
        backend = logs_backends[spec.account][spec.region]
        if spec.log_group not in backend.groups:
            return  # Lambda would need logs:CreateLogGroup, which fleet-ops roles never get
        now = int(time.time() * 1000)
        backend.ensure_log_stream(spec.log_group, env.log_stream)
        events = [{"timestamp": now, "message": line} for line in lines if line]
        if events:
            backend.put_log_events(spec.log_group, env.log_stream, events)

    def _reap_loop(self) -> None:
        while not self._stopping.wait(5.0):
            cutoff = time.monotonic() - self.idle_seconds
            with self._lock:
                for pool in self._pools.values():
                    for env in [e for e in pool.idle if e.last_used < cutoff or not e.alive]:
                        pool.idle.remove(env)
                        env.close()

    def reset_environments(self) -> int:
        """Close every idle environment (the next invocation of each function is cold)."""
        with self._lock:
            closed = 0
            for pool in self._pools.values():
                for env in pool.idle:
                    env.close()
                    closed += 1
                pool.idle.clear()
            return closed

    def stop(self) -> None:
        self._stopping.set()
        with self._queue_lock:
            self._queue_lock.notify_all()
        self.reset_environments()

    # ---- one run ----

    def run_once(self, fn: Any, request_id: str, event: Any, trace_sampled: bool) -> Outcome | None:
        """Run one invocation; None when the function's concurrency is exhausted."""
        spec = self.spec_of(fn)
        env = self._acquire(fn, spec)
        if env is None:
            return None
        try:
            trace_id = (
                f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
                f"Parent={uuid.uuid4().hex[:16]};Sampled={1 if trace_sampled else 0}"
            )
            return env.invoke(request_id, event, trace_id)
        finally:
            self._release(env)

    # ---- the Invoke API ----

    def invoke(
        self,
        account: str,
        region: str,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, Any],
        source: str = "api",
    ) -> bytes:
        fn = self.function(account, region, function_name, qualifier)
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        raw = body.encode() if isinstance(body, str) else (body or b"")
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            raise JsonRESTError(
                "InvalidRequestContentException", "Could not parse request body into json"
            ) from None
        if invocation_type == "DryRun":
            return b""
        request_id = str(uuid.uuid4())
        response_headers["x-amzn-RequestId"] = request_id
        if invocation_type == "Event":
            self.enqueue(fn, event, source, request_id)
            return b""
        return self._invoke_sync(fn, request_id, event, source, headers, response_headers)

    def _invoke_sync(
        self,
        fn: Any,
        request_id: str,
        event: Any,
        source: str,
        headers: Any,
        response_headers: dict[str, Any],
    ) -> bytes:
        spec = self.spec_of(fn)
        entry = self._journal_start(spec, request_id, "RequestResponse", source, 1, event)
        try:
            outcome = self.run_once(fn, request_id, event, spec.tracing_active)
        except EnvironmentError_ as exc:
            outcome = Outcome(
                request_id, b"", {"errorType": exc.error_type, "errorMessage": str(exc)}, 0, None, 0
            )
        if outcome is None:
            self.journal.update(entry, status="throttled")
            error = JsonRESTError("TooManyRequestsException", "Rate Exceeded.")
            error.description = json.dumps(
                {
                    "__type": "TooManyRequestsException",
                    "message": "Rate Exceeded.",
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "Type": "User",
                }
            )
            error.code = 429
            raise error
        self._record(entry, outcome)
        response_headers["x-amz-executed-version"] = "$LATEST"
        if outcome.error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        if headers.get("X-Amz-Log-Type") == "Tail":
            import base64

            tail = "\n".join(outcome.log_lines).encode()[-4096:]
            response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
        return outcome.payload

    def _journal_start(
        self,
        spec: FunctionSpec,
        request_id: str,
        invocation_type: str,
        source: str,
        attempt: int,
        event: Any,
        status: str = "running",
    ) -> JournalEntry:
        return self.journal.add(
            request_id=request_id,
            function_name=spec.function_name,
            function_arn=spec.function_arn,
            invocation_type=invocation_type,
            source=source,
            attempt=attempt,
            status=status,
            started_at=time.time(),
            code_sha256=spec.code_sha256,
            role_arn=spec.role_arn,
            event=event,
        )

    def _record(self, entry: JournalEntry, outcome: Outcome, status: str | None = None) -> None:
        error = outcome.error or {}
        response: Any = None
        if outcome.error is None and outcome.payload:
            try:
                response = json.loads(outcome.payload)
            except ValueError:
                response = outcome.payload.decode(errors="replace")
        self.journal.update(
            entry,
            status=status or ("error" if outcome.error else "success"),
            duration_ms=round(outcome.duration_ms, 2),
            init_ms=None if outcome.init_ms is None else round(outcome.init_ms, 2),
            max_memory_mb=outcome.max_memory_mb,
            error_type=error.get("errorType"),
            error_message=error.get("errorMessage"),
            response=response,
            log_lines=outcome.log_lines[-200:],
        )

    # ---- asynchronous invocation ----

    def enqueue(self, fn: Any, event: Any, source: str, request_id: str | None = None) -> str:
        item = _AsyncEvent(
            request_id=request_id or str(uuid.uuid4()),
            function_arn=fn.function_arn,
            region=fn.region,
            account=fn.account_id,
            payload=event,
            source=source,
            received=time.time(),
        )
        with self._queue_lock:
            self._queue.append(item)
            self._queue_lock.notify_all()
        return item.request_id

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            with self._queue_lock:
                now = time.time()
                due = [e for e in self._queue if e.not_before <= now]
                if not due:
                    waits = [e.not_before - now for e in self._queue]
                    self._queue_lock.wait(min(waits) if waits else 1.0)
                    continue
                for item in due:
                    self._queue.remove(item)
                self._in_flight += len(due)
            for item in due:
                threading.Thread(target=self._attempt_tracked, args=(item,), daemon=True).start()

    def _attempt_tracked(self, item: _AsyncEvent) -> None:
        try:
            self._attempt(item)
        finally:
            with self._queue_lock:
                self._in_flight -= 1
                self._queue_lock.notify_all()

    def _requeue(self, item: _AsyncEvent, delay: float) -> None:
        item.not_before = time.time() + delay
        with self._queue_lock:
            self._queue.append(item)
            self._queue_lock.notify_all()

    def _attempt(self, item: _AsyncEvent) -> None:
        name = item.function_arn.rsplit(":", 1)[-1]
        try:
            fn = self.function(item.account, item.region, name)
        except Exception:  # the function was deleted: Lambda drops its events
            return
        config = self.invoke_config_of(fn)
        max_retries = int(config.get("MaximumRetryAttempts", 2))
        max_age = int(config.get("MaximumEventAgeInSeconds", 21600))
        spec = self.spec_of(fn)
        if time.time() - item.received > max_age:
            self._dead_letter(
                fn,
                item,
                {"errorType": "EventAgeExceeded", "errorMessage": f"event older than {max_age} s"},
                "dropped",
            )
            return
        entry = self._journal_start(
            spec, item.request_id, "Event", item.source, item.attempt + 1, item.payload
        )
        try:
            outcome = self.run_once(fn, item.request_id, item.payload, spec.tracing_active)
        except EnvironmentError_ as exc:
            outcome = Outcome(
                item.request_id,
                b"",
                {"errorType": exc.error_type, "errorMessage": str(exc)},
                0,
                None,
                0,
            )
        if outcome is None:
            # Throttled: Lambda keeps the event and tries again (up to the maximum event age).
            self.journal.update(entry, status="throttled")
            self._requeue(item, 0.2)
            return
        self._record(entry, outcome)
        if outcome.error is None:
            return
        item.attempt += 1
        if item.attempt <= max_retries:
            delay = self.retry_delays[min(item.attempt - 1, len(self.retry_delays) - 1)]
            self._requeue(item, delay)
            return
        self._dead_letter(fn, item, outcome.error, "dead-lettered", entry)

    def _dead_letter(
        self,
        fn: Any,
        item: _AsyncEvent,
        error: dict[str, Any],
        status: str,
        entry: JournalEntry | None = None,
    ) -> None:
        """Send the failed event to the function's dead-letter queue, with its own role."""
        from moto.sqs.models import sqs_backends
        from moto.utilities.utils import get_partition

        target = getattr(fn, "fleetops_config", {}).get("DeadLetterConfig", {}).get("TargetArn")
        spec = self.spec_of(fn)
        if entry is None:
            entry = self._journal_start(
                spec, item.request_id, "Event", item.source, item.attempt, item.payload, status
            )
        if not target or not target.startswith("arn:aws:sqs:"):
            self.journal.update(entry, status="dropped")
            return
        session = self.session_for_role(
            spec.account,
            get_partition(spec.region),
            spec.role_arn,
            spec.function_name,
            "lambda.amazonaws.com",
        )
        from fleetops.local_aws.iam_requests import Call, checks_for
        from fleetops.local_aws.moto_lookups import MotoLookups

        call = Call(
            "sqs",
            "SendMessage",
            {"QueueUrl": f"/{target.split(':')[4]}/{target.split(':')[5]}"},
            target.split(":")[3],
            spec.account,
            session.principal_arn,
        )
        try:
            self.enforcer.decide(
                session,
                checks_for(call, MotoLookups(spec.account)),
                "SendMessage",
                call.region,
                via="lambda",
            )
        except AccessDenied:
            self.journal.update(entry, status="dropped")
            return
        queue_region, queue_name = target.split(":")[3], target.split(":")[5]
        sqs_backends[spec.account][queue_region].send_message(
            queue_name,
            json.dumps(item.payload),
            message_attributes={
                "RequestID": {"DataType": "String", "StringValue": item.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {
                    "DataType": "String",
                    "StringValue": str(error.get("errorMessage", ""))[:1000],
                },
            },
        )
        self.journal.update(entry, status=status if status == "dropped" else "dead-lettered")

    def wait_idle(self, timeout: float) -> bool:
        """True once no asynchronous event is queued or running (tests wait on this)."""
        deadline = time.time() + timeout
        with self._queue_lock:
            while self._queue or self._in_flight:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return False
                self._queue_lock.wait(min(remaining, 0.5))
        return True


def assume_role_as_service(
    account: str, partition: str, role_arn: str, session_name: str, service: str, enforcer: Enforcer
) -> Session:
    """`sts:AssumeRole` as an AWS service principal would: only if the role trusts `service`."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    role_name = role_arn.split("/")[-1]
    try:
        role = iam_backends[account][partition].get_role(role_name)
    except Exception:
        raise EnvironmentError_("Runtime.InvalidRole", f"role {role_arn} does not exist") from None
    if not trusts(role.assume_role_policy_document, service):
        raise EnvironmentError_(
            "Runtime.InvalidRole",
            f"The role defined for the function cannot be assumed by {service}: {role_arn}",
        )
    assumed = sts_backends[account][partition].assume_role(
        region_name="us-east-1",
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=43200,
        external_id="",
    )
    session = enforcer.session_for(account, partition, assumed.access_key_id)
    assert session is not None
    return session


def trusts(document: Any, service: str) -> bool:
    """Whether a trust policy lets `service` (e.g. lambda.amazonaws.com) call sts:AssumeRole."""
    from urllib.parse import unquote

    if isinstance(document, str):
        document = json.loads(document if document.lstrip().startswith("{") else unquote(document))
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principals = (statement.get("Principal") or {}).get("Service", [])
        principals = principals if isinstance(principals, list) else [principals]
        if service in principals:
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
