"""AWS clients per region, and the one way fleet-ops calls AWS: retried and behind a breaker.

Why one retry layer (tenacity) instead of botocore's built-in retries: botocore's own retries are
switched off (`total_max_attempts=1`) so that attempts, delays and jitter are decided in one
place, are configurable per deployment (zero delays in tests), are logged, and feed the circuit
breaker attempt by attempt. Otherwise a "5 attempts" policy silently becomes 5 x 3 requests.

Layering of a guarded call (`Guard.call`): tenacity retries transient errors (throttling, 5xx,
connection errors) with full-jitter exponential backoff; each attempt passes through the
dependency's circuit breaker; an open breaker raises `CircuitOpenError`, which is not retried,
so a dead dependency costs one fast failure instead of a backoff ladder per call.

`AWS_ENDPOINT_URL` (via `BaseConfig.aws_endpoint_url`) points every client at one endpoint, e.g.
a moto server. `endpoint_overrides` maps a region to its own endpoint, which is how tests take a
single region "down" (a closed loopback port) while the others keep working.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import boto3
import botocore.session
import tenacity
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from fleetops.core.breaker import CircuitBreaker, CircuitBreakers
from fleetops.core.errors import CircuitOpenError, FleetOpsError
from fleetops.core.observability import logger

if TYPE_CHECKING:
    from fleetops.core.config import BaseConfig

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
"""Throttling and server-side error codes worth another attempt even when the HTTP status is not 5xx."""


DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, FleetOpsError)
"""What a guarded AWS call can end with besides a result: catch these (not `Exception`) where a
failure must be contained, e.g. per region or per item, so that bugs still surface."""


class LazyClient:
    """A boto3 client built on first attribute access, then used as itself."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)


def is_transient(exc: BaseException) -> bool:
    """True for failures that another attempt may not hit: throttling, 5xx, network trouble."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in RETRYABLE_ERROR_CODES or int(status or 0) >= 500
    return isinstance(exc, BotoConnectionError | HTTPClientError)


def error_code(exc: BaseException) -> str:
    """A stable short name for an error: the AWS error code, else the exception type."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def error_summary(exc: BaseException) -> str:
    """One line naming what failed, suitable for results, logs and registry records."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        return f"{error_code(exc)}: {message}"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class RetrySettings:
    """Attempts and backoff for transient AWS errors (full jitter: 0..min(max, base*2^n))."""

    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")

    def wait(self) -> tenacity.wait.wait_base:
        if self.base_delay == 0 or self.max_delay == 0:
            return tenacity.wait_none()
        return tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)


def _log_retry(state: tenacity.RetryCallState) -> None:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    logger.warning(
        "retrying AWS call",
        extra={
            "call": getattr(state.fn, "__name__", repr(state.fn)),
            "attempt": state.attempt_number,
            "next_wait_s": round(state.upcoming_sleep, 3),
            "error": error_summary(exc) if exc is not None else None,
        },
    )


def retrying(
    settings: RetrySettings,
    *,
    retry_on: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
) -> tenacity.Retrying:
    """A tenacity policy: transient errors retried, the last error re-raised as itself.

    Usable as a decorator (`@retrying(settings)`), a caller (`retrying(settings)(fn, *args)`)
    or an attempt loop (`for attempt in retrying(settings): with attempt: ...`).
    """
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.max_attempts),
        wait=settings.wait(),
        retry=tenacity.retry_if_exception(retry_on),
        before_sleep=_log_retry,
        sleep=sleep,
        reraise=True,
    )


class Guard:
    """Retry policy plus (optionally) a circuit breaker, applied to any callable."""

    def __init__(self, retry: RetrySettings, breaker: CircuitBreaker | None = None) -> None:
        self.retry = retry
        self.breaker = breaker

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        breaker = self.breaker
        if breaker is None:
            return retrying(self.retry)(fn, *args, **kwargs)

        def attempt() -> T:
            return breaker.call(fn, *args, **kwargs)

        attempt.__name__ = getattr(fn, "__name__", "call")
        return retrying(self.retry)(attempt)


def client_config(
    *,
    connect_timeout: float = 3.0,
    read_timeout: float = 20.0,
    max_pool_connections: int = 32,
) -> Config:
    """botocore settings: bounded waits so a dead endpoint fails inside the Lambda timeout;
    botocore retries off because `Guard` owns retrying; a pool wide enough for fan-out."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
        user_agent_appid="fleetops",
    )


EventHandler = Callable[..., Any]


def text_timestamps_session() -> boto3.session.Session:
    """A boto3 session whose clients leave timestamps as the ISO-8601 text AWS sent.

    Why: botocore turns every timestamp of a response into a `datetime` through dateutil, which
    is about a third of the CPU of parsing a DescribeInstances page (launch, attach and
    ownership times of every instance and interface). A reader that never looks at those
    fields, such as fleet-sync over tens of thousands of instances in a 256 MB Lambda (a
    seventh of a vCPU), skips that work. Uses botocore's documented parser defaults hook.
    """
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return boto3.session.Session(botocore_session=core)


class AwsClients:
    """boto3 clients cached per (service, region), plus guards sharing per-dependency breakers.

    Breakers count transient failures only (`is_transient`): a caller mistake or a lost
    conditional write says nothing about the dependency's health.

    Thread-safe: clients are created under a lock (boto3 sessions are not thread-safe) and
    botocore clients may be shared by worker threads.
    """

    def __init__(
        self,
        *,
        retry: RetrySettings | None = None,
        breakers: CircuitBreakers | None = None,
        endpoint_url: str | None = None,
        endpoint_overrides: Mapping[str, str] | None = None,
        session: boto3.session.Session | None = None,
        botocore_config: Config | None = None,
    ) -> None:
        self.retry = retry or RetrySettings()
        self.breakers = breakers or CircuitBreakers(is_failure=is_transient)
        self.endpoint_url = endpoint_url
        self.endpoint_overrides = dict(endpoint_overrides or {})
        self._session = session or boto3.session.Session()
        self._config = botocore_config or client_config()
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._handlers: list[tuple[str, EventHandler]] = []

    @classmethod
    def from_config(
        cls,
        config: BaseConfig,
        *,
        endpoint_overrides: Mapping[str, str] | None = None,
        session: boto3.session.Session | None = None,
        botocore_config: Config | None = None,
    ) -> AwsClients:
        """Clients honouring the configured endpoint, retry policy and breaker policy."""
        return cls(
            retry=config.retry,
            breakers=CircuitBreakers(config.breaker, is_failure=is_transient),
            endpoint_url=config.aws_endpoint_url,
            endpoint_overrides=endpoint_overrides,
            session=session,
            botocore_config=botocore_config,
        )

    def endpoint_for(self, region: str) -> str | None:
        return self.endpoint_overrides.get(region) or self.endpoint_url

    def client(self, service: str, region: str) -> Any:
        """The cached low-level client for `service` in `region`."""
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_for(region),
                    config=self._config,
                )
                for event_name, handler in self._handlers:
                    client.meta.events.register(event_name, handler)
                self._clients[key] = client
            return client

    def lazy_client(self, service: str, region: str) -> LazyClient:
        """`client(service, region)`, created at its first use: for clients only some
        invocations need (a cold start builds a client in ~35 ms, mostly loading its model)."""
        return LazyClient(lambda: self.client(service, region))

    def guard(self, service: str, region: str) -> Guard:
        """Retry policy plus the breaker of `service` in `region` (shared process-wide)."""
        return Guard(self.retry, self.breakers.get(f"{service}:{region}"))

    def call(self, service: str, region: str, operation: str, /, **params: Any) -> dict[str, Any]:
        """`client.<operation>(**params)` under the dependency's guard."""
        method = getattr(self.client(service, region), operation)
        response: dict[str, Any] = self.guard(service, region).call(method, **params)
        return response

    def pages(
        self,
        service: str,
        region: str,
        operation: str,
        /,
        *,
        cursor_param: str = "NextToken",
        cursor_key: str = "NextToken",
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each page fetched under the guard."""
        method = getattr(self.client(service, region), operation)
        yield from paginate(
            method,
            guard=self.guard(service, region),
            cursor_param=cursor_param,
            cursor_key=cursor_key,
            **params,
        )

    def register(self, event_name: str, handler: EventHandler) -> None:
        """Attach a botocore event handler to every client, existing and future.

        The hook for request counting and fault injection in tests, and for instrumentation.
        """
        with self._lock:
            self._handlers.append((event_name, handler))
            clients = list(self._clients.values())
        for client in clients:
            client.meta.events.register(event_name, handler)


def paginate(
    call: Callable[..., dict[str, Any]],
    *,
    guard: Guard | None = None,
    cursor_param: str = "NextToken",
    cursor_key: str = "NextToken",
    **params: Any,
) -> Iterator[dict[str, Any]]:
    """Yield each page of `call`, following `cursor_key` in the response into `cursor_param`.

    Pages are fetched one at a time, so a caller that folds each page into a compact form keeps
    only one raw page in memory, and each page gets its own retries.
    DynamoDB: `cursor_param="ExclusiveStartKey", cursor_key="LastEvaluatedKey"`.
    """
    token: Any = None
    while True:
        request = dict(params)
        if token:
            request[cursor_param] = token
        page = guard.call(call, **request) if guard is not None else call(**request)
        yield page
        token = page.get(cursor_key)
        if not token:
            return


__all__ = [
    "DEPENDENCY_ERRORS",
    "RETRYABLE_ERROR_CODES",
    "AwsClients",
    "BotoCoreError",
    "CircuitOpenError",
    "ClientError",
    "Guard",
    "RetrySettings",
    "client_config",
    "error_code",
    "error_summary",
    "is_transient",
    "paginate",
    "retrying",
    "text_timestamps_session",
]
