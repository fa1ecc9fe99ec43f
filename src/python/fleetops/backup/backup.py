"""One backup run: claim the id, export, write the manifest, read back, mark good.

Order, and why:

1. Id: `<scheduled time>-<digest of event id>`; a redelivered event gets the same id.
2. Already verified (`VERIFIED` marker in S3)? Nothing to do.
3. Claim the id in the registry catalogue (conditional update with a lease): a concurrent
   invocation for the same id stops here with `in_progress`; a finished one with `already_done`.
4. If a manifest already exists (an earlier attempt crashed after writing it), verify it and
   finish; if it does not verify, start again from 5.
5. Export: the registry (Scan -> gzip JSON Lines -> multipart upload, sha256 on the fly), then
   each region's configuration (regions in parallel, each isolated), then the manifest, last.
6. Read every object back against the manifest (size, sha256, lines, each line parses, SSE-KMS).
7. Mark: complete + verified -> `VERIFIED` marker and catalogue `verified`; a region whose
   configuration could not be read -> manifest `partial`, catalogue `partial`, NO marker (so it
   is never picked as "latest verified"), a warning notification, a normal return; a failed
   write or read-back -> catalogue `failed`, a critical notification, and the invocation fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

from fleetops.backup import index, layout
from fleetops.backup.config import BackupConfig
from fleetops.backup.ddbjson import json_line
from fleetops.backup.errors import BackupFailedError
from fleetops.backup.export import (
    RegionConfig,
    RegistryExport,
    export_registry,
    fetch_region_config,
    registry_policy_record,
)
from fleetops.backup.jsonl import GzipLinesWriter, StreamFormatError
from fleetops.backup.manifest import (
    COMPLETE,
    CONFIG,
    CONFIG_FORMAT,
    FORMAT_VERSION,
    PARTIAL,
    REGISTRY,
    REGISTRY_FORMAT,
    Manifest,
    ManifestError,
    ObjectEntry,
    RegionEntry,
    Source,
    parse_manifest,
)
from fleetops.backup.report import BackupResult, emit_backup_metrics
from fleetops.backup.request import BackupRequest
from fleetops.backup.s3store import BackupBucket, NullSink, StoredObject
from fleetops.backup.verify import VerifyReport, verify_backup
from fleetops.core.aws import AwsClients, error_summary
from fleetops.core.clock import Clock, iso_utc, system_clock
from fleetops.core.concurrency import map_concurrently
from fleetops.core.errors import FleetOpsError
from fleetops.core.notify import Notification, Notifier
from fleetops.core.observability import logger, tracer
from fleetops.core.registry import RegistryTable

AWS_ERRORS = (ClientError, BotoCoreError, FleetOpsError)
CONTENT_TYPE = "application/gzip"
LEASE_MARGIN_SECONDS = 30


@dataclass
class BackupDeps:
    """Everything a run needs from outside; built once per container (cold start)."""

    config: BackupConfig
    clients: AwsClients
    clock: Clock = system_clock
    table: RegistryTable = field(init=False)
    bucket: BackupBucket = field(init=False)
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.table = RegistryTable.from_clients(self.clients, self.config)
        self.bucket = BackupBucket.from_clients(self.clients, self.config)
        self.notifier = Notifier.from_clients(
            self.clients, self.config, source="backup", clock=self.clock
        )


@dataclass
class _Export:
    manifest: Manifest
    report: VerifyReport | None = None
    """Set when the objects were already read back (an earlier attempt's backup)."""


def run_backup(
    request: BackupRequest,
    deps: BackupDeps,
    *,
    owner: str,
    lease_seconds: float | None = None,
) -> BackupResult:
    return BackupRunner(deps).run(request, owner=owner, lease_seconds=lease_seconds)


class BackupRunner:
    def __init__(self, deps: BackupDeps) -> None:
        self.deps = deps
        self.config = deps.config
        self.bucket = deps.bucket
        self.index = index.BackupIndex(deps.table)

    @tracer.capture_method
    def run(
        self, request: BackupRequest, *, owner: str, lease_seconds: float | None = None
    ) -> BackupResult:
        started = time.monotonic()
        backup_id = layout.backup_id_for(request.at, request.seed)
        result = BackupResult(backup_id=backup_id, trigger=request.trigger, dry_run=request.dry_run)
        try:
            if request.dry_run:
                self._dry_run(request, result)
            else:
                self._run(request, result, owner, lease_seconds or self.config.backup_lease_seconds)
        finally:
            result.duration_ms = int((time.monotonic() - started) * 1000)
            logger.info("backup finished", extra=result.as_dict())
            emit_backup_metrics(result)
        if result.status == index.FAILED:
            raise BackupFailedError(result.as_dict())
        return result

    # -- the real run ------------------------------------------------------------------------

    def _run(
        self, request: BackupRequest, result: BackupResult, owner: str, lease_seconds: float
    ) -> None:
        try:
            claimed = self._claim(request, result, owner, lease_seconds)
        except AWS_ERRORS as exc:  # S3 or the registry unreachable: nothing was written
            result.status = index.FAILED
            result.error = error_summary(exc)
            logger.exception("backup could not start", extra={"backup_id": result.backup_id})
            self._notify(self._failure_notification(result))
            return
        if not claimed:
            return
        backup_id = result.backup_id
        try:
            export = self._resume(backup_id, result) or self._export(request, result)
            report = export.report or verify_backup(self.bucket, export.manifest, require_kms=True)
            self._finish(export, report, result, owner)
        except (*AWS_ERRORS, StreamFormatError) as exc:
            result.status = index.FAILED
            result.error = error_summary(exc)
            logger.exception("backup failed", extra={"backup_id": backup_id})
            self._record_failure(result, owner)

    def _claim(
        self, request: BackupRequest, result: BackupResult, owner: str, lease_seconds: float
    ) -> bool:
        """True when this run owns the backup id; otherwise `result` says why not."""
        backup_id = result.backup_id
        now = self.deps.clock()
        if self.bucket.exists(layout.verified_key(backup_id)):
            current = self.index.get(backup_id)
            if current is None or current.get("status") != index.VERIFIED:
                # The catalogue lost track (e.g. the registry was restored): re-register it.
                self.index.record(backup_id, {"status": index.VERIFIED})
            result.status = "already_done"
            result.note = "backup already verified"
            return False

        claim = self.index.claim(
            backup_id,
            owner=owner,
            now=now,
            lease_seconds=lease_seconds,
            attributes={
                "started_at": iso_utc(now),
                "trigger": request.trigger,
                "event_id": request.event_id,
                "manifest_key": layout.manifest_key(backup_id),
            },
        )
        if not claim.claimed:
            current = claim.current or {}
            status = str(current.get("status", ""))
            if status in index.FINISHED:
                result.status = "already_done"
                result.note = f"backup already finished with status {status}"
            else:
                result.status = "in_progress"
                result.note = (
                    f"another run ({current.get('owner')}) holds this backup until "
                    f"{iso_utc(float(current.get('lease_expires_at') or now))}"
                )
            logger.info("backup not claimed", extra={"backup_id": backup_id, "note": result.note})
            return False
        return True

    def _resume(self, backup_id: str, result: BackupResult) -> _Export | None:
        """An earlier attempt's manifest, if it exists and its objects still verify."""
        data = self.bucket.get_bytes(layout.manifest_key(backup_id))
        if data is None:
            return None
        try:
            manifest = parse_manifest(data, expected_id=backup_id)
        except ManifestError as exc:
            logger.warning("ignoring unusable earlier manifest", extra={"error": str(exc)})
            return None
        report = verify_backup(self.bucket, manifest, require_kms=True)
        if not report.ok:
            logger.warning(
                "earlier attempt does not verify; backing up again",
                extra={"backup_id": backup_id, "problems": report.problems},
            )
            return None
        result.resumed = True
        return _Export(manifest, report)

    @tracer.capture_method
    def _export(self, request: BackupRequest, result: BackupResult) -> _Export:
        backup_id = result.backup_id
        aborted = self.bucket.abort_uploads(layout.backup_prefix(backup_id))
        if aborted:
            logger.info(
                "aborted unfinished uploads of an earlier attempt", extra={"count": aborted}
            )

        registry_key = layout.object_key(backup_id, layout.REGISTRY_OBJECT)
        writer = GzipLinesWriter(
            self.bucket.sink(
                registry_key, part_size=self.config.part_size_bytes, content_type=CONTENT_TYPE
            )
        )
        try:
            exported = self._export_registry(writer)
            registry_stored = writer.close()
        except BaseException:
            writer.abort()
            raise
        result.add_object(REGISTRY, registry_stored, exported.items)
        result.excluded_items = exported.excluded

        regions = self._fetch_configs(result)
        config_key = layout.object_key(backup_id, layout.CONFIG_OBJECT)
        config_writer = GzipLinesWriter(
            self.bucket.sink(
                config_key, part_size=self.config.part_size_bytes, content_type=CONTENT_TYPE
            )
        )
        try:
            for region_config in regions:
                for record in region_config.records:
                    config_writer.write_line(json_line(record))
            for raw in exported.policies:
                config_writer.write_line(json_line(registry_policy_record(raw)))
            config_lines = config_writer.lines
            config_stored = config_writer.close()
        except BaseException:
            config_writer.abort()
            raise
        result.add_object(CONFIG, config_stored, config_lines)

        manifest = self._manifest(
            request,
            result,
            exported,
            {REGISTRY: (registry_stored, exported.items), CONFIG: (config_stored, config_lines)},
        )
        self.bucket.put_json(layout.manifest_key(backup_id), manifest.document())
        return _Export(manifest)

    def _export_registry(self, writer: GzipLinesWriter) -> RegistryExport:
        table = self.deps.table
        return export_registry(table.client, table.name, writer, guard=table.guard)

    def _fetch_configs(self, result: BackupResult) -> list[RegionConfig]:
        regions = self.config.regions

        def fetch(region: str) -> RegionConfig | BaseException:
            try:
                return fetch_region_config(
                    self.deps.clients, region, tag_key=self.config.fleet_tag_key
                )
            except AWS_ERRORS as exc:
                return exc

        outcomes = map_concurrently(fetch, regions, max_workers=len(regions))
        configs: list[RegionConfig] = []
        for region, outcome in zip(regions, outcomes, strict=True):
            if isinstance(outcome, RegionConfig):
                configs.append(outcome)
                result.regions[region] = RegionEntry(
                    status="ok",
                    autoscaling_groups=outcome.autoscaling_groups,
                    launch_template_versions=outcome.launch_template_versions,
                    scaling_policies=outcome.scaling_policies,
                )
            else:
                result.regions[region] = RegionEntry(status="failed", error=error_summary(outcome))
                logger.error(
                    "region configuration export failed",
                    extra={"region": region, "error": result.regions[region].error},
                )
        return configs

    def _manifest(
        self,
        request: BackupRequest,
        result: BackupResult,
        exported: RegistryExport,
        objects: dict[str, tuple[StoredObject, int]],
    ) -> Manifest:
        formats = {REGISTRY: REGISTRY_FORMAT, CONFIG: CONFIG_FORMAT}
        failed = any(r.status != "ok" for r in result.regions.values())
        status: Literal["complete", "partial"] = PARTIAL if failed else COMPLETE
        return Manifest(
            format_version=FORMAT_VERSION,
            backup_id=result.backup_id,
            created_at=iso_utc(request.at),
            completed_at=iso_utc(self.deps.clock()),
            status=status,
            source=Source(
                table=self.config.ddb_table,
                region=self.config.region,
                regions=list(self.config.regions),
                environment=self.config.environment,
                fleet_tag_key=self.config.fleet_tag_key,
                trigger=request.trigger,
                event_id=request.event_id,
            ),
            objects=[
                ObjectEntry(
                    name=name,
                    key=stored.key,
                    format=formats[name],
                    content_encoding="gzip",
                    items=items,
                    bytes=stored.bytes,
                    sha256=stored.sha256,
                )
                for name, (stored, items) in objects.items()
            ],
            regions=dict(result.regions),
            registry={
                "scaling_policies": len(exported.policies),
                "excluded_partitions": sorted(layout.OPERATIONAL_PARTITIONS),
                "excluded_items": exported.excluded,
                "scan_pages": exported.pages,
            },
        )

    def _finish(
        self, export: _Export, report: VerifyReport, result: BackupResult, owner: str
    ) -> None:
        manifest = export.manifest
        backup_id = manifest.backup_id
        result.adopt(manifest, report)
        now_iso = iso_utc(self.deps.clock())
        outcome = {
            "finished_at": now_iso,
            "items": result.items,
            "bytes": result.bytes,
            "failed_regions": manifest.failed_regions or None,
        }
        if not report.ok:
            result.status = index.FAILED
            result.problems = report.problems
            self._record_failure(result, owner)
            return
        if manifest.status == COMPLETE:
            self.bucket.put_json(
                layout.verified_key(backup_id),
                {
                    "backup_id": backup_id,
                    "verified_at": now_iso,
                    "objects": {name: check.sha256 for name, check in report.objects.items()},
                },
            )
            result.status = index.VERIFIED
            self.index.finish(
                backup_id,
                owner=owner,
                status=index.VERIFIED,
                attributes={**outcome, "verified_at": now_iso},
            )
            return
        result.status = index.PARTIAL
        self.index.finish(backup_id, owner=owner, status=index.PARTIAL, attributes=outcome)
        self._notify(
            Notification(
                kind="backup.partial",
                title=f"Backup {backup_id} is partial",
                summary=(
                    "The registry was backed up and verified, but the fleet configuration of "
                    f"{', '.join(manifest.failed_regions)} could not be read; this backup is not "
                    "marked verified and will not be restored by default."
                ),
                details=result.as_dict(),
                severity="warning",
            )
        )

    def _record_failure(self, result: BackupResult, owner: str) -> None:
        try:
            self.index.finish(
                result.backup_id,
                owner=owner,
                status=index.FAILED,
                attributes={
                    "finished_at": iso_utc(self.deps.clock()),
                    "error": (result.error or "; ".join(result.problems))[:1000],
                },
            )
        except AWS_ERRORS as exc:
            logger.warning("could not record backup failure", extra={"error": error_summary(exc)})
        self._notify(self._failure_notification(result))

    @staticmethod
    def _failure_notification(result: BackupResult) -> Notification:
        return Notification(
            kind="backup.failed",
            title=f"Backup {result.backup_id} failed",
            summary=result.error or "; ".join(result.problems) or "backup failed",
            details=result.as_dict(),
            severity="critical",
        )

    def _notify(self, notification: Notification) -> None:
        try:
            self.deps.notifier.publish(notification)
        except AWS_ERRORS as exc:
            logger.warning(
                "backup notification failed",
                extra={"kind": notification.kind, "error": error_summary(exc)},
            )

    # -- dry run -----------------------------------------------------------------------------

    def _dry_run(self, request: BackupRequest, result: BackupResult) -> None:
        """Export to nowhere: what a backup would hold, without writing anything."""
        backup_id = result.backup_id
        writer = GzipLinesWriter(NullSink(layout.object_key(backup_id, layout.REGISTRY_OBJECT)))
        exported = self._export_registry(writer)
        result.add_object(REGISTRY, writer.close(), exported.items)
        result.excluded_items = exported.excluded
        regions = self._fetch_configs(result)
        config_writer = GzipLinesWriter(
            NullSink(layout.object_key(backup_id, layout.CONFIG_OBJECT))
        )
        for region_config in regions:
            for record in region_config.records:
                config_writer.write_line(json_line(record))
        for raw in exported.policies:
            config_writer.write_line(json_line(registry_policy_record(raw)))
        lines = config_writer.lines
        result.add_object(CONFIG, config_writer.close(), lines)
        failed = any(region.status != "ok" for region in result.regions.values())
        result.status = "dry_run_partial" if failed else "dry_run"
