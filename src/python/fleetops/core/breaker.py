"""Circuit breakers around dependencies that can cascade.

Retries alone turn an outage into a pile-up: every caller keeps hammering (and waiting on) a
dependency that is down. A breaker counts consecutive failures; at the threshold it *opens* and
refuses calls at once with `CircuitOpenError`, for `open_seconds`. Then it is *half-open*: one
trial call goes through; success closes it, failure opens it again.

Breakers live as long as the process, so a Lambda's warm invocations share what earlier ones
learned. `CircuitBreakers` hands out one named breaker per dependency (e.g. `ec2:us-west-2`).
Only failures that say something about the dependency's health should count (`is_failure`):
a validation error or a lost conditional write is the caller's business, not an outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ParamSpec, TypeVar

from fleetops.core.errors import CircuitOpenError

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], float]
FailurePredicate = Callable[[BaseException], bool]


def _every_exception(exc: BaseException) -> bool:
    return isinstance(exc, Exception)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSettings:
    """When a breaker opens and how long it stays open."""

    failure_threshold: int = 5
    open_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if self.open_seconds < 0:
            raise ValueError("open_seconds must be >= 0")


class CircuitBreaker:
    """One dependency's breaker. Thread-safe: fan-out workers share it."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None = None,
        *,
        is_failure: FailurePredicate = _every_exception,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings or BreakerSettings()
        self._is_failure = is_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> CircuitState:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.settings.open_seconds
        ):
            self._state = CircuitState.HALF_OPEN
            self._trial_in_flight = False
        return self._state

    def before_call(self) -> None:
        """Admit a call or raise `CircuitOpenError`; half-open admits a single trial."""
        with self._lock:
            state = self._current_state()
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            retry_after = max(0.0, self.settings.open_seconds - (self._clock() - self._opened_at))
            raise CircuitOpenError(self.name, retry_after)

    def record_success(self) -> None:
        with self._lock:
            self._state = CircuitState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self, exc: BaseException) -> None:
        """Count `exc` if it says the dependency is unhealthy; otherwise treat it as a success."""
        if not self._is_failure(exc):
            self.record_success()
            return
        with self._lock:
            self._failures += 1
            if (
                self._state is CircuitState.HALF_OPEN
                or self._failures >= self.settings.failure_threshold
            ):
                self._state = CircuitState.OPEN
                self._opened_at = self._clock()
                self._trial_in_flight = False

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` under the breaker."""
        self.before_call()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.record_failure(exc)
            raise
        self.record_success()
        return result


class CircuitBreakers:
    """Process-wide registry: one breaker per dependency name, created on first use."""

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        is_failure: FailurePredicate = _every_exception,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._is_failure = is_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = CircuitBreaker(
                    name, self.settings, is_failure=self._is_failure, clock=self._clock
                )
                self._breakers[name] = breaker
            return breaker

    def states(self) -> dict[str, str]:
        """Current state per dependency, for logs and results."""
        with self._lock:
            breakers = list(self._breakers.values())
        return {breaker.name: breaker.state.value for breaker in breakers}
