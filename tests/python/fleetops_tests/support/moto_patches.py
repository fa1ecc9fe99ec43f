"""Opt-in speed-ups of moto for large-fleet benchmarks; same answers, different complexity.

1. moto 5.2 looks up an EC2 resource's tags by scanning every tag of every resource in the region
(`TaggedEC2Resource.get_tags` -> `TagBackend.describe_tags` with a resource-id filter), and it
does so for each instance it filters or renders: DescribeInstances becomes quadratic in fleet
size (hours for 10,000 instances). `indexed_ec2_tags()` answers the same lookup from the
backend's own per-resource tag index.

2. moto 5.2 backs a TransactWriteItems up by deep-copying the whole table once per action
(100 copies of the registry per request: about 30 s per transaction at 5,000 items).
`item_level_transaction_rollback()` snapshots only the items the transaction names and puts
them back when it is cancelled; the transaction logic itself is moto's own.

The code under test and every request it makes are unchanged; only the mock gets faster.
Tests of behaviour do not need these.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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


def _deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items


def _item_level_transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
    snapshots = []
    for action in transact_items:
        op: dict[str, Any] = next(iter(action.values()), {})
        table = self.tables.get(op.get("TableName"))
        key = op.get("Key") or op.get("Item")
        if table is None or not key or table.hash_key_attr not in key:
            continue  # moto's own validation will answer
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = (
            DynamoType(key[table.range_key_attr])
            if table.range_key_attr and table.range_key_attr in key
            else None
        )
        if table.has_range_key and range_value is None:
            continue
        current = table.get_item(hash_value, range_value)
        snapshots.append((table, hash_value, range_value, copy.deepcopy(current)))
    try:
        _ORIGINAL_TRANSACT(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(snapshots):
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            elif item is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item
        raise


@contextmanager
def item_level_transaction_rollback() -> Iterator[None]:
    original_copy = dynamodb_models.copy
    dynamodb_models.copy = types.SimpleNamespace(  # type: ignore[assignment]
        deepcopy=_deepcopy_except_tables, copy=copy.copy
    )
    DynamoDBBackend.transact_write_items = _item_level_transact  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = _ORIGINAL_TRANSACT  # type: ignore[method-assign]
        dynamodb_models.copy = original_copy


@contextmanager
def large_fleet_speedups() -> Iterator[None]:
    """Both speed-ups, for the benchmarks' moto servers."""
    with ExitStack() as stack:
        stack.enter_context(indexed_ec2_tags())
        stack.enter_context(item_level_transaction_rollback())
        yield
