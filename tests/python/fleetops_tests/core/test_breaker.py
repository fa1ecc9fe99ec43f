from __future__ import annotations

import pytest

from fleetops.core.breaker import BreakerSettings, CircuitBreaker, CircuitBreakers, CircuitState
from fleetops.core.errors import CircuitOpenError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def boom() -> None:
    raise RuntimeError("dependency down")


def state_of(breaker: CircuitBreaker) -> CircuitState:
    return breaker.state  # (a call, so type checkers do not narrow across state changes)


def ok() -> str:
    return "ok"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(
        "ec2:us-east-1", BreakerSettings(failure_threshold=3, open_seconds=30), clock=clock
    )


def test_opens_after_threshold_consecutive_failures_and_fails_fast(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    assert breaker.state is CircuitState.OPEN
    calls = []
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(lambda: calls.append(1))
    assert calls == []
    assert caught.value.name == "ec2:us-east-1"
    assert caught.value.retry_after == pytest.approx(30)


def test_a_success_resets_the_failure_count(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    assert breaker.call(ok) == "ok"
    for _ in range(2):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    assert breaker.state is CircuitState.CLOSED


def test_half_open_admits_one_trial_then_closes_on_success(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    clock.now += 30
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.before_call()  # the trial is in flight ...
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # ... so a second caller is refused
    breaker.record_success()
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.call(ok) == "ok"


def test_failed_trial_reopens_for_a_full_period(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(3):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    clock.now += 31
    with pytest.raises(RuntimeError):
        breaker.call(boom)
    assert breaker.state is CircuitState.OPEN
    clock.now += 29
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    clock.now += 1
    assert breaker.call(ok) == "ok"


def test_errors_that_say_nothing_about_the_dependency_do_not_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        "dynamodb",
        BreakerSettings(failure_threshold=1, open_seconds=5),
        is_failure=lambda exc: not isinstance(exc, ValueError),
        clock=clock,
    )

    def invalid() -> None:
        raise ValueError("caller mistake")

    for _ in range(3):
        with pytest.raises(ValueError, match="caller mistake"):
            breaker.call(invalid)
    assert breaker.state is CircuitState.CLOSED


def test_registry_hands_out_one_breaker_per_dependency(clock: FakeClock) -> None:
    breakers = CircuitBreakers(BreakerSettings(failure_threshold=1, open_seconds=10), clock=clock)
    assert breakers.get("sns:us-east-1") is breakers.get("sns:us-east-1")
    with pytest.raises(RuntimeError):
        breakers.get("ec2:eu-west-1").call(boom)
    assert breakers.states() == {"sns:us-east-1": "closed", "ec2:eu-west-1": "open"}


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        BreakerSettings(failure_threshold=0)
