"""Mark, unmark and sweep the fleet's orphaned resources of one region.

Per candidate (fleet-tagged volume, snapshot, AMI, ENI), judged against the region's references:

| orphan? | mark | action |
|---|---|---|
| no | none | nothing (counted `in_use` / `retained`; a referenced old AMI or snapshot is listed as `skipped` with what references it) |
| no | any | `unmarked`: the mark tags are removed |
| yes | none or unreadable | `marked`: delete-after = now + grace |
| yes | in the future | `pending` |
| yes | past | due: re-checked, then `deleted` (or `skipped`) |

Due resources are re-checked right before deletion: references are collected again and each
resource is described again by id; it is deleted only if it still exists, still carries a due
mark and is still an orphan (otherwise `unmarked` or `skipped`), and only while the run's
deletion budget lasts (`skipped`, reason "deletion cap reached"). AMIs go before snapshots, so
an AMI's snapshots are only judged once the AMI is gone (on a later run).

Dry run: the same decisions, reported as `would_*`, and not one tag or delete sent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from fleetops.cleanup import marks
from fleetops.cleanup.report import (
    DELETED,
    FAILED_ACTION,
    IN_USE,
    MARKED,
    PENDING,
    RETAINED,
    SKIPPED,
    UNMARKED,
    CleanupReport,
    DeletionBudget,
    PartResult,
)
from fleetops.cleanup.resources import (
    NOT_FOUND_CODES,
    TYPES,
    Resource,
    collect_references,
    delete,
    judge,
    list_candidates,
    refetch,
)
from fleetops.core.aws import AwsClients, error_code, error_summary
from fleetops.core.clock import iso_utc
from fleetops.core.errors import FleetOpsError
from fleetops.core.observability import logger

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)
TAG_BATCH = 500


@dataclass(frozen=True)
class SweepSettings:
    tag_key: str
    now: float
    retention_seconds: float
    grace_seconds: float
    dry_run: bool


class RegionSweeper:
    def __init__(
        self,
        clients: AwsClients,
        region: str,
        *,
        settings: SweepSettings,
        report: CleanupReport,
        part: PartResult,
        budget: DeletionBudget,
    ) -> None:
        self.clients = clients
        self.region = region
        self.settings = settings
        self.report = report
        self.part = part
        self.budget = budget

    def _record(self, resource: Resource, action: str, reason: str, **extra: object) -> None:
        self.report.record(
            self.part,
            resource.type,
            action,
            region=self.region,
            id=resource.id,
            reason=reason,
            **extra,
        )

    def run(self) -> None:
        """Raises if the region cannot be read; per-resource failures are recorded instead."""
        s = self.settings
        refs = collect_references(self.clients, self.region)
        candidates = list_candidates(self.clients, self.region, tag_key=s.tag_key)
        to_mark: dict[str, list[tuple[Resource, str]]] = defaultdict(list)
        to_unmark: list[tuple[Resource, str]] = []
        due: list[Resource] = []
        delete_after = s.now + s.grace_seconds

        for resource in sorted(candidates, key=lambda r: (TYPES.index(r.type), r.id)):
            verdict = judge(resource, refs, now=s.now, retention_seconds=s.retention_seconds)
            mark = marks.mark_of(resource.tags)
            if not verdict.orphan:
                if mark is not None:
                    to_unmark.append((resource, f"no longer an orphan: {verdict.reason}"))
                elif verdict.referenced and self._old(resource):
                    self._record(resource, SKIPPED, verdict.reason)
                else:
                    action = RETAINED if "retention" in verdict.reason else IN_USE
                    self.report.count(self.part, resource.type, action)
                continue
            if mark is None or not mark.valid:
                reason = verdict.reason
                if mark is not None:
                    reason += f" (unreadable mark {mark.raw!r} replaced)"
                to_mark[verdict.reason].append((resource, reason))
                continue
            if not mark.due(s.now):
                self._record(
                    resource,
                    PENDING,
                    f"marked; grace period until {mark.raw}",
                    delete_after=mark.raw,
                )
                continue
            due.append(resource)

        self._mark(to_mark, delete_after)
        for resource, reason in to_unmark:
            self._unmark(resource, reason)
        if due:
            self._sweep(due)

    def _old(self, resource: Resource) -> bool:
        created = resource.created
        return (
            created is not None and self.settings.now - created >= self.settings.retention_seconds
        )

    # -- tags --------------------------------------------------------------------------------

    def _mark(self, to_mark: dict[str, list[tuple[Resource, str]]], delete_after: float) -> None:
        """Tag orphans with the mark, one CreateTags per reason and 500 resources."""
        when = iso_utc(delete_after)
        for reason, entries in to_mark.items():
            for start in range(0, len(entries), TAG_BATCH):
                batch = entries[start : start + TAG_BATCH]
                if not self.settings.dry_run:
                    try:
                        self.clients.call(
                            "ec2",
                            self.region,
                            "create_tags",
                            Resources=[resource.id for resource, _ in batch],
                            Tags=marks.mark_tags(delete_after, reason),
                        )
                    except AWS_ERRORS as exc:
                        for resource, _ in batch:
                            self._record(
                                resource, FAILED_ACTION, f"could not mark: {error_summary(exc)}"
                            )
                        continue
                for resource, listed_reason in batch:
                    self._record(resource, MARKED, listed_reason, delete_after=when)

    def _unmark(self, resource: Resource, reason: str) -> None:
        if not self.settings.dry_run:
            try:
                self.clients.call(
                    "ec2",
                    self.region,
                    "delete_tags",
                    Resources=[resource.id],
                    Tags=[{"Key": key} for key in marks.MARK_TAGS],
                )
            except AWS_ERRORS as exc:
                self._record(resource, FAILED_ACTION, f"could not unmark: {error_summary(exc)}")
                return
        self._record(resource, UNMARKED, reason)

    # -- sweep -------------------------------------------------------------------------------

    def _sweep(self, due: list[Resource]) -> None:
        s = self.settings
        refs = collect_references(self.clients, self.region)  # fresh, right before deleting
        for resource in due:
            try:
                fresh = refetch(self.clients, resource)
            except AWS_ERRORS as exc:
                self._record(resource, FAILED_ACTION, f"could not re-check: {error_summary(exc)}")
                continue
            if fresh is None:
                self._record(resource, SKIPPED, "already gone")
                continue
            mark = marks.mark_of(fresh.tags)
            if mark is None or not mark.due(s.now):
                self._record(resource, SKIPPED, "mark removed or changed since listed")
                continue
            verdict = judge(fresh, refs, now=s.now, retention_seconds=s.retention_seconds)
            if not verdict.orphan:
                self._unmark(fresh, f"no longer an orphan: {verdict.reason}")
                continue
            if not self.budget.take():
                self._record(resource, SKIPPED, "deletion cap reached", delete_after=mark.raw)
                continue
            if s.dry_run:
                self._record(resource, DELETED, verdict.reason, delete_after=mark.raw)
                continue
            try:
                delete(self.clients, fresh)
            except AWS_ERRORS as exc:
                self.budget.give_back()
                if error_code(exc) in NOT_FOUND_CODES:
                    self._record(resource, SKIPPED, "already gone")
                else:
                    self._record(resource, FAILED_ACTION, f"delete failed: {error_summary(exc)}")
                continue
            logger.info(
                "deleted orphan",
                extra={**resource.describe(), "reason": verdict.reason, "marked": mark.raw},
            )
            self._record(resource, DELETED, verdict.reason, delete_after=mark.raw)
