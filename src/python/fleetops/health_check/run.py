"""One health-check run: read the registry, check every region, decide per fleet, act.

Phases, and why in this order:

1. Registry: the fleets in scope (the `FLEETS` index, or the named ones: an unknown name is
   rejected before anything is written) and one paginated Query per fleet of its `INSTANCE#`
   items (fleet-sync's facts + health-check's state, read once).
2. Checks, every region in parallel and in isolation (`checks`): a region whose status checks
   cannot be read makes its instances `unknown`; other regions carry on.
3. Per fleet: each checked instance is assessed (`ladder`), the fleet is tallied and the fleet
   breaker evaluated (`fleet_breaker`) over every checked region at once.
4. Breaker open: no remediation at all; recovery workflow + one notification per window.
   Breaker closed: remediation candidates, longest-failing first, each one:
   spend a budget unit (conditional) -> claim the instance by writing its new ladder state
   (conditional on `health_version`: an overlapping run that got there first wins, this one
   refunds and moves on) -> act -> record the action. A failed action is refunded and recorded
   as `<action>_failed`, its ladder stage restored.
5. Every other instance: its health fields written (conditional on `health_version`) when they
   changed, or when the last write is older than HEALTH_HEARTBEAT_SECONDS; so a steady
   fleet costs few writes per run. Newly flapping instances are reported (SNS, action record).

Request cost per run: DescribeInstanceStatus pages (1000 instances each) per region, one
DescribeAutoScalingGroups per 50 ASGs, one DescribeTargetHealth per target group, one
registry Query page per 1 MB of instance items, and writes proportional to changes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleetops.core.aws import AwsClients, error_summary
from fleetops.core.clock import Clock, iso_utc, system_clock
from fleetops.core.concurrency import map_concurrently
from fleetops.core.errors import ConflictError, NotFoundError
from fleetops.core.notify import Notifier
from fleetops.core.observability import logger, tracer
from fleetops.core.registry import RegistryTable, keys
from fleetops.health_check.budget import BudgetLimits, RemediationBudget
from fleetops.health_check.checks import (
    AWS_ERRORS,
    Observation,
    RegionChecks,
    fetch_region_checks,
    observe,
)
from fleetops.health_check.config import HealthCheckConfig
from fleetops.health_check.fleet_breaker import (
    FleetTally,
    RecoveryTrigger,
    evaluate,
    flapping_notification,
)
from fleetops.health_check.ladder import (
    Assessment,
    LadderPolicy,
    action_for,
    already_reported,
    assess,
    with_action,
    with_failed_action,
)
from fleetops.health_check.records import (
    HEALTH_COUNTER,
    ActionKind,
    ActionRecord,
    Health,
    HealthState,
    InstanceView,
    Stage,
    iso_key_time,
    parse_iso,
    window_start,
)
from fleetops.health_check.remediation import Remediator
from fleetops.health_check.report import FleetResult, HealthResult, RegionStatus
from fleetops.health_check.request import CheckRequest

SOURCE = "health-check"


@dataclass
class HealthDeps:
    """Everything a run needs from outside; built once per container (cold start)."""

    config: HealthCheckConfig
    clients: AwsClients
    clock: Clock = system_clock
    table: RegistryTable = field(init=False)
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.table = RegistryTable.from_clients(self.clients, self.config)
        self.notifier = Notifier.from_clients(
            self.clients, self.config, source=SOURCE, clock=self.now
        )

    def now(self) -> float:
        """The clock, looked up at each call (tests move `clock` on a built instance)."""
        return self.clock()


def run_health_check(request: CheckRequest, deps: HealthDeps) -> HealthResult:
    return HealthCheck(deps).run(request)


def load_fleets(table: RegistryTable, request: CheckRequest) -> list[str]:
    """The fleets in scope; named fleets must be registered (`NotFoundError` otherwise)."""
    known = {str(item["fleet"]) for item in table.query(keys.FLEET_INDEX_PK) if item.get("fleet")}
    if request.fleets is None:
        return sorted(known)
    missing = [fleet for fleet in request.fleets if fleet not in known]
    if missing:
        raise NotFoundError(
            "fleet(s) not registered (has fleet-sync seen them?): " + ", ".join(missing)
        )
    return list(request.fleets)


def load_instances(table: RegistryTable, fleet: str) -> list[InstanceView]:
    views: list[InstanceView] = []
    for item in table.query(keys.fleet_pk(fleet), sk_prefix=keys.INSTANCE_PREFIX):
        try:
            views.append(InstanceView.from_item(item))
        except (ValueError, TypeError) as exc:
            logger.warning(
                "skipping unreadable instance item",
                extra={"pk": item.get("pk"), "sk": item.get("sk"), "error": str(exc)},
            )
    return views


@dataclass
class _Plan:
    view: InstanceView
    assessment: Assessment

    @property
    def region(self) -> str:
        return self.view.record.region


class HealthCheck:
    def __init__(self, deps: HealthDeps) -> None:
        self.deps = deps
        self.config = deps.config
        self.table = deps.table
        self.policy = LadderPolicy.from_config(deps.config)
        self.remediator = Remediator(deps.clients, deps.table)
        self.trigger = RecoveryTrigger(deps.config, deps.clients, deps.table, deps.notifier)

    @tracer.capture_method
    def run(self, request: CheckRequest) -> HealthResult:
        started = time.monotonic()
        now = self.deps.clock()
        start = window_start(now, self.config.remediation_window_seconds)
        result = HealthResult(
            trigger=request.trigger,
            dry_run=request.dry_run,
            window_start=iso_key_time(start),
            regions={region: RegionStatus(region) for region in request.regions},
        )
        fleets = load_fleets(self.table, request)
        views = {fleet: load_instances(self.table, fleet) for fleet in fleets}
        checks = self._check_regions(request, views, result)
        for fleet in fleets:
            try:
                result.fleets[fleet] = self._fleet(
                    fleet, views[fleet], checks=checks, result=result, request=request, now=now
                )
            except AWS_ERRORS as exc:  # one fleet's trouble must not stop the others
                result.fleets[fleet] = FleetResult(fleet, error=error_summary(exc))
                logger.error("fleet check failed", extra={"fleet": fleet, "error": str(exc)})
        result.duration_ms = int((time.monotonic() - started) * 1000)
        logger.info(
            "health check finished",
            extra={
                "status": result.status,
                "dry_run": request.dry_run,
                "counts": dict(result.totals()),
                "breakers": {name: f.breaker["state"] for name, f in result.fleets.items()},
                "regions": {name: region.status for name, region in result.regions.items()},
                "duration_ms": result.duration_ms,
            },
        )
        return result

    # -- phase 2 -----------------------------------------------------------------------------

    def _check_regions(
        self,
        request: CheckRequest,
        views: Mapping[str, list[InstanceView]],
        result: HealthResult,
    ) -> dict[str, RegionChecks]:
        asgs: dict[str, set[str]] = {region: set() for region in request.regions}
        wanted: set[str] = set()
        for fleet_views in views.values():
            for view in fleet_views:
                region = view.record.region
                if view.live and region in asgs:
                    wanted.add(region)
                    if view.record.asg:
                        asgs[region].add(view.record.asg)
        regions = [region for region in request.regions if region in wanted]

        def check(region: str) -> RegionChecks | BaseException:
            try:
                return fetch_region_checks(self.deps.clients, region, asgs[region])
            except AWS_ERRORS as exc:
                return exc

        outcomes = map_concurrently(check, regions, max_workers=max(1, len(regions)))
        checks: dict[str, RegionChecks] = {}
        for region, outcome in zip(regions, outcomes, strict=True):
            status = result.regions[region]
            if isinstance(outcome, RegionChecks):
                checks[region] = outcome
                if outcome.degraded:
                    status.degrade(outcome.first_error())
            else:
                status.fail(outcome)
                logger.error(
                    "region checks failed", extra={"region": region, "error": status.error}
                )
        return checks

    # -- phases 3-5 --------------------------------------------------------------------------

    def _fleet(
        self,
        fleet: str,
        views: list[InstanceView],
        *,
        checks: Mapping[str, RegionChecks],
        result: HealthResult,
        request: CheckRequest,
        now: float,
    ) -> FleetResult:
        config = self.config
        outcome = FleetResult(fleet)
        live = [view for view in views if view.live]
        az_sizes = Counter(view.record.az for view in live if view.record.az)
        budget = RemediationBudget(
            self.table,
            fleet,
            window_start(now, config.remediation_window_seconds),
            config.remediation_window_seconds,
            BudgetLimits.compute(
                len(live),
                az_sizes,
                share=config.remediation_budget_share,
                minimum=config.remediation_budget_min,
            ),
            dry_run=request.dry_run,
        )

        tally = FleetTally()
        plans: list[_Plan] = []
        for view in live:
            region = view.record.region
            if region not in result.regions:
                continue
            observation = self._observe(view, checks, result.regions[region])
            if not observation.checked:
                outcome.count(region, "not_checked")
                continue
            assert observation.health is not None
            assessment = assess(view.state, observation, now, self.policy)
            tally.add(region, view.record.az, observation.health)
            outcome.count(region, "checked")
            outcome.count(region, observation.health.value)
            if assessment.flapping:
                outcome.count(region, "flapping")
                outcome.flapping.append(view.instance_id)
            plans.append(_Plan(view, assessment))

        verdict = evaluate(
            tally,
            threshold=config.breaker_unhealthy_share,
            min_instances=config.breaker_min_instances,
        )
        outcome.breaker = {
            "state": "open" if verdict.open else "closed",
            "reason": verdict.reason,
            "threshold": verdict.threshold,
            "checked": tally.total,
            "unhealthy_share": tally.unhealthy_share,
            "unknown_share": tally.unknown_share,
        }
        candidates = [plan for plan in plans if plan.assessment.decision.acts]
        others = [plan for plan in plans if not plan.assessment.decision.acts]
        if verdict.open:
            trip = self.trigger.trip(
                fleet,
                tally,
                verdict,
                window_start=budget.window_start,
                now=now,
                dry_run=request.dry_run,
            )
            outcome.breaker.update(trip.describe())
            for plan in candidates:
                outcome.count(plan.region, "skipped_breaker")
            others = plans
        else:
            candidates.sort(
                key=lambda p: (-p.assessment.state.health_failures, p.region, p.view.instance_id)
            )
            for plan in candidates:
                self._remediate(plan, budget, outcome, request.dry_run, now)
        self._write_states(fleet, others, outcome, request.dry_run, now)
        outcome.budget = budget.describe()
        return outcome

    def _observe(
        self, view: InstanceView, checks: Mapping[str, RegionChecks], status: RegionStatus
    ) -> Observation:
        region_checks = checks.get(view.record.region)
        if region_checks is None:
            return Observation(
                Health.UNKNOWN,
                f"checks of region {view.record.region} failed: {status.error}",
                asg=view.record.asg,
            )
        return observe(view.instance_id, view.record.asg, region_checks)

    # -- remediation -------------------------------------------------------------------------

    def _remediate(
        self,
        plan: _Plan,
        budget: RemediationBudget,
        outcome: FleetResult,
        dry_run: bool,
        now: float,
    ) -> None:
        view, assessment = plan.view, plan.assessment
        region, az, previous = plan.region, view.record.az, view.state
        state = assessment.state
        action = action_for(assessment.decision, dry_run=dry_run)
        reason = (
            f"{state.health_failures} consecutive impaired checks: {state.health_reason}"
            if action in (ActionKind.REBOOT, ActionKind.WOULD_REBOOT)
            else f"still impaired {self.config.reboot_grace_seconds}s after reboot: "
            f"{state.health_reason}"
        )
        described = {"instance_id": view.instance_id, "region": region, "az": az}
        # The unit a reboot spent also covers replacing that instance in the same window: the
        # budget counts instances put at risk, not API calls.
        covered = (
            previous.health_stage == Stage.REBOOTED
            and (previous.health_stage_at or 0) >= budget.window_start
        )
        spent = False
        if not covered:
            try:
                spend = budget.spend(az)
            except AWS_ERRORS as exc:
                outcome.count(region, "write_failed")
                self._fail_fleet(outcome, f"budget update failed: {error_summary(exc)}")
                self._write_states(outcome.fleet, [plan], outcome, dry_run, now)
                return
            if not spend.ok:
                outcome.count(region, "skipped_budget")
                outcome.add_action({**described, "action": action.value, "outcome": spend.value})
                self._write_states(outcome.fleet, [plan], outcome, dry_run, now)
                return
            spent = True

        claimed = with_action(state, action, reason, now)
        try:
            version = self.table.update_owned(
                view.key,
                owned=claimed.owned(),
                counter=HEALTH_COUNTER,
                expected=previous.health_version,
            )
        except ConflictError:
            # An overlapping run wrote this instance since we read it: it owns this decision.
            self._refund(budget, az, spent)
            outcome.count(region, "conflicts")
            return
        except AWS_ERRORS as exc:
            self._refund(budget, az, spent)
            outcome.count(region, "write_failed")
            self._fail_fleet(outcome, f"registry write failed: {error_summary(exc)}")
            return

        error: str | None = None
        try:
            self.remediator.execute(action, region, view.instance_id)
        except AWS_ERRORS as exc:
            error = error_summary(exc)
            self._refund(budget, az, spent)
            restored = with_failed_action(claimed, previous, action, error, now)
            try:
                self.table.update_owned(
                    view.key, owned=restored.owned(), counter=HEALTH_COUNTER, expected=version
                )
            except AWS_ERRORS as write_exc:
                logger.error(
                    "could not restore ladder stage after failed action",
                    extra={**described, "error": error_summary(write_exc)},
                )
            logger.error("remediation action failed", extra={**described, "error": error})

        if error is not None:
            outcome.count(region, "action_failed")
            result_name = "failed"
        else:
            outcome.count(region, _COUNT_OF_ACTION[action])
            result_name = "dry_run" if dry_run else "ok"
        record = ActionRecord(
            fleet=outcome.fleet,
            region=region,
            instance_id=view.instance_id,
            az=az,
            asg=assessment.observation.asg,
            action=action.value,
            reason=reason,
            at=int(now),
            outcome=result_name,
            dry_run=dry_run,
            failures=state.health_failures,
            error=error,
            expires_at=int(now) + self.config.action_ttl_seconds,
        )
        outcome.add_action(record.describe())
        if not already_reported(previous, action, self.policy):
            self.remediator.record(record)

    def _refund(self, budget: RemediationBudget, az: str | None, spent: bool) -> None:
        if not spent:
            return
        try:
            budget.refund(az)
        except AWS_ERRORS as exc:
            logger.error(
                "could not refund remediation budget",
                extra={"fleet": budget.fleet, "az": az, "error": error_summary(exc)},
            )

    @staticmethod
    def _fail_fleet(outcome: FleetResult, error: str) -> None:
        outcome.error = outcome.error or error

    # -- health fields -----------------------------------------------------------------------

    def _due(self, previous: HealthState, state: HealthState, now: float) -> bool:
        if previous.health_version is None or not state.same_record(previous):
            return True
        last = parse_iso(previous.health_checked_at)
        return last is None or now - last >= self.config.health_heartbeat_seconds

    def _write_states(
        self,
        fleet: str,
        plans: Iterable[_Plan],
        outcome: FleetResult,
        dry_run: bool,
        now: float,
    ) -> None:
        due = [p for p in plans if self._due(p.view.state, p.assessment.state, now)]

        def write(plan: _Plan) -> str | None:
            try:
                self.table.update_owned(
                    plan.view.key,
                    owned=plan.assessment.state.owned(),
                    counter=HEALTH_COUNTER,
                    expected=plan.view.state.health_version,
                )
            except ConflictError:
                return "conflicts"
            except AWS_ERRORS as exc:
                logger.warning(
                    "health write failed",
                    extra={"instance_id": plan.view.instance_id, "error": error_summary(exc)},
                )
                return "write_failed"
            return None

        failures = map_concurrently(write, due, max_workers=self.config.write_concurrency)
        newly_flapping: list[_Plan] = []
        for plan, failure in zip(due, failures, strict=True):
            if failure is not None:
                outcome.count(plan.region, failure)
                if failure == "write_failed":
                    self._fail_fleet(outcome, f"registry write failed for {plan.view.instance_id}")
            elif plan.assessment.newly_flapping:
                newly_flapping.append(plan)
        if newly_flapping:
            self._report_flapping(fleet, newly_flapping, outcome, dry_run, now)

    def _report_flapping(
        self, fleet: str, plans: list[_Plan], outcome: FleetResult, dry_run: bool, now: float
    ) -> None:
        """Newly flapping instances (this run won their state write): action record + SNS."""
        listed = []
        for plan in plans:
            state = plan.assessment.state
            reason = (
                f"{len(state.health_transitions)} health transitions within "
                f"{self.config.flap_window_seconds}s; now {state.health}: {state.health_reason}"
            )
            record = ActionRecord(
                fleet=fleet,
                region=plan.region,
                instance_id=plan.view.instance_id,
                az=plan.view.record.az,
                asg=plan.assessment.observation.asg,
                action=ActionKind.REPORT_FLAPPING.value,
                reason=reason,
                at=int(now),
                outcome="dry_run" if dry_run else "reported",
                dry_run=dry_run,
                failures=state.health_failures,
                expires_at=int(now) + self.config.action_ttl_seconds,
            )
            self.remediator.record(record)
            outcome.add_action(record.describe())
            listed.append(
                {
                    "instance_id": plan.view.instance_id,
                    "region": plan.region,
                    "az": plan.view.record.az,
                    "transitions": [iso_utc(t) for t in state.health_transitions],
                    "health": state.health,
                }
            )
        if dry_run:
            return
        try:
            self.deps.notifier.publish(flapping_notification(fleet, listed))
        except AWS_ERRORS as exc:
            logger.error(
                "flapping notification failed", extra={"fleet": fleet, "error": error_summary(exc)}
            )


_COUNT_OF_ACTION = {
    ActionKind.REBOOT: "rebooted",
    ActionKind.REPLACE: "replaced",
    ActionKind.WOULD_REBOOT: "would_reboot",
    ActionKind.WOULD_REPLACE: "would_replace",
}

__all__ = ["HealthCheck", "HealthDeps", "load_fleets", "load_instances", "run_health_check"]
