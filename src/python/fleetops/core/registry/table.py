"""Access to the registry table: paginated queries, batch writes, conditional updates.

Uses the low-level DynamoDB client (plain Python values in, plain values out; numbers come back
as `int` when integral) so every request is one visible botocore operation: easy to count,
easy to inject faults into, and no hidden resource-layer retries.

Write rules (docs/CONVENTIONS.md): shared items are changed with `update_owned` only, which SETs
the writer's own attributes, bumps `version`, and is conditional on the writer's own counter
(`update_owned_batch` sends up to 100 of those in one TransactWriteItems); `batch_write` is for
items a single writer owns whole (it cannot carry conditions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import tenacity
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from fleetops.core.aws import Guard, RetrySettings
from fleetops.core.errors import BatchWriteError, ConflictError, TransactionError
from fleetops.core.observability import logger
from fleetops.core.registry.keys import Key
from fleetops.core.registry.records import parse_record

if TYPE_CHECKING:
    from fleetops.core.aws import AwsClients
    from fleetops.core.config import BaseConfig

T = TypeVar("T")

BATCH_LIMIT = 25
"""BatchWriteItem's maximum number of requests per call."""

TRANSACTION_LIMIT = 100
"""TransactWriteItems' maximum number of actions per call."""

TRANSIENT_CANCELLATIONS = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)
"""Cancellation reasons that say "not now" about an item (a concurrent write or transaction on
it, throttling), not "no": the same action may succeed when sent again."""

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_wire_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _to_wire_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_wire_value(v) for v in value]
    return value


def _from_wire_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_wire_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_wire_value(v) for v in value]
    if isinstance(value, set):
        return {_from_wire_value(v) for v in value}
    return value


def serialize(value: Any) -> dict[str, Any]:
    """A Python value in DynamoDB's typed wire format (floats allowed, tuples become lists)."""
    wire: dict[str, Any] = _serializer.serialize(_to_wire_value(value))
    return wire


def serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: serialize(value) for name, value in item.items()}


def deserialize_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _from_wire_value(_deserializer.deserialize(value)) for name, value in raw.items()}


def _placeholder(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


@dataclass(frozen=True)
class Condition:
    """A condition expression with its own placeholders (`#c_<attr>`, `:c_<attr>_<op>`).

    Combine with `|` and `&`. Update placeholders are `#u*`/`:u*`, so the two never collide.
    """

    expression: str
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def attribute_not_exists(cls, attr: str) -> Condition:
        name = f"#c_{_placeholder(attr)}"
        return cls(f"attribute_not_exists({name})", {name: attr})

    @classmethod
    def attribute_exists(cls, attr: str) -> Condition:
        name = f"#c_{_placeholder(attr)}"
        return cls(f"attribute_exists({name})", {name: attr})

    @classmethod
    def compare(cls, attr: str, op: str, value: Any) -> Condition:
        """`attr <op> value` with op one of = <> < <= > >=."""
        suffixes = {"=": "eq", "<>": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
        if op not in suffixes:
            raise ValueError(f"unsupported comparison {op!r}")
        name = f"#c_{_placeholder(attr)}"
        placeholder = f":c_{_placeholder(attr)}_{suffixes[op]}"
        return cls(f"{name} {op} {placeholder}", {name: attr}, {placeholder: value})

    @classmethod
    def equals(cls, attr: str, value: Any) -> Condition:
        return cls.compare(attr, "=", value)

    def _combine(self, other: Condition, op: str) -> Condition:
        clash = {
            k for k in self.values.keys() & other.values.keys() if self.values[k] != other.values[k]
        }
        if clash:
            raise ValueError(f"conflicting condition placeholders: {sorted(clash)}")
        return Condition(
            f"({self.expression}) {op} ({other.expression})",
            {**self.names, **other.names},
            {**self.values, **other.values},
        )

    def __or__(self, other: Condition) -> Condition:
        return self._combine(other, "OR")

    def __and__(self, other: Condition) -> Condition:
        return self._combine(other, "AND")


@dataclass(frozen=True, slots=True)
class OwnedUpdate:
    """One `update_owned` (same fields, same meaning), for `RegistryTable.update_owned_batch`."""

    key: Key
    owned: Mapping[str, Any]
    counter: str
    expected: int | None
    shared_counter: str = "version"

    def condition(self) -> Condition:
        if self.expected is None:
            return Condition.attribute_not_exists(self.counter)
        return Condition.equals(self.counter, self.expected)

    def set_attrs(self) -> dict[str, Any]:
        return {**self.owned, self.counter: (self.expected or 0) + 1}


def _is_conditional_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class RegistryTable:
    """The registry table. Thread-safe (stateless over a thread-safe client)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        guard: Guard | None = None,
        batch_retry: RetrySettings | None = None,
    ) -> None:
        self.client = client
        self.name = table_name
        self.guard = guard or Guard(RetrySettings())
        self.batch_retry = batch_retry or self.guard.retry

    @classmethod
    def from_clients(cls, clients: AwsClients, config: BaseConfig) -> RegistryTable:
        """The configured table in the home region, behind the `dynamodb:<region>` breaker."""
        return cls(
            clients.client("dynamodb", config.region),
            config.ddb_table,
            guard=clients.guard("dynamodb", config.region),
            batch_retry=config.retry,
        )

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: Key, *, consistent: bool = True) -> dict[str, Any] | None:
        response = self.guard.call(
            self.client.get_item,
            TableName=self.name,
            Key=key.as_dynamo(),
            ConsistentRead=consistent,
        )
        raw = response.get("Item")
        return deserialize_item(raw) if raw else None

    def query(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        consistent: bool = True,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a partition (optionally under an sk prefix), one page at a time.

        Costs one request per 1 MB page (or `page_size` items), however many items there are.
        """
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": consistent,
        }
        if sk_prefix:
            params["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            params["ExpressionAttributeValues"][":prefix"] = {"S": sk_prefix}
        if page_size:
            params["Limit"] = page_size
        token: dict[str, Any] | None = None
        pages = 0
        while True:
            request = {**params, "ExclusiveStartKey": token} if token else params
            page = self.guard.call(self.client.query, **request)
            pages += 1
            for raw in page.get("Items", ()):
                yield deserialize_item(raw)
            token = page.get("LastEvaluatedKey")
            if not token:
                logger.debug(
                    "registry query done", extra={"pk": pk, "sk_prefix": sk_prefix, "pages": pages}
                )
                return

    def query_records(
        self, pk: str, *, sk_prefix: str | None = None, consistent: bool = True
    ) -> Iterator[Any]:
        """`query`, each item parsed into its typed record (see `records.parse_record`)."""
        for item in self.query(pk, sk_prefix=sk_prefix, consistent=consistent):
            yield parse_record(item)

    # -- writes ------------------------------------------------------------------------------

    def update(
        self,
        key: Key,
        *,
        set_attrs: Mapping[str, Any] | None = None,
        add: Mapping[str, int | float] | None = None,
        remove: Iterable[str] = (),
        condition: Condition | None = None,
    ) -> dict[str, Any]:
        """One UpdateItem. A `None` in `set_attrs` removes that attribute.

        Returns the updated attributes' new values. A failed condition raises `ConflictError`
        carrying the item as it was (no extra read needed to re-plan).
        """
        return self._send_update(key, self._update_params(key, set_attrs, add, remove, condition))

    def _send_update(self, key: Key, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateItem with `params`; a failed condition becomes `ConflictError` (item as it was)."""
        params["ReturnValues"] = "UPDATED_NEW"
        try:
            response = self.guard.call(self.client.update_item, **params)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raw = exc.response.get("Item")
                raise ConflictError(
                    key.pk, key.sk, deserialize_item(raw) if raw else None
                ) from None
            raise
        return deserialize_item(response.get("Attributes", {}))

    def _update_params(
        self,
        key: Key,
        set_attrs: Mapping[str, Any] | None,
        add: Mapping[str, int | float] | None,
        remove: Iterable[str],
        condition: Condition | None,
    ) -> dict[str, Any]:
        """The parameters of one update, shared by UpdateItem and a TransactWriteItems action."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        set_parts: list[str] = []
        remove_parts: list[str] = []
        add_parts: list[str] = []

        def name_of(attr: str) -> str:
            placeholder = f"#u{len(names)}"
            names[placeholder] = attr
            return placeholder

        for attr, value in (set_attrs or {}).items():
            if value is None:
                remove_parts.append(name_of(attr))
            else:
                placeholder = f":u{len(values)}"
                values[placeholder] = serialize(value)
                set_parts.append(f"{name_of(attr)} = {placeholder}")
        remove_parts.extend(name_of(attr) for attr in remove)
        for attr, amount in (add or {}).items():
            placeholder = f":u{len(values)}"
            values[placeholder] = serialize(amount)
            add_parts.append(f"{name_of(attr)} {placeholder}")

        clauses = []
        if set_parts:
            clauses.append("SET " + ", ".join(set_parts))
        if remove_parts:
            clauses.append("REMOVE " + ", ".join(remove_parts))
        if add_parts:
            clauses.append("ADD " + ", ".join(add_parts))
        if not clauses:
            raise ValueError("update needs at least one attribute to set, remove or add")

        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": key.as_dynamo(),
            "UpdateExpression": " ".join(clauses),
        }
        if condition is not None:
            params["ConditionExpression"] = condition.expression
            names.update(condition.names)
            values.update({k: serialize(v) for k, v in condition.values.items()})
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = values
        return params

    def update_owned(
        self,
        key: Key,
        *,
        owned: Mapping[str, Any],
        counter: str,
        expected: int | None,
        shared_counter: str = "version",
    ) -> int:
        """Write a writer's own attributes under optimistic locking; returns the new counter.

        `counter` is the writer's own version attribute (e.g. `sync_version`, `health_version`)
        and `expected` the value read before planning (`None`: this writer has never written the
        item). Other writers' attributes are untouched, so concurrent writers of different
        attributes never lose each other's updates; a concurrent writer of the *same*
        attributes makes this raise `ConflictError` instead of overwriting.
        """
        update = OwnedUpdate(key, owned, counter, expected, shared_counter)
        self._send_update(key, self._owned_update_params(update))
        return int(update.set_attrs()[counter])

    def _owned_update_params(self, update: OwnedUpdate) -> dict[str, Any]:
        """The one spelling of an owned update, for UpdateItem and TransactWriteItems alike."""
        return self._update_params(
            update.key,
            update.set_attrs(),
            {update.shared_counter: 1},
            (),
            update.condition(),
        )

    def update_owned_batch(self, updates: Sequence[OwnedUpdate]) -> list[ConflictError | None]:
        """Up to 100 `update_owned` in one TransactWriteItems; per update: None (written) or
        the `ConflictError` it lost, carrying the item as it was.

        Why: a sync writing thousands of changes pays botocore's per-request cost (serialising,
        signing, parsing: ~1 ms of CPU) once per 100 items instead of once per item, which is
        what keeps a first sync of a large fleet inside a small Lambda; each item keeps its own
        optimistic-locking condition. DynamoDB runs a transaction all or nothing, so when some
        conditions fail the rest was not written either: the losers are taken out (returned as
        conflicts) and the others sent again at once. Cancellations for transient reasons
        (`TRANSIENT_CANCELLATIONS`: a concurrent write on one of the items, throttling) are
        re-sent with backoff under the batch retry policy, then `TransactionError`. Each send
        carries a fresh `ClientRequestToken`, so the guard's retry of a request whose answer
        was lost cannot apply it twice. Transactional writes cost 2 WCU per item.
        """
        if len(updates) > TRANSACTION_LIMIT:
            raise ValueError(f"at most {TRANSACTION_LIMIT} updates per transaction")
        if len({update.key for update in updates}) != len(updates):
            raise ValueError("a transaction cannot update the same item twice")
        actions = [{"Update": self._owned_update_params(update)} for update in updates]
        results: list[ConflictError | None] = [None] * len(updates)
        pending = list(range(len(updates)))
        last_reasons: list[str] = []

        def send_until_done_or_transient() -> bool:
            """Send what is pending; True when a transient cancellation calls for a backoff."""
            nonlocal pending, last_reasons
            while pending:
                try:
                    self.guard.call(
                        self.client.transact_write_items,
                        TransactItems=[actions[index] for index in pending],
                        ClientRequestToken=str(uuid.uuid4()),
                    )
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                        raise
                    reasons = exc.response.get("CancellationReasons") or []
                    if len(reasons) != len(pending):
                        raise
                    retry_later, conflicts, codes = [], 0, []
                    for index, reason in zip(pending, reasons, strict=True):
                        code = str(reason.get("Code") or "None")
                        codes.append(code)
                        if code == "ConditionalCheckFailed":
                            raw = reason.get("Item")
                            key = updates[index].key
                            current = deserialize_item(raw) if raw else None
                            results[index] = ConflictError(key.pk, key.sk, current)
                            conflicts += 1
                        elif code == "None" or code in TRANSIENT_CANCELLATIONS:
                            retry_later.append(index)
                        else:
                            raise TransactionError(self.name, code, reason.get("Message")) from exc
                    pending, last_reasons = retry_later, codes
                    if conflicts == 0:
                        logger.warning(
                            "transaction cancelled, will resend",
                            extra={"table": self.name, "reasons": sorted(set(codes) - {"None"})},
                        )
                        return bool(pending)
                    continue  # the losers are out: send the others again at once
                pending = []
            return False

        if self._send_while_pending(send_until_done_or_transient):
            reason = next((code for code in last_reasons if code != "None"), "None")
            raise TransactionError(
                self.name,
                reason,
                f"{len(pending)} update(s) still cancelled after "
                f"{self.batch_retry.max_attempts} attempt(s)",
            )
        return results

    def _send_while_pending(self, send: Callable[[], T]) -> T | None:
        """Call `send` until it leaves nothing pending (a falsy result), backing off between
        calls under the batch retry policy; once attempts run out, the last (truthy) result."""
        retryer = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.batch_retry.max_attempts),
            wait=self.batch_retry.wait(),
            retry=tenacity.retry_if_result(bool),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        result: T | None = retryer(send)
        return result

    def put_new(self, item: Mapping[str, Any]) -> None:
        """Create an item that must not exist yet (idempotency guard); `ConflictError` if it does."""
        condition = Condition.attribute_not_exists("pk")
        try:
            self.guard.call(
                self.client.put_item,
                TableName=self.name,
                Item=serialize_item(item),
                ConditionExpression=condition.expression,
                ExpressionAttributeNames=dict(condition.names),
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise ConflictError(str(item["pk"]), str(item["sk"])) from None
            raise

    def batch_write(
        self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[Key] = ()
    ) -> int:
        """Put and delete whole items, 25 per request, until DynamoDB has processed all of them.

        `UnprocessedItems` are re-sent with backoff (the batch retry policy); if some remain
        after the last attempt, `BatchWriteError` is raised: never a silent partial write.
        Repeated keys are collapsed (last one wins), as DynamoDB rejects duplicates in a batch.
        Returns the number of items written.
        """
        requests: dict[tuple[str, str], dict[str, Any]] = {}
        for item in puts:
            requests[(str(item["pk"]), str(item["sk"]))] = {
                "PutRequest": {"Item": serialize_item(item)}
            }
        for key in deletes:
            requests[(key.pk, key.sk)] = {"DeleteRequest": {"Key": key.as_dynamo()}}
        pending = list(requests.values())
        for start in range(0, len(pending), BATCH_LIMIT):
            self._write_chunk(pending[start : start + BATCH_LIMIT])
        return len(pending)

    def _write_chunk(self, chunk: Sequence[dict[str, Any]]) -> None:
        remaining: list[dict[str, Any]] = list(chunk)

        def send() -> list[dict[str, Any]]:
            nonlocal remaining
            response = self.guard.call(
                self.client.batch_write_item, RequestItems={self.name: remaining}
            )
            remaining = list(response.get("UnprocessedItems", {}).get(self.name, ()))
            if remaining:
                logger.warning(
                    "batch write left unprocessed items",
                    extra={"table": self.name, "unprocessed": len(remaining), "of": len(chunk)},
                )
            return remaining

        if self._send_while_pending(send):
            raise BatchWriteError(self.name, len(remaining), self.batch_retry.max_attempts)
