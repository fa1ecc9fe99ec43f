"""The manifest of a backup: what it holds and how to check it, written after its objects.

    {
      "format_version": 1,
      "backup_id": "20261126T020000Z-1a2b3c4d",
      "created_at": "2026-11-26T02:00:00Z",      # scheduled time (id time)
      "completed_at": "2026-11-26T02:03:12Z",    # manifest written
      "status": "complete" | "partial",         # partial: some region's configuration failed
      "source": {"table": ..., "region": ..., "regions": [...], "environment": ...,
                 "fleet_tag_key": ..., "trigger": "schedule" | "manual", "event_id": ...},
      "objects": [{"name": "registry", "key": "backups/<id>/registry.jsonl.gz",
                   "format": "dynamodb-json-lines", "content_encoding": "gzip",
                   "items": 123, "bytes": 4567, "sha256": "..."}, {"name": "config", ...}],
      "regions": {"us-east-1": {"status": "ok", "error": null, "autoscaling_groups": 2,
                                "launch_template_versions": 3, "scaling_policies": 1}},
      "registry": {"scaling_policies": 2, "excluded_partitions": ["BACKUP", "CLEANUP"]}
    }

A backup is restorable only if its manifest parses with this model (unknown fields are
tolerated for forward compatibility; a newer `format_version` is refused) and every object
matches its entry: sha256 and size of the stored bytes, and the number of lines.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetops.backup import layout

FORMAT_VERSION = 1
COMPLETE: Final = "complete"
PARTIAL: Final = "partial"
REGISTRY = "registry"
CONFIG = "config"
REGISTRY_FORMAT = "dynamodb-json-lines"
CONFIG_FORMAT = "fleet-config-json-lines"


class ManifestError(ValueError):
    """The manifest is missing required fields or is not JSON."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ObjectEntry(_Model):
    name: str
    key: str
    format: str
    content_encoding: str = "gzip"
    items: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class RegionEntry(_Model):
    status: Literal["ok", "failed"]
    error: str | None = None
    autoscaling_groups: int = 0
    launch_template_versions: int = 0
    scaling_policies: int = 0


class Source(_Model):
    table: str
    region: str
    regions: list[str]
    environment: str
    fleet_tag_key: str
    trigger: str
    event_id: str | None = None


class Manifest(_Model):
    format_version: int
    backup_id: str = Field(pattern=layout.BACKUP_ID_PATTERN)
    created_at: str
    completed_at: str
    status: Literal["complete", "partial"]
    source: Source
    objects: list[ObjectEntry] = Field(min_length=1)
    regions: dict[str, RegionEntry] = Field(default_factory=dict)
    registry: dict[str, Any] = Field(default_factory=dict)

    def object(self, name: str) -> ObjectEntry | None:
        return next((entry for entry in self.objects if entry.name == name), None)

    @property
    def failed_regions(self) -> list[str]:
        return sorted(name for name, region in self.regions.items() if region.status != "ok")

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_manifest(data: bytes, expected_id: str | None = None) -> Manifest:
    """Parse and check a stored manifest; `ManifestError` says what is wrong."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ManifestError("manifest is not a JSON object")
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise ManifestError(
            f"manifest format_version {version} is newer than this code supports ({FORMAT_VERSION})"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'manifest'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ManifestError(f"manifest is invalid: {problems}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise ManifestError(f"unsupported manifest format_version {manifest.format_version}")
    if expected_id is not None and manifest.backup_id != expected_id:
        raise ManifestError(
            f"manifest names backup {manifest.backup_id!r}, stored under {expected_id!r}"
        )
    prefix = layout.backup_prefix(manifest.backup_id)
    for entry in manifest.objects:
        if not entry.key.startswith(prefix):
            raise ManifestError(f"object {entry.name!r} key {entry.key!r} is outside {prefix}")
    if manifest.object(REGISTRY) is None:
        raise ManifestError("manifest lists no registry object")
    return manifest
