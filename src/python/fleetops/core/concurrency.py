"""Bounded fan-out over worker threads that keeps logging and tracing context.

Many small AWS calls (one conditional write per changed item, one probe per instance) are
latency-bound, so a few threads multiply throughput. Two details make a plain executor wrong:
contextvars (Powertools' thread-safe log keys) and the X-Ray segment are per thread and must be
carried into workers, and submitting every item up front would hold one future per item in
memory; here at most `window` are in flight.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from fleetops.core.observability import propagate_trace

T = TypeVar("T")
R = TypeVar("R")


def map_concurrently(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int,
    window: int | None = None,
) -> list[R]:
    """`[fn(item) for item in items]`, run on up to `max_workers` threads, order kept.

    An exception from `fn` propagates once in-flight work has finished and stops submitting
    further items; where partial failure is expected, let `fn` return an outcome instead.
    `max_workers <= 1` runs inline, which keeps tests deterministic.
    """
    if max_workers <= 1:
        return [fn(item) for item in items]
    limit = window or max_workers * 4
    traced = propagate_trace(fn)
    results: list[R] = []
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fleetops") as executor:
        for item in items:
            context = contextvars.copy_context()
            pending.append(executor.submit(context.run, traced, item))
            if len(pending) >= limit:
                results.append(pending.popleft().result())
        while pending:
            results.append(pending.popleft().result())
    return results
