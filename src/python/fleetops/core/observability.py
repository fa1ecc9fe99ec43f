"""The process's one Powertools Logger, Tracer and Metrics, and how handlers use them.

Created once at import (cold start) so every module logs through the same structured JSON
logger, and a handler decorated with `lambda_handler` gets the request id and Lambda context on
every line, an X-Ray segment (unless `POWERTOOLS_TRACE_DISABLED=true`, as in tests) and its EMF
metrics flushed at the end of the invocation.

Metrics namespace: `POWERTOOLS_METRICS_NAMESPACE`, default `FleetOps`. Service name:
`POWERTOOLS_SERVICE_NAME` (one per function). `configure()` applies the validated configuration
(log level, `Environment` dimension) once the config has been parsed.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.warnings import PowertoolsUserWarning

if TYPE_CHECKING:
    from fleetops.core.config import BaseConfig

DEFAULT_NAMESPACE = "FleetOps"
_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})

R = TypeVar("R")


def _initial_level() -> str:
    # The logger exists before the configuration is validated; an invalid LOG_LEVEL must end up
    # in the ConfigError message rather than crash the import here.
    level = os.environ.get("LOG_LEVEL", "").strip().upper()
    return level if level in _LEVELS else "INFO"


def metrics_namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or DEFAULT_NAMESPACE


class _CurrentStdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at emit time, not at import time.

    Lambda ships stdout to CloudWatch either way; tests and tools that swap `sys.stdout`
    (pytest's capsys, a CLI capturing output) then see the structured lines too.
    """

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


logger = Logger(level=_initial_level(), logger_handler=_CurrentStdoutHandler())
tracer = Tracer()
metrics = Metrics(namespace=metrics_namespace())

_default_dimensions: dict[str, str] = {}
_static_log_keys: dict[str, str] = {}


def configure(config: BaseConfig) -> None:
    """Apply validated settings; call once after the configuration is parsed."""
    logger.setLevel(config.log_level)
    _static_log_keys["environment"] = config.environment
    logger.append_keys(**_static_log_keys)
    _default_dimensions.clear()
    _default_dimensions["Environment"] = config.environment
    with warnings.catch_warnings():
        # Powertools 3.20 adds each default dimension twice and warns about its own duplicate.
        warnings.simplefilter("ignore", PowertoolsUserWarning)
        metrics.set_default_dimensions(**_default_dimensions)


def lambda_handler(fn: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
    """Decorate a Lambda handler: context-rich logs, tracing, cold-start metric, EMF flush."""

    @functools.wraps(fn)
    def with_static_keys(event: Any, context: Any) -> R:
        # inject_lambda_context(clear_state=True) resets keys per invocation; re-add ours.
        logger.append_keys(**_static_log_keys)
        return fn(event, context)

    with_context: Callable[[Any, Any], R] = logger.inject_lambda_context(clear_state=True)(
        with_static_keys
    )
    traced: Callable[[Any, Any], R] = tracer.capture_lambda_handler(with_context)
    measured: Callable[[Any, Any], R] = metrics.log_metrics(capture_cold_start_metric=True)(traced)
    return functools.wraps(fn)(measured)


def emit_metrics(
    values: Mapping[str, float],
    *,
    dimensions: Mapping[str, str] | None = None,
    unit: MetricUnit = MetricUnit.Count,
) -> None:
    """Emit one EMF document with its own dimension set (e.g. per region), right now.

    The shared `metrics` object has one dimension set per invocation; per-region figures need
    their own, so they go through a throwaway EMF provider that flushes immediately.
    """
    if not values:
        return
    emf = EphemeralMetrics(
        namespace=metrics_namespace(), service=os.environ.get("POWERTOOLS_SERVICE_NAME")
    )
    for name, dimension in {**_default_dimensions, **(dimensions or {})}.items():
        emf.add_dimension(name=name, value=dimension)
    for name, value in values.items():
        emf.add_metric(name=name, unit=unit, value=value)
    emf.flush_metrics()


def propagate_trace(fn: Callable[..., R]) -> Callable[..., R]:
    """Wrap `fn` so that, run in a worker thread, its AWS calls join the caller's X-Ray trace.

    X-Ray keeps the current segment in a thread-local; without this every call made by a worker
    thread would be an orphan (and log a "context missing" error each time).
    """
    if tracer.disabled:
        return fn
    recorder: Any = tracer.provider  # aws_xray_sdk's recorder unless a custom provider is set
    try:
        entity = recorder.get_trace_entity()
    except Exception:  # tracing must never break the work it observes
        return fn

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> R:
        recorder.set_trace_entity(entity)
        try:
            return fn(*args, **kwargs)
        finally:
            recorder.clear_trace_entities()

    return run


__all__ = [
    "DEFAULT_NAMESPACE",
    "MetricUnit",
    "configure",
    "emit_metrics",
    "lambda_handler",
    "logger",
    "metrics",
    "metrics_namespace",
    "propagate_trace",
    "tracer",
]
