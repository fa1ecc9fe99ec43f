"""An environment's artifact bucket: retried S3 calls with SHA-256 checksums end to end.

Every object fleetctl writes is sent with `ChecksumAlgorithm="SHA256"` and the expected
`ChecksumSHA256`, so S3 rejects a body that does not match (BadDigest), and is then checked with
`head_object(ChecksumMode="ENABLED")`. Reads stream through SHA-256, so a changed object is caught
even where a checksum header is absent or stale.

Retries: tenacity, exponential backoff with full jitter, for throttling, 5xx and connection
errors only. botocore's own retries are switched off so one policy decides attempts and delays
(zero delays in tests). Bodies are re-opened or re-wound on every attempt.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ParamSpec, TypeVar

import boto3
import tenacity
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from fleetops.fleetctl.errors import ConfigError, FleetctlError
from fleetops.fleetctl.manifest import CHUNK_SIZE, Digest

P = ParamSpec("P")
T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def is_transient(exc: BaseException) -> bool:
    """Throttling, server errors and network trouble: worth another attempt."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in TRANSIENT_CODES or status >= 500
    return isinstance(
        exc, BotoConnectionError | HTTPClientError | IncompleteReadError | ResponseStreamingError
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))


def is_not_found(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND_CODES


def describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or ""
        return f"{error_code(exc)}: {message}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for transient S3 errors (full jitter, capped exponential)."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RetryPolicy:
        """FLEETCTL_RETRY_ATTEMPTS / FLEETCTL_RETRY_BASE_DELAY / FLEETCTL_RETRY_MAX_DELAY."""
        try:
            return cls(
                max_attempts=int(environ.get("FLEETCTL_RETRY_ATTEMPTS", cls.max_attempts)),
                base_delay=float(environ.get("FLEETCTL_RETRY_BASE_DELAY", cls.base_delay)),
                max_delay=float(environ.get("FLEETCTL_RETRY_MAX_DELAY", cls.max_delay)),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid FLEETCTL_RETRY_* setting: {exc}") from exc

    def retrying(self) -> tenacity.Retrying:
        wait: tenacity.wait.wait_base
        if self.base_delay == 0 or self.max_delay == 0:
            wait = tenacity.wait_none()
        else:
            wait = tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(is_transient),
            reraise=True,
        )

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.retrying()(fn, *args, **kwargs)


def resolve_region(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """--region, else AWS_REGION, else AWS_DEFAULT_REGION (else the profile's, via boto3)."""
    return explicit or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None


def make_session(region: str | None, profile: str | None = None) -> boto3.session.Session:
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:
        raise ConfigError(f"AWS session: {exc}") from exc
    if not session.region_name:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    return session


def client_config() -> Config:
    """Bounded waits; botocore retries off (RetryPolicy owns retrying)."""
    return Config(
        connect_timeout=10,
        read_timeout=120,
        retries={"total_max_attempts": 1, "mode": "standard"},
        user_agent_appid="fleetctl",
    )


def make_s3_client(session: boto3.session.Session) -> Any:
    """An S3 client; boto3 itself honours AWS_ENDPOINT_URL (e.g. a moto server)."""
    return session.client("s3", config=client_config())


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    checksum_sha256: str | None
    """Base64 SHA-256 of the whole object as S3 stored it, None when S3 has none (or only a
    composite multipart checksum, which is not comparable with a whole-object digest)."""
    last_modified: datetime | None = None


class Bucket:
    """One environment's artifact bucket."""

    def __init__(self, client: Any, name: str, *, env: str, retry: RetryPolicy) -> None:
        self.client = client
        self.name = name
        self.env = env
        self.retry = retry

    def url(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def _fail(self, action: str, key: str, exc: BaseException) -> FleetctlError:
        if isinstance(exc, ClientError) and error_code(exc) == "NoSuchBucket":
            return ConfigError(f"bucket {self.name!r} ({self.env}) does not exist")
        return FleetctlError(f"{action} {self.url(key)} failed: {describe(exc)}")

    def head(self, key: str) -> ObjectInfo | None:
        """Size and stored SHA-256 of `key`, or None when there is no such object."""
        try:
            resp = self.retry.call(
                self.client.head_object, Bucket=self.name, Key=key, ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise self._fail("head", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("head", key, exc) from exc
        checksum = resp.get("ChecksumSHA256")
        if checksum is not None and ("-" in checksum or resp.get("ChecksumType") == "COMPOSITE"):
            checksum = None
        return ObjectInfo(
            size=int(resp.get("ContentLength", 0)),
            checksum_sha256=checksum,
            last_modified=resp.get("LastModified"),
        )

    def put_file(self, key: str, path: Path, *, sha256_base64: str, content_type: str) -> None:
        """Upload `path` with its expected SHA-256: S3 refuses the body if it does not match."""

        def attempt() -> Any:
            with path.open("rb") as body:
                return self.client.put_object(
                    Bucket=self.name,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=sha256_base64,
                )

        attempt.__name__ = "put_object"
        try:
            self.retry.call(attempt)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("upload", key, exc) from exc

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/json") -> None:
        digest = Digest.of_bytes(data)
        try:
            self.retry.call(
                self.client.put_object,
                Bucket=self.name,
                Key=key,
                Body=data,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=digest.base64,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from exc

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's bytes (manifests, pointers), or None when it does not exist."""

        def attempt() -> bytes:
            resp = self.client.get_object(Bucket=self.name, Key=key)
            data: bytes = resp["Body"].read()
            return data

        attempt.__name__ = "get_object"
        try:
            return self.retry.call(attempt)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise self._fail("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc

    def download(self, key: str, sink: BinaryIO | None = None) -> Digest | None:
        """Stream `key` through SHA-256 (into `sink` when given, which must be seekable).

        None when the object does not exist. A retried attempt starts the sink over.
        """

        def attempt() -> Digest:
            if sink is not None:
                sink.seek(0)
                sink.truncate()
            resp = self.client.get_object(Bucket=self.name, Key=key)
            body = resp["Body"]
            tee = _HashingTee(body, sink)
            try:
                while tee.read(CHUNK_SIZE):
                    pass
            except FlexibleChecksumError:
                # botocore checked the body against S3's stored checksum at the end of the
                # stream and they differ. Every byte went through `tee`: judge its digest
                # against the manifest like any other.
                pass
            finally:
                body.close()
            return tee.digest()

        attempt.__name__ = "get_object"
        try:
            return self.retry.call(attempt)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise self._fail("download", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("download", key, exc) from exc


class _HashingTee:
    """Reads `source`, hashing every byte and copying it into `sink` (if any)."""

    def __init__(self, source: Any, sink: BinaryIO | None) -> None:
        self.source = source
        self.sink = sink
        self._hash = hashlib.sha256()
        self._size = 0

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        chunk: bytes = self.source.read(size)
        if chunk:
            self._hash.update(chunk)
            self._size += len(chunk)
            if self.sink is not None:
                self.sink.write(chunk)
        return chunk

    def digest(self) -> Digest:
        raw = self._hash.digest()
        return Digest(raw.hex(), base64.b64encode(raw).decode("ascii"), self._size)


def caller_identity(session: boto3.session.Session | None, environ: Mapping[str, str]) -> str:
    """Who is acting: the STS caller ARN if available, else $GITHUB_ACTOR / $USER."""
    if session is not None:
        try:
            sts = session.client(
                "sts",
                config=Config(
                    connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 2}
                ),
            )
            arn = sts.get_caller_identity().get("Arn")
            if arn:
                return str(arn)
        except Exception:  # noqa: S110  # nosec B110 - identity is best effort; fall back below
            pass
    for var in ("GITHUB_ACTOR", "USER", "USERNAME"):
        if environ.get(var):
            return f"{var.lower()}:{environ[var]}"
    return "unknown"


def bucket_env_var(env: str) -> str:
    """FLEETOPS_ARTIFACT_BUCKET_<ENV>: the variable naming an environment's artifact bucket."""
    return "FLEETOPS_ARTIFACT_BUCKET_" + env.upper().replace("-", "_")


def resolve_bucket(env: str, explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """--bucket, else $FLEETOPS_ARTIFACT_BUCKET_<ENV>; ConfigError naming both when neither."""
    name = explicit or environ.get(bucket_env_var(env), "").strip()
    if not name:
        raise ConfigError(
            f"no artifact bucket for environment {env!r}: "
            f"pass --bucket or set {bucket_env_var(env)}"
        )
    return name
