"""Opt-in speed-ups of moto for large-fleet benchmarks; same answers, different complexity.

moto 5.2 looks up an EC2 resource's tags by scanning every tag of every resource in the region
(`TaggedEC2Resource.get_tags` -> `TagBackend.describe_tags` with a resource-id filter), and it
does so for each instance it filters or renders: DescribeInstances becomes quadratic in fleet
size (hours for 10,000 instances). `indexed_ec2_tags()` answers the same lookup from the
backend's own per-resource tag index. The code under test and every request it makes are
unchanged; only the mock gets faster. Tests of behaviour do not need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


def _indexed_get_tags(self: Any) -> list[dict[str, str]]:
    resource_id = self.id
    if not resource_id:
        return []
    tags = self.ec2_backend.tags.get(resource_id, {})
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in tags.items()
    ]


@contextmanager
def indexed_ec2_tags() -> Iterator[None]:
    original = TaggedEC2Resource.get_tags
    TaggedEC2Resource.get_tags = _indexed_get_tags  # type: ignore[method-assign]
    try:
        yield
    finally:
        TaggedEC2Resource.get_tags = original  # type: ignore[method-assign]
