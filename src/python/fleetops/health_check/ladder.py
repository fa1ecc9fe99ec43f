"""The remediation ladder and flapping detection: pure decisions, no I/O.

Per instance and check (`assess`):
- `unknown` (the check itself failed): the ladder is frozen; failures, stage and transitions
  are kept as they were.
- healthy: failures reset to 0 and the ladder to `none` (an instance that recovers is never
  remediated, and a later failure starts from the first rung again).
- impaired: one more consecutive failure, then, in order:
  1. flapping (>= FLAP_TRANSITIONS healthy<->impaired transitions within FLAP_WINDOW_SECONDS):
     reported, not remediated;
  2. not InService in its ASG (Pending, Terminating, Standby...), or already marked Unhealthy in
     the ASG: left to Auto Scaling;
  3. stage `none` and failures >= UNHEALTHY_CHECKS_BEFORE_ACTION: reboot;
  4. stage `rebooted` and REBOOT_GRACE_SECONDS passed since the reboot: replace
     (`SetInstanceHealth Unhealthy`), or `no_asg` when it belongs to no ASG;
  5. stage `replaced`: waiting for the ASG.

`with_action` records an action in the state; remediation stages only advance for real actions
(a dry run's `would_*` leaves the ladder where it was).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from fleetops.core.clock import iso_utc
from fleetops.health_check.checks import Observation
from fleetops.health_check.config import HealthCheckConfig
from fleetops.health_check.records import ActionKind, Health, HealthState, Stage

IN_SERVICE = "InService"
ASG_UNHEALTHY = "Unhealthy"


class Decision(StrEnum):
    NONE = "none"
    WAIT = "wait"
    REBOOT = "reboot"
    IN_GRACE = "in_grace"
    REPLACE = "replace"
    AWAITING_REPLACEMENT = "awaiting_replacement"
    NO_ASG = "no_asg"
    NOT_IN_SERVICE = "not_in_service"
    FLAPPING = "flapping"
    UNKNOWN = "unknown"

    @property
    def acts(self) -> bool:
        return self in (Decision.REBOOT, Decision.REPLACE)


@dataclass(frozen=True)
class LadderPolicy:
    checks_before_action: int
    reboot_grace_seconds: int
    flap_transitions: int
    flap_window_seconds: int

    @classmethod
    def from_config(cls, config: HealthCheckConfig) -> LadderPolicy:
        return cls(
            checks_before_action=config.unhealthy_checks_before_action,
            reboot_grace_seconds=config.reboot_grace_seconds,
            flap_transitions=config.flap_transitions,
            flap_window_seconds=config.flap_window_seconds,
        )


@dataclass(frozen=True)
class Assessment:
    previous: HealthState
    state: HealthState
    decision: Decision
    observation: Observation

    @property
    def flapping(self) -> bool:
        return self.state.health_flapping

    @property
    def newly_flapping(self) -> bool:
        return self.state.health_flapping and not self.previous.health_flapping

    @property
    def recovered(self) -> bool:
        return self.state.health == Health.HEALTHY and (
            self.previous.health_failures > 0 or self.previous.health_stage != Stage.NONE
        )


def _recent(transitions: tuple[int, ...], now: int, window: int) -> tuple[int, ...]:
    return tuple(t for t in transitions if now - t < window)


def assess(
    previous: HealthState, observation: Observation, now: float, policy: LadderPolicy
) -> Assessment:
    """The new state of an instance and what the ladder says to do about it."""
    if observation.health is None:
        raise ValueError("assess needs a checked observation")
    at = int(now)
    transitions = _recent(previous.health_transitions, at, policy.flap_window_seconds)
    reason, checked_at = observation.reason, iso_utc(now)

    if observation.health is Health.UNKNOWN:
        state = replace(
            previous,
            health=Health.UNKNOWN.value,
            health_transitions=transitions,
            health_flapping=len(transitions) >= policy.flap_transitions,
            health_reason=reason,
            health_checked_at=checked_at,
        )
        return Assessment(previous, state, Decision.UNKNOWN, observation)

    health = observation.health
    if previous.health_last_known is not None and previous.health_last_known != health.value:
        transitions = (*transitions, at)
    flapping = len(transitions) >= policy.flap_transitions

    if health is Health.HEALTHY:
        state = replace(
            previous,
            health=health.value,
            health_last_known=health.value,
            health_failures=0,
            health_stage=Stage.NONE.value,
            health_stage_at=None,
            health_transitions=transitions,
            health_flapping=flapping,
            health_reason=reason,
            health_checked_at=checked_at,
        )
        return Assessment(previous, state, Decision.NONE, observation)

    failures = previous.health_failures + 1
    state = replace(
        previous,
        health=health.value,
        health_last_known=health.value,
        health_failures=failures,
        health_transitions=transitions,
        health_flapping=flapping,
        health_reason=reason,
        health_checked_at=checked_at,
    )
    return Assessment(
        previous, state, _impaired_decision(state, observation, at, policy), observation
    )


def _impaired_decision(
    state: HealthState, observation: Observation, now: int, policy: LadderPolicy
) -> Decision:
    if state.health_flapping:
        return Decision.FLAPPING
    if observation.asg_health == ASG_UNHEALTHY:
        return Decision.AWAITING_REPLACEMENT
    if observation.lifecycle_state is not None and observation.lifecycle_state != IN_SERVICE:
        return Decision.NOT_IN_SERVICE
    stage = state.health_stage
    if stage == Stage.REPLACED:
        return Decision.AWAITING_REPLACEMENT
    if stage == Stage.REBOOTED:
        rebooted_at = state.health_stage_at or 0
        if now - rebooted_at < policy.reboot_grace_seconds:
            return Decision.IN_GRACE
        return Decision.REPLACE if observation.asg else Decision.NO_ASG
    if state.health_failures >= policy.checks_before_action:
        return Decision.REBOOT
    return Decision.WAIT


def action_for(decision: Decision, *, dry_run: bool) -> ActionKind:
    if decision is Decision.REBOOT:
        return ActionKind.WOULD_REBOOT if dry_run else ActionKind.REBOOT
    if decision is Decision.REPLACE:
        return ActionKind.WOULD_REPLACE if dry_run else ActionKind.REPLACE
    raise ValueError(f"decision {decision} takes no action")


def with_action(state: HealthState, action: ActionKind, reason: str, now: float) -> HealthState:
    """`state` with `action` recorded; real reboots/replacements advance the ladder."""
    stage = {ActionKind.REBOOT: Stage.REBOOTED, ActionKind.REPLACE: Stage.REPLACED}.get(action)
    return replace(
        state,
        health_stage=stage.value if stage else state.health_stage,
        health_stage_at=int(now) if stage else state.health_stage_at,
        health_last_action=action.value,
        health_last_action_reason=reason,
        health_last_action_at=iso_utc(now),
    )


def with_failed_action(
    claimed: HealthState, previous: HealthState, action: ActionKind, error: str, now: float
) -> HealthState:
    """Undo the stage advance of a claimed action whose AWS call failed; keep it on record."""
    return replace(
        claimed,
        health_stage=previous.health_stage,
        health_stage_at=previous.health_stage_at,
        health_last_action=f"{action.value}_failed",
        health_last_action_reason=error,
        health_last_action_at=iso_utc(now),
    )


def already_reported(previous: HealthState, action: ActionKind, policy: LadderPolicy) -> bool:
    """A dry run's `would_*` for an impairment streak that already recorded the same decision."""
    return (
        action in (ActionKind.WOULD_REBOOT, ActionKind.WOULD_REPLACE)
        and previous.health_last_action == action.value
        and previous.health_last_known == Health.IMPAIRED.value
        and previous.health_failures >= policy.checks_before_action
    )
