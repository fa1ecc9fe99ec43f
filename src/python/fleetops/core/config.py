"""Configuration from the environment, parsed and validated once at cold start.

Why here and not scattered `os.environ` reads: a Lambda with a typo in one variable should fail
at its first cold start, naming every bad variable at once, instead of half-running and failing
later on the first code path that happens to read it.

Each function extends `BaseConfig` with its own fields; a field `foo_bar` is read from the
variable `FOO_BAR`. Empty values count as unset, so `FOO=` in a template means "use the default".
Sequences (`CsvTuple`) are comma-separated.

    class HealthConfig(BaseConfig):
        probe_timeout_seconds: float = Field(default=2.0, gt=0)

    CONFIG = HealthConfig.from_env()   # module level == cold start
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from fleetops.core.aws import RetrySettings
from fleetops.core.breaker import BreakerSettings
from fleetops.core.errors import ConfigError

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_ENDPOINT_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")


def split_csv(value: object) -> object:
    """Turn `"a, b,,c"` into `("a", "b", "c")`; leaves non-strings for pydantic to judge."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _check_region(value: str) -> str:
    if not _REGION_RE.match(value):
        raise ValueError(f"{value!r} is not an AWS region name like us-east-1")
    return value


def _check_sns_arn(value: str) -> str:
    if not _SNS_ARN_RE.match(value):
        raise ValueError(
            f"{value!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
        )
    return value


def _check_table(value: str) -> str:
    if not _TABLE_RE.match(value):
        raise ValueError(f"{value!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
    return value


def _check_endpoint(value: str) -> str:
    if not _ENDPOINT_RE.match(value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


Region = Annotated[str, AfterValidator(_check_region)]
"""An AWS region name such as `eu-west-1`."""

CsvTuple = Annotated[tuple[str, ...], BeforeValidator(split_csv), AfterValidator(_unique)]
"""A comma-separated variable as a de-duplicated tuple (order kept)."""

RegionList = Annotated[tuple[Region, ...], BeforeValidator(split_csv), AfterValidator(_unique)]
"""A comma-separated list of region names, de-duplicated, order kept."""

LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class BaseConfig(BaseModel):
    """Variables every fleet-ops function reads (see docs/CONVENTIONS.md).

    Retry and breaker knobs live here too because every function talks to AWS through the
    same `fleetops.core.aws` machinery; tests set the delays to zero instead of sleeping.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    environment: Literal["dev", "staging", "prod"]
    log_level: LogLevel = "INFO"
    region: Region
    ddb_table: Annotated[str, AfterValidator(_check_table)]
    sns_topic: Annotated[str, AfterValidator(_check_sns_arn)]
    regions: RegionList = ()
    fleet_tag_key: str = Field(default="Fleet", min_length=1, max_length=128)
    dry_run: bool = False
    aws_endpoint_url: Annotated[str, AfterValidator(_check_endpoint)] | None = None
    retry_max_attempts: int = Field(default=5, ge=1, le=20)
    retry_base_delay_seconds: float = Field(default=0.2, ge=0)
    retry_max_delay_seconds: float = Field(default=5.0, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=30.0, ge=0)

    def model_post_init(self, context: Any, /) -> None:
        # REGIONS defaults to the home region; done after validation so a bad REGION is
        # reported once, under its own name, not again under REGIONS.
        if not self.regions:
            object.__setattr__(self, "regions", (self.region,))

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable a field is read from."""
        return field.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build the configuration or raise one `ConfigError` naming every bad variable."""
        env = os.environ if environ is None else environ
        raw: dict[str, str] = {}
        for name in cls.model_fields:
            value = env.get(cls.env_name(name), "").strip()
            if value:
                raw[name] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(cls._describe(exc, raw)) from None

    @classmethod
    def _describe(cls, exc: ValidationError, raw: Mapping[str, str]) -> dict[str, str]:
        problems: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False):
            location = error["loc"]
            field = str(location[0]) if location else "?"
            variable = cls.env_name(field)
            if error["type"] == "missing":
                message = "required but not set"
            else:
                message = error["msg"].removeprefix("Value error, ")
                if len(location) > 1:
                    message = f"item {int(location[1]) + 1}: {message}"
                elif field in raw and "is not" not in message:
                    message = f"{message} (got {raw[field]!r})"
            problems.setdefault(variable, []).append(message)
        return {variable: "; ".join(messages) for variable, messages in problems.items()}

    @property
    def retry(self) -> RetrySettings:
        """Retry policy for AWS calls, as configured."""
        return RetrySettings(
            max_attempts=self.retry_max_attempts,
            base_delay=self.retry_base_delay_seconds,
            max_delay=self.retry_max_delay_seconds,
        )

    @property
    def breaker(self) -> BreakerSettings:
        """Circuit-breaker policy for AWS dependencies, as configured."""
        return BreakerSettings(
            failure_threshold=self.breaker_failure_threshold,
            open_seconds=self.breaker_open_seconds,
        )
