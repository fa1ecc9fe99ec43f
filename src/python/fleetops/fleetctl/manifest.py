"""The artifact manifest (dist/manifest.json, and `releases/<release_id>/manifest.json` in buckets).

Shape (keys sorted, 2-space indent, trailing newline; artifacts sorted by name)::

    {"format_version": 1, "release_id": "...", "git_commit": "<40 hex>", "pants_version": "2.17.1",
     "artifacts": [{"name", "path", "s3_key", "size", "sha256", "sha256_base64", "runtime",
                    "architecture", "handler"}, ...]}

Deterministic: the same sources give the same bytes. Nothing time- or machine-dependent goes in;
the release id is derived from the content: `<git_commit[:12]>-<sha256(canonical artifacts)[:12]>`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from fleetops.fleetctl.catalog import CATALOG, ArtifactSpec
from fleetops.fleetctl.errors import ConfigError, ManifestError

FORMAT_VERSION = 1
MANIFEST_FILENAME = "manifest.json"
CHUNK_SIZE = 1024 * 1024

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_RELEASE_ID = re.compile(r"^[0-9a-f]{12}-[0-9a-f]{12}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

ARTIFACT_FIELDS = frozenset(
    {
        "name",
        "path",
        "s3_key",
        "size",
        "sha256",
        "sha256_base64",
        "runtime",
        "architecture",
        "handler",
    }
)
MANIFEST_FIELDS = frozenset(
    {"format_version", "release_id", "git_commit", "pants_version", "artifacts"}
)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Digest:
    """A SHA-256 digest in the two spellings the pipeline needs."""

    hex: str
    base64: str
    size: int

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        raw = hashlib.sha256(data).digest()
        return cls(raw.hex(), base64.b64encode(raw).decode("ascii"), len(data))

    @classmethod
    def of_stream(cls, stream: Readable) -> Digest:
        h = hashlib.sha256()
        size = 0
        while chunk := stream.read(CHUNK_SIZE):
            h.update(chunk)
            size += len(chunk)
        raw = h.digest()
        return cls(raw.hex(), base64.b64encode(raw).decode("ascii"), size)

    @classmethod
    def of_file(cls, path: Path) -> Digest:
        with path.open("rb") as f:
            return cls.of_stream(f)


def hex_to_base64(hex_digest: str) -> str:
    """Terraform's `source_code_hash` / S3's `ChecksumSHA256` spelling of a hex SHA-256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def s3_key_for(name: str, sha256_hex: str) -> str:
    """The content-addressed key of an artifact in an artifact bucket."""
    return f"{name}/{sha256_hex}.zip"


def release_manifest_key(release_id: str) -> str:
    return f"releases/{release_id}/{MANIFEST_FILENAME}"


@dataclass(frozen=True)
class Artifact:
    name: str
    path: str
    s3_key: str
    size: int
    sha256: str
    sha256_base64: str
    runtime: str
    architecture: str
    handler: str

    @classmethod
    def from_spec(cls, spec: ArtifactSpec, digest: Digest) -> Artifact:
        return cls(
            name=spec.name,
            path=spec.path,
            s3_key=s3_key_for(spec.name, digest.hex),
            size=digest.size,
            sha256=digest.hex,
            sha256_base64=digest.base64,
            runtime=spec.runtime,
            architecture=spec.architecture,
            handler=spec.handler,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical_json(value: Any) -> bytes:
    """Compact, key-sorted JSON: the bytes hashed for the release id."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def artifacts_digest(artifacts: Iterable[Artifact]) -> str:
    """SHA-256 (hex) of the canonical JSON of the artifact list, in manifest order."""
    return hashlib.sha256(canonical_json([a.to_dict() for a in artifacts])).hexdigest()


def compute_release_id(git_commit: str, artifacts: Iterable[Artifact]) -> str:
    return f"{git_commit[:12]}-{artifacts_digest(artifacts)[:12]}"


@dataclass(frozen=True)
class Manifest:
    release_id: str
    git_commit: str
    pants_version: str
    artifacts: tuple[Artifact, ...]
    format_version: int = FORMAT_VERSION

    @classmethod
    def create(
        cls, *, git_commit: str, pants_version: str, artifacts: Iterable[Artifact]
    ) -> Manifest:
        ordered = tuple(sorted(artifacts, key=lambda a: a.name))
        manifest = cls(
            release_id=compute_release_id(git_commit, ordered),
            git_commit=git_commit,
            pants_version=pants_version,
            artifacts=ordered,
        )
        manifest.validate()
        return manifest

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "release_id": self.release_id,
            "git_commit": self.git_commit,
            "pants_version": self.pants_version,
            "artifacts": [a.to_dict() for a in self.artifacts],
        }

    def to_bytes(self) -> bytes:
        """The manifest's one serialization: keys sorted, 2-space indent, trailing newline."""
        return (json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n").encode("ascii")

    @property
    def key(self) -> str:
        """Where this release's manifest lives in an artifact bucket."""
        return release_manifest_key(self.release_id)

    def artifact(self, name: str) -> Artifact:
        for a in self.artifacts:
            if a.name == name:
                return a
        raise KeyError(name)

    def validate(self) -> None:
        """Every invariant a consumer relies on; ManifestError listing every problem found."""
        problems: list[str] = []
        if self.format_version != FORMAT_VERSION:
            problems.append(f"format_version {self.format_version!r} is not {FORMAT_VERSION}")
        if not _HEX40.match(self.git_commit):
            problems.append(f"git_commit {self.git_commit!r} is not 40 lowercase hex digits")
        if not self.pants_version:
            problems.append("pants_version is empty")
        if not self.artifacts:
            problems.append("no artifacts")
        names = [a.name for a in self.artifacts]
        if names != sorted(names):
            problems.append("artifacts are not sorted by name")
        if len(set(names)) != len(names):
            problems.append("duplicate artifact names")
        for a in self.artifacts:
            problems.extend(_artifact_problems(a))
        if not problems and self.release_id != compute_release_id(self.git_commit, self.artifacts):
            problems.append(
                f"release_id {self.release_id!r} does not match the content "
                f"(expected {compute_release_id(self.git_commit, self.artifacts)!r})"
            )
        if problems:
            raise ManifestError("invalid manifest: " + "; ".join(problems))


def _artifact_problems(a: Artifact) -> list[str]:
    problems: list[str] = []
    label = f"artifact {a.name!r}"
    if not _NAME.match(a.name):
        problems.append(f"{label}: name must be lowercase letters, digits and '-'")
    path = PurePosixPath(a.path)
    if path.is_absolute() or ".." in path.parts or not a.path:
        problems.append(f"{label}: path {a.path!r} must be relative inside dist/")
    if not _HEX64.match(a.sha256):
        problems.append(f"{label}: sha256 is not 64 lowercase hex digits")
    else:
        if a.sha256_base64 != hex_to_base64(a.sha256):
            problems.append(f"{label}: sha256_base64 does not encode sha256")
        if a.s3_key != s3_key_for(a.name, a.sha256):
            problems.append(f"{label}: s3_key {a.s3_key!r} is not {s3_key_for(a.name, a.sha256)!r}")
    if isinstance(a.size, bool) or not isinstance(a.size, int) or a.size < 0:
        problems.append(f"{label}: size must be a non-negative integer")
    for field in ("runtime", "architecture", "handler"):
        if not getattr(a, field):
            problems.append(f"{label}: {field} is empty")
    return problems


def parse_manifest(data: bytes | str, *, source: str = "manifest") -> Manifest:
    """Parse and validate a manifest document (unknown or missing fields are errors)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: expected a JSON object")
    _check_fields(doc, MANIFEST_FIELDS, source)
    raw_artifacts = doc["artifacts"]
    if not isinstance(raw_artifacts, list):
        raise ManifestError(f"{source}: 'artifacts' must be a list")
    artifacts: list[Artifact] = []
    for i, item in enumerate(raw_artifacts):
        where = f"{source}: artifacts[{i}]"
        if not isinstance(item, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        _check_fields(item, ARTIFACT_FIELDS, where)
        for field in ARTIFACT_FIELDS - {"size"}:
            if not isinstance(item[field], str):
                raise ManifestError(f"{where}: {field!r} must be a string")
        artifacts.append(Artifact(**item))
    for field in ("release_id", "git_commit", "pants_version"):
        if not isinstance(doc[field], str):
            raise ManifestError(f"{source}: {field!r} must be a string")
    manifest = Manifest(
        format_version=doc["format_version"],
        release_id=doc["release_id"],
        git_commit=doc["git_commit"],
        pants_version=doc["pants_version"],
        artifacts=tuple(artifacts),
    )
    try:
        manifest.validate()
    except ManifestError as exc:
        raise ManifestError(f"{source}: {exc}") from exc
    return manifest


def _check_fields(doc: Mapping[str, Any], expected: frozenset[str], where: str) -> None:
    missing = sorted(expected - doc.keys())
    unknown = sorted(doc.keys() - expected)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        raise ManifestError(f"{where}: {'; '.join(parts)}")


def read_manifest(path: Path) -> Manifest:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(
            f"{path} not found: run `fleetctl manifest --dist {path.parent}` "
            "after `./pants package ::`"
        ) from exc
    return parse_manifest(data, source=str(path))


def is_valid_release_id(release_id: str) -> bool:
    return bool(_RELEASE_ID.match(release_id))


# --- building the manifest from dist/ -------------------------------------------------------


def build_manifest(
    dist: Path,
    *,
    git_commit: str,
    pants_version: str,
    catalog: Iterable[ArtifactSpec] = CATALOG,
) -> Manifest:
    """The manifest of the catalog's artifacts found in `dist` (every one must be there)."""
    specs = list(catalog)
    require_artifacts(dist, specs)
    artifacts = [Artifact.from_spec(s, Digest.of_file(dist / s.path)) for s in specs]
    return Manifest.create(git_commit=git_commit, pants_version=pants_version, artifacts=artifacts)


def require_artifacts(dist: Path, catalog: Iterable[ArtifactSpec] = CATALOG) -> None:
    """ManifestError naming every catalog artifact missing from `dist`."""
    missing = [f"{s.name} ({dist / s.path})" for s in catalog if not (dist / s.path).is_file()]
    if missing:
        raise ManifestError(
            f"artifact(s) missing from {dist}: {', '.join(missing)}; run `./pants package ::` first"
        )


def uncatalogued_zips(dist: Path, catalog: Iterable[ArtifactSpec] = CATALOG) -> list[str]:
    """Zips under dist/lambdas that the catalog does not name (a catalog out of date?)."""
    known = {s.path for s in catalog}
    lambdas = dist / "lambdas"
    if not lambdas.is_dir():
        return []
    found = (p.relative_to(dist).as_posix() for p in lambdas.glob("*.zip"))
    return sorted(p for p in found if p not in known)


def check_dist_matches(dist: Path, manifest: Manifest) -> list[tuple[Artifact, Path, Digest]]:
    """Hash every artifact in `dist` and compare with `manifest` (ManifestError naming every
    mismatch). Returns (artifact, local path, local digest) in manifest order."""
    problems: list[str] = []
    checked: list[tuple[Artifact, Path, Digest]] = []
    for a in manifest.artifacts:
        path = dist / a.path
        if not path.is_file():
            problems.append(f"{a.name}: {path} is missing")
            continue
        digest = Digest.of_file(path)
        if digest.hex != a.sha256 or digest.size != a.size:
            problems.append(
                f"{a.name}: {path} has sha256 {digest.hex} ({digest.size} bytes), "
                f"manifest says {a.sha256} ({a.size} bytes)"
            )
        checked.append((a, path, digest))
    if problems:
        raise ManifestError(
            "dist/ does not match the manifest (rebuilt after `fleetctl manifest`?): "
            + "; ".join(problems)
        )
    return checked


def find_build_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding pants.toml."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "pants.toml").is_file():
            return d
    raise ConfigError(f"no pants.toml found at or above {start}; pass --pants-toml")


def read_pants_version(pants_toml: Path) -> str:
    try:
        with pants_toml.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"{pants_toml} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pants_toml}: invalid TOML ({exc})") from exc
    version = doc.get("GLOBAL", {}).get("pants_version")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"{pants_toml}: [GLOBAL] pants_version is not set")
    return version


def git_head(repo: Path) -> str:
    """`git rev-parse HEAD` in `repo`, as 40 lowercase hex digits."""
    try:
        proc = subprocess.run(  # nosec B607 - git from PATH
            ["git", "rev-parse", "--verify", "HEAD^{commit}"],  # noqa: S607
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run git in {repo} ({exc}); pass --git-commit") from exc
    commit = proc.stdout.strip().lower()
    if proc.returncode != 0 or not _HEX40.match(commit):
        detail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"`git rev-parse HEAD` failed in {repo} ({detail[0]}); pass --git-commit")
    return commit


def git_is_dirty(repo: Path) -> bool:
    """True when tracked files differ from HEAD (the manifest's commit would not be the build's)."""
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607  # nosec B607
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def normalize_commit(commit: str) -> str:
    c = commit.strip().lower()
    if not _HEX40.match(c):
        raise ConfigError(f"git commit {commit!r} is not 40 hex digits")
    return c


def write_manifest(manifest: Manifest, out: Path) -> bool:
    """Write `manifest` to `out` (atomically); False when the file already had these bytes."""
    data = manifest.to_bytes()
    if out.is_file() and out.read_bytes() == data:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return True


__all__ = [
    "FORMAT_VERSION",
    "Artifact",
    "Digest",
    "Manifest",
    "build_manifest",
    "check_dist_matches",
    "compute_release_id",
    "find_build_root",
    "git_head",
    "parse_manifest",
    "read_manifest",
    "read_pants_version",
]
