"""The ladder and flapping rules, as pure functions (no AWS)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleetops.health_check.budget import BudgetLimits, share_of
from fleetops.health_check.checks import Observation
from fleetops.health_check.ladder import (
    Decision,
    LadderPolicy,
    action_for,
    already_reported,
    assess,
    with_action,
    with_failed_action,
)
from fleetops.health_check.records import (
    ActionKind,
    Health,
    HealthState,
    Stage,
    execution_name,
    window_start,
)

POLICY = LadderPolicy(
    checks_before_action=3, reboot_grace_seconds=300, flap_transitions=4, flap_window_seconds=1800
)
NOW = 1_767_225_600.0
IMPAIRED = Observation(Health.IMPAIRED, "instance status impaired", "InService", "web-1", "Healthy")
HEALTHY = Observation(Health.HEALTHY, "status checks ok", "InService", "web-1", "Healthy")
UNKNOWN = Observation(Health.UNKNOWN, "target health unavailable", "InService", "web-1")


def run(
    observations: list[Observation], state: HealthState | None = None, step: int = 60
) -> tuple[HealthState, list[Decision]]:
    state = state or HealthState()
    decisions = []
    now = NOW
    for observation in observations:
        assessment = assess(state, observation, now, POLICY)
        decisions.append(assessment.decision)
        state = assessment.state
        now += step
    return state, decisions


def test_an_impaired_instance_is_rebooted_after_the_configured_number_of_checks() -> None:
    state, decisions = run([IMPAIRED] * 3)
    assert decisions == [Decision.WAIT, Decision.WAIT, Decision.REBOOT]
    assert state.health == "impaired"
    assert state.health_failures == 3
    assert state.health_stage == Stage.NONE  # the stage moves only when the action is taken


def test_after_a_reboot_it_waits_for_the_grace_period_then_replaces() -> None:
    rebooted = with_action(
        replace(HealthState(), health_failures=3, health_last_known="impaired"),
        ActionKind.REBOOT,
        "r",
        NOW,
    )
    assert rebooted.health_stage == Stage.REBOOTED
    assert rebooted.health_stage_at == int(NOW)
    in_grace = assess(rebooted, IMPAIRED, NOW + 299, POLICY)
    assert in_grace.decision is Decision.IN_GRACE
    after = assess(rebooted, IMPAIRED, NOW + 300, POLICY)
    assert after.decision is Decision.REPLACE
    replaced = with_action(after.state, ActionKind.REPLACE, "r", NOW + 300)
    assert replaced.health_stage == Stage.REPLACED
    assert assess(replaced, IMPAIRED, NOW + 360, POLICY).decision is Decision.AWAITING_REPLACEMENT


def test_an_instance_without_asg_cannot_be_replaced() -> None:
    rebooted = with_action(HealthState(health_failures=3), ActionKind.REBOOT, "r", NOW)
    no_asg = replace(IMPAIRED, asg=None, lifecycle_state=None, asg_health=None)
    assert assess(rebooted, no_asg, NOW + 600, POLICY).decision is Decision.NO_ASG


def test_recovery_resets_the_ladder_and_is_never_remediated() -> None:
    state, decisions = run([IMPAIRED, IMPAIRED, HEALTHY, IMPAIRED, IMPAIRED])
    assert decisions == [Decision.WAIT, Decision.WAIT, Decision.NONE, Decision.WAIT, Decision.WAIT]
    rebooted = with_action(state, ActionKind.REBOOT, "r", NOW)
    recovered = assess(rebooted, HEALTHY, NOW + 60, POLICY)
    assert recovered.recovered
    assert recovered.state.health_stage == Stage.NONE
    assert recovered.state.health_stage_at is None
    assert recovered.state.health_failures == 0
    assert recovered.state.health_last_action == "reboot"  # history is kept


def test_unknown_freezes_the_ladder_and_is_no_transition() -> None:
    state, decisions = run([IMPAIRED, IMPAIRED, UNKNOWN, UNKNOWN, IMPAIRED])
    assert decisions == [
        Decision.WAIT,
        Decision.WAIT,
        Decision.UNKNOWN,
        Decision.UNKNOWN,
        Decision.REBOOT,
    ]
    assert state.health_transitions == ()
    unknown = assess(state, UNKNOWN, NOW + 1000, POLICY).state
    assert unknown.health == "unknown"
    assert unknown.health_last_known == "impaired"
    assert unknown.health_failures == state.health_failures


def test_flapping_is_detected_reported_and_not_remediated() -> None:
    pattern = [HEALTHY, IMPAIRED, HEALTHY, IMPAIRED, HEALTHY, IMPAIRED, IMPAIRED, IMPAIRED]
    state, decisions = run(pattern)
    assert len(state.health_transitions) == 5
    assert state.health_flapping
    # 3 consecutive impaired checks at the end would normally reboot
    assert decisions[-1] is Decision.FLAPPING
    assert Decision.REBOOT not in decisions


def test_transitions_age_out_of_the_flap_window() -> None:
    state, _ = run([HEALTHY, IMPAIRED, HEALTHY, IMPAIRED, HEALTHY], step=60)
    assert state.health_flapping
    later = assess(state, HEALTHY, NOW + 1800 + 600, POLICY)
    assert later.state.health_transitions == ()
    assert not later.state.health_flapping


def test_instances_not_in_service_or_already_unhealthy_in_the_asg_are_left_to_auto_scaling() -> (
    None
):
    state = HealthState(health_failures=5, health_last_known="impaired")
    standby = replace(IMPAIRED, lifecycle_state="Standby")
    marked = replace(IMPAIRED, asg_health="Unhealthy")
    assert assess(state, standby, NOW, POLICY).decision is Decision.NOT_IN_SERVICE
    assert assess(state, marked, NOW, POLICY).decision is Decision.AWAITING_REPLACEMENT


def test_a_failed_action_restores_the_stage_and_keeps_it_on_record() -> None:
    previous = HealthState(health_failures=3)
    claimed = with_action(previous, ActionKind.REBOOT, "r", NOW)
    restored = with_failed_action(
        claimed, previous, ActionKind.REBOOT, "UnauthorizedOperation", NOW
    )
    assert restored.health_stage == Stage.NONE
    assert restored.health_last_action == "reboot_failed"
    assert restored.health_last_action_reason == "UnauthorizedOperation"


def test_dry_run_actions_do_not_advance_the_ladder_and_are_recorded_once_per_streak() -> None:
    state = HealthState(health_failures=3, health_last_known="impaired")
    would = with_action(state, ActionKind.WOULD_REBOOT, "r", NOW)
    assert would.health_stage == Stage.NONE
    assert would.health_last_action == "would_reboot"
    assert already_reported(would, ActionKind.WOULD_REBOOT, POLICY)
    assert not already_reported(state, ActionKind.WOULD_REBOOT, POLICY)
    assert action_for(Decision.REBOOT, dry_run=True) is ActionKind.WOULD_REBOOT
    assert action_for(Decision.REPLACE, dry_run=False) is ActionKind.REPLACE
    with pytest.raises(ValueError, match="takes no action"):
        action_for(Decision.WAIT, dry_run=False)


def test_state_round_trips_through_registry_attributes() -> None:
    state, _ = run([HEALTHY, IMPAIRED, HEALTHY])
    item = {**state.owned(), "health_version": 7}
    parsed = HealthState.from_item(item)
    assert parsed == replace(state, health_version=7)
    assert parsed.same_record(replace(state, health_checked_at="2030-01-01T00:00:00Z"))


@pytest.mark.parametrize(
    ("size", "share", "minimum", "expected"),
    [
        (100, 0.29, 1, 29),
        (10, 0.1, 1, 1),
        (5, 0.1, 1, 1),
        (5, 0.1, 0, 0),
        (0, 0.5, 1, 0),
        (30, 0.1, 1, 3),
    ],
)
def test_budget_limits_are_a_floor_of_the_share_with_a_minimum(
    size: int, share: float, minimum: int, expected: int
) -> None:
    assert share_of(size, share, minimum) == expected


def test_budget_limits_per_az() -> None:
    limits = BudgetLimits.compute(12, {"a": 6, "b": 4, "c": 2}, share=0.25, minimum=1)
    assert limits.fleet == 3
    assert dict(limits.by_az) == {"a": 1, "b": 1, "c": 1}
    assert limits.az(None) is None
    assert limits.az("unknown-az") == 0


def test_execution_names_are_deterministic_and_valid() -> None:
    start = window_start(NOW + 1234, 3600)
    assert start == int(NOW)
    assert execution_name("web", start) == f"hc-web-{start}"
    odd = execution_name("team/web api:prod", start)
    assert odd.startswith("hc-team-web-api-prod-") and odd.endswith(f"-{start}")
    assert odd != execution_name("team-web-api-prod", start)
    long_name = execution_name("x" * 128, start)
    assert len(long_name) <= 80
    assert long_name == execution_name("x" * 128, start)
