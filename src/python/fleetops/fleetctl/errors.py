"""fleetctl's errors: each carries a message meant for the person at the terminal."""

from __future__ import annotations


class FleetctlError(Exception):
    """A failure fleetctl reports as one clear line and a non-zero exit code."""


class ConfigError(FleetctlError):
    """Missing or invalid configuration (bucket, region, pants.toml, git commit)."""


class ManifestError(FleetctlError):
    """A manifest that is missing, malformed, inconsistent or does not match dist/."""


class IntegrityError(FleetctlError):
    """An object that is missing or whose bytes do not match the manifest's checksum."""


class ReleaseConflictError(FleetctlError):
    """A release id already stored with different manifest bytes (releases are immutable)."""
