"""Fixtures of the health-check tests: the registry, topic, inbox and recovery state machine in
moto, and a clock that moves only when told."""

from __future__ import annotations

import pytest

from fleetops_tests.health_check.helpers import FakeClock, create_state_machine
from fleetops_tests.support import aws_fleet


@pytest.fixture
def world(registry: str, inbox: aws_fleet.SnsInbox) -> aws_fleet.SnsInbox:
    """Registry table + SNS topic with an inbox + the recovery state machine; returns the inbox."""
    create_state_machine()
    return inbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
