"""DynamoDB JSON lines: the registry's items exactly as DynamoDB returns them, as JSON.

The export reads items with the low-level client, i.e. in DynamoDB's typed wire format where
numbers are strings (`{"N": "1.50"}`), so nothing is converted and everything round-trips: numbers
exactly (any precision, as text), string/number/binary sets, binary, nulls, nested maps and
lists. The only change for JSON is that binary values (`B`, `BS`) become base64 text, as in
DynamoDB's own export-to-S3 format. One line per item: `{"Item": {...}}`, the same shape as
that native export (DYNAMODB_JSON), so other tools can read a backup too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

_SCALAR_TYPES = frozenset({"S", "N", "BOOL", "NULL"})
_SET_TYPES = frozenset({"SS", "NS"})


class ItemFormatError(ValueError):
    """A line that is not a DynamoDB JSON item."""


def _encode_value(value: Mapping[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in inner]}
    if kind == "M":
        return {"M": {name: _encode_value(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [_encode_value(v) for v in inner]}
    return {kind: inner}


def encode_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A wire-format item (as the low-level client returns it) as JSON-safe DynamoDB JSON."""
    return {name: _encode_value(value) for name, value in raw.items()}


def _decode_value(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise ItemFormatError(f"{path}: not a typed DynamoDB value")
    ((kind, inner),) = value.items()
    try:
        if kind in _SCALAR_TYPES:
            return {kind: inner}
        if kind in _SET_TYPES:
            if not isinstance(inner, list):
                raise ItemFormatError(f"{path}: {kind} must be a list")
            return {kind: list(inner)}
        if kind == "B":
            return {"B": base64.b64decode(inner, validate=True)}
        if kind == "BS":
            return {"BS": [base64.b64decode(v, validate=True) for v in inner]}
        if kind == "M":
            return {"M": {name: _decode_value(v, f"{path}.{name}") for name, v in inner.items()}}
        if kind == "L":
            return {"L": [_decode_value(v, f"{path}[{i}]") for i, v in enumerate(inner)]}
    except (binascii.Error, TypeError, AttributeError) as exc:
        raise ItemFormatError(f"{path}: bad {kind} value ({exc})") from None
    raise ItemFormatError(f"{path}: unknown DynamoDB type {kind!r}")


def decode_item(encoded: Any) -> dict[str, Any]:
    """DynamoDB JSON back to the wire format (binary as bytes); `ItemFormatError` if malformed."""
    if not isinstance(encoded, dict) or not encoded:
        raise ItemFormatError("item must be a non-empty object")
    return {name: _decode_value(value, name) for name, value in encoded.items()}


def item_line(raw: Mapping[str, Any]) -> bytes:
    """One JSON line (with its newline) for a wire-format item."""
    return json_line({"Item": encode_item(raw)})


def json_line(record: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted JSON of `record` plus a newline (so equal records give equal bytes)."""
    text = json.dumps(record, separators=(",", ":"), sort_keys=True, default=_default)
    return text.encode("utf-8") + b"\n"


def _default(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def parse_item_line(line: bytes) -> dict[str, Any]:
    """The wire-format item of one registry line; `ItemFormatError` if it is not one."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ItemFormatError(f"not JSON ({exc})") from None
    if not isinstance(record, dict) or set(record) != {"Item"}:
        raise ItemFormatError('line must be {"Item": {...}}')
    item = decode_item(record["Item"])
    for key in ("pk", "sk"):
        if "S" not in item.get(key, {}):
            raise ItemFormatError(f"item lacks the string key attribute {key!r}")
    return item
