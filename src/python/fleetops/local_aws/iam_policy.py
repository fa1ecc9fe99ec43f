"""Evaluation of IAM identity policies, as the local AWS enforces them.

The deployed stack runs against a local moto server. For a request signed with temporary
credentials of a role that Terraform created, the server decides with `evaluate` whether the
role's identity policies allow the request, so a missing or over-narrow permission fails locally
the way it would fail in AWS. The logic is AWS's documented logic for identity-based policies:
an explicit Deny wins, otherwise any matching Allow allows, otherwise the request is implicitly
denied; Action, NotAction, Resource, NotResource, Condition (every operator family, `...IfExists`,
`ForAnyValue:`/`ForAllValues:`), policy variables (`${aws:username}`, `${key, 'default'}`,
`${*}`, `${?}`, `${$}`; only under `"Version": "2012-10-17"`, as in AWS).

One deliberate relaxation: the local AWS cannot know every condition key AWS puts in a request
context. When a condition names a key the caller did not supply (and the condition is not `Null`,
has no `IfExists` suffix and no `ForAllValues:` qualifier, which all define an answer for an
absent key):

- in an Allow statement it is taken as satisfied, and the key is reported in
  `Evaluation.unevaluated_keys`: failing every scoped Allow would deny correctly written
  least-privilege policies;
- in a Deny statement it is taken as not satisfied, so a key the local AWS cannot know never
  produces a spurious deny (and is not reported).

A key that is present is evaluated strictly. The caller states what it does know with two
context entries: `"localaws:ResourceTagsKnown": True` means the resource's tags are all in the
context, so an absent `aws:ResourceTag/...` (or service `<svc>:ResourceTag/...`, e.g.
`ec2:ResourceTag/...`) key means "no such tag" and is evaluated strictly, as AWS does;
`"localaws:RequestTagsKnown": True` does the same for `aws:RequestTag/...` and `aws:TagKeys`
(and their service forms). An empty list is a key known to have no values: strict as well.

Choices where AWS leaves behaviour undefined: a single-valued operator applied to a list value is
true when any element matches (its negated form: when no element matches); a context value of the
wrong type (a word where a number is expected) matches no policy value; a condition value whose
policy variable has no value matches nothing (so a negated operator over it holds); an ARN pattern
with fewer than six colon-separated parts is matched as a whole string (`"*"` matches any ARN).
`Principal`/`NotPrincipal` are accepted but not evaluated: whoever evaluates a resource policy
passes only the statements that name its principal.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import json
import operator
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

__all__ = ["Decision", "Evaluation", "Policy", "PolicyError", "Request", "evaluate"]

RESOURCE_TAGS_KNOWN = "localaws:ResourceTagsKnown"
REQUEST_TAGS_KNOWN = "localaws:RequestTagsKnown"


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


class PolicyError(ValueError):
    """A policy document that AWS would reject as malformed."""


@dataclass(frozen=True)
class Request:
    """One authorization question: may the caller perform `action` on `resource`?

    `resource` is None when the caller cannot tell which resource the request is for; then every
    Resource/NotResource element matches. `context` holds the condition keys known for the
    request (names compare case-insensitively).
    """

    action: str
    resource: str | None
    context: Mapping[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """The decision, and why: the ids of the statements that matched (their Sid, else
    "<policy name>#<index>"), and the condition keys assumed by the relaxation (sorted)."""

    decision: Decision
    allowed_by: tuple[str, ...]
    denied_by: tuple[str, ...]
    unevaluated_keys: tuple[str, ...]


class _Family(enum.Enum):
    STRING = "string"
    NUMERIC = "numeric"
    DATE = "date"
    BOOL = "bool"
    BINARY = "binary"
    IP = "ip"
    ARN = "arn"
    NULL = "null"


class _Qualifier(enum.Enum):
    ANY = "ForAnyValue"
    ALL = "ForAllValues"


class _Outcome(enum.Enum):
    MATCH = "match"
    NO_MATCH = "no-match"
    ASSUMED = "assumed"  # satisfied only by the relaxation for an absent key


@dataclass(frozen=True)
class _Operator:
    name: str
    family: _Family
    test: Callable[[object, Any], bool]  # (context element, prepared policy value) -> matches
    negated: bool


@dataclass(frozen=True)
class _Condition:
    operator: _Operator
    qualifier: _Qualifier | None
    if_exists: bool
    key: str
    values: tuple[Any, ...]  # prepared: str for String/Arn, float, datetime, network, bytes, bool


@dataclass(frozen=True)
class _Statement:
    sid: str
    deny: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None  # None: neither Resource nor NotResource
    not_resource: bool
    conditions: tuple[_Condition, ...]
    variables: bool  # policy variables are substituted (Version 2012-10-17)


@dataclass(frozen=True)
class Policy:
    """A named identity policy, validated when constructed."""

    name: str
    document: Mapping[str, Any]
    _statements: tuple[_Statement, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_statements", _parse_document(self.name, self.document))

    @classmethod
    def parse(cls, name: str, document: str | Mapping[str, Any]) -> Policy:
        """Build a policy from JSON text (URL-encoded, as IAM returns it, or not) or a mapping."""
        if isinstance(document, str):
            document = _load_json(name, document)
        return cls(name, document)


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate(policies: Sequence[Policy], request: Request) -> Evaluation:
    """Decide `request` against the identity policies of one principal."""
    context = _Context.of(request.context)
    allowed: list[str] = []
    denied: list[str] = []
    unevaluated: set[str] = set()
    for policy in policies:
        for statement in policy._statements:
            assumed = _statement_match(statement, request, context)
            if assumed is None:
                continue
            if statement.deny:
                denied.append(statement.sid)
            else:
                allowed.append(statement.sid)
                unevaluated.update(assumed)
    return Evaluation(
        _decision(allowed, denied), tuple(allowed), tuple(denied), tuple(sorted(unevaluated))
    )


def _decision(allowed: Sequence[str], denied: Sequence[str]) -> Decision:
    if denied:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


@dataclass(frozen=True)
class _Context:
    values: Mapping[str, object]  # lower-cased key names; None values dropped
    resource_tags_known: bool
    request_tags_known: bool

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> _Context:
        values = {key.lower(): value for key, value in raw.items() if value is not None}
        return cls(
            values,
            _is_true(values.get(RESOURCE_TAGS_KNOWN.lower())),
            _is_true(values.get(REQUEST_TAGS_KNOWN.lower())),
        )

    def get(self, key: str) -> object | None:
        return self.values.get(key.lower())

    def known_absent(self, key: str) -> bool:
        """Whether an absent `key` is known to be absent (strict evaluation, no relaxation)."""
        key = key.lower()
        if self.resource_tags_known and _RESOURCE_TAG_KEY.match(key):
            return True
        return self.request_tags_known and bool(_REQUEST_TAG_KEY.match(key))

    def variable(self, key: str) -> str | None:
        """The text a policy variable for `key` stands for; None when it has no single value."""
        value = self.get(key)
        return None if value is None or _is_multi(value) else _to_str(value)


_RESOURCE_TAG_KEY = re.compile(r"[a-z0-9-]+:resourcetag/")
_REQUEST_TAG_KEY = re.compile(r"[a-z0-9-]+:(requesttag/|tagkeys$)")


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _statement_match(
    statement: _Statement, request: Request, context: _Context
) -> tuple[str, ...] | None:
    """None if `statement` does not apply; else the condition keys assumed by the relaxation."""
    if not _action_matches(statement, request.action):
        return None
    if not _resource_matches(statement, request.resource, context):
        return None
    assumed: list[str] = []
    for condition in statement.conditions:
        outcome = _condition_outcome(condition, statement, context)
        if outcome is _Outcome.NO_MATCH:
            return None
        if outcome is _Outcome.ASSUMED:
            assumed.append(condition.key)
    return tuple(assumed)


def _action_matches(statement: _Statement, action: str) -> bool:
    matched = any(
        _wildcard_match(pattern, action, ignore_case=True) for pattern in statement.actions
    )
    return matched != statement.not_action


def _resource_matches(statement: _Statement, resource: str | None, context: _Context) -> bool:
    if resource is None or statement.resources is None:
        return True
    matched = any(
        _resource_pattern_matches(pattern, resource, context, statement.variables)
        for pattern in statement.resources
    )
    return matched != statement.not_resource


def _resource_pattern_matches(
    pattern: str, resource: str, context: _Context, variables: bool
) -> bool:
    """Case-sensitive; `*` may span `:` and `/`; a variable without a value matches nothing."""
    text = _resolve(pattern, context, variables)
    return text is not None and re.fullmatch(text.regex(), resource, re.DOTALL) is not None


def _wildcard_match(pattern: str, value: str, *, ignore_case: bool) -> bool:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(_Text(((pattern, False),)).regex(), value, flags) is not None


# ---------------------------------------------------------------------------------------------
# Conditions


def _condition_outcome(condition: _Condition, statement: _Statement, context: _Context) -> _Outcome:
    value = context.get(condition.key)
    elements = [] if value is None else _elements(value)
    if condition.operator.family is _Family.NULL:
        return _outcome((not elements) in condition.values)
    if not elements:  # absent, or an empty list: a key known to have no values
        strict = value is not None or context.known_absent(condition.key)
        return _absent_outcome(condition, deny=statement.deny, strict=strict)
    policy_values = _policy_values(condition, context, statement.variables)
    return _outcome(_present_matches(condition, elements, policy_values))


def _outcome(matched: bool) -> _Outcome:
    return _Outcome.MATCH if matched else _Outcome.NO_MATCH


def _absent_outcome(condition: _Condition, *, deny: bool, strict: bool) -> _Outcome:
    """AWS's answer for an absent key where it defines one; otherwise the relaxation."""
    if condition.if_exists or condition.qualifier is _Qualifier.ALL:
        return _Outcome.MATCH
    if strict:
        # Absent: nothing matches, so a plain negated operator holds; ForAnyValue never does.
        return _outcome(condition.operator.negated and condition.qualifier is None)
    return _Outcome.NO_MATCH if deny else _Outcome.ASSUMED


def _present_matches(
    condition: _Condition, elements: Sequence[object], policy_values: Sequence[Any]
) -> bool:
    test = condition.operator.test
    negated = condition.operator.negated

    def positive(element: object) -> bool:
        return any(test(element, policy_value) for policy_value in policy_values)

    if condition.qualifier is _Qualifier.ALL:
        return all(positive(element) != negated for element in elements)
    if condition.qualifier is _Qualifier.ANY:
        return any(positive(element) != negated for element in elements)
    return any(positive(element) for element in elements) != negated


def _policy_values(condition: _Condition, context: _Context, variables: bool) -> list[Any]:
    """The condition's values for this request: policy variables resolved in String/Arn values.

    A value whose variable has no value matches nothing (it is dropped), as in AWS.
    """
    if condition.operator.family not in (_Family.STRING, _Family.ARN):
        return list(condition.values)
    resolved = (_resolve(value, context, variables) for value in condition.values)
    return [text for text in resolved if text is not None]


def _is_multi(value: object) -> bool:
    return isinstance(value, list | tuple | set | frozenset)


def _elements(value: object) -> list[object]:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return list(value) if isinstance(value, list | tuple) else [value]


# Operator tests: (context element, prepared policy value) -> the element matches the value.


def _to_str(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _string_equals(element: object, value: _Text) -> bool:
    return _to_str(element) == value.plain()


def _string_equals_ignore_case(element: object, value: _Text) -> bool:
    text = _to_str(element)
    return text is not None and text.casefold() == value.plain().casefold()


def _string_like(element: object, value: _Text) -> bool:
    text = _to_str(element)
    return text is not None and re.fullmatch(value.regex(), text, re.DOTALL) is not None


def _arn_like(element: object, value: _Text) -> bool:
    text = _to_str(element)
    return text is not None and re.fullmatch(value.regex(arn=True), text, re.DOTALL) is not None


def _to_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


_EPOCH = re.compile(r"-?\d+(\.\d+)?")


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and _EPOCH.fullmatch(value.strip()):
        return _to_datetime(float(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return _to_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            return None
    return None


_Compare = Callable[[Any, Any], bool]


def _numeric(compare: _Compare) -> Callable[[object, float], bool]:
    def test(element: object, value: float) -> bool:
        number = _to_number(element)
        return number is not None and compare(number, value)

    return test


def _dated(compare: _Compare) -> Callable[[object, datetime], bool]:
    def test(element: object, value: datetime) -> bool:
        moment = _to_datetime(element)
        return moment is not None and compare(moment, value)

    return test


def _to_bool_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if isinstance(value, str) else None


def _bool_equals(element: object, value: str) -> bool:
    return _to_bool_text(element) == value


def _to_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _binary_equals(element: object, value: bytes) -> bool:
    return _to_bytes(element) == value


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip_in(element: object, value: _Network) -> bool:
    if not isinstance(element, str):
        return False
    try:
        return ipaddress.ip_address(element.strip()) in value
    except ValueError:
        return False


def _null_test(element: object, value: bool) -> bool:
    """Never called: Null is decided on the key's presence, not per element."""
    return False


def _operators() -> dict[str, _Operator]:
    table: list[tuple[str, _Family, Callable[[object, Any], bool], str | None]] = [
        ("StringEquals", _Family.STRING, _string_equals, "StringNotEquals"),
        (
            "StringEqualsIgnoreCase",
            _Family.STRING,
            _string_equals_ignore_case,
            "StringNotEqualsIgnoreCase",
        ),
        ("StringLike", _Family.STRING, _string_like, "StringNotLike"),
        ("NumericEquals", _Family.NUMERIC, _numeric(operator.eq), "NumericNotEquals"),
        ("NumericLessThan", _Family.NUMERIC, _numeric(operator.lt), None),
        ("NumericLessThanEquals", _Family.NUMERIC, _numeric(operator.le), None),
        ("NumericGreaterThan", _Family.NUMERIC, _numeric(operator.gt), None),
        ("NumericGreaterThanEquals", _Family.NUMERIC, _numeric(operator.ge), None),
        ("DateEquals", _Family.DATE, _dated(operator.eq), "DateNotEquals"),
        ("DateLessThan", _Family.DATE, _dated(operator.lt), None),
        ("DateLessThanEquals", _Family.DATE, _dated(operator.le), None),
        ("DateGreaterThan", _Family.DATE, _dated(operator.gt), None),
        ("DateGreaterThanEquals", _Family.DATE, _dated(operator.ge), None),
        ("Bool", _Family.BOOL, _bool_equals, None),
        ("BinaryEquals", _Family.BINARY, _binary_equals, None),
        ("IpAddress", _Family.IP, _ip_in, "NotIpAddress"),
        # AWS documents ArnEquals and ArnLike identically: per-part, case-sensitive, wildcards.
        ("ArnEquals", _Family.ARN, _arn_like, "ArnNotEquals"),
        ("ArnLike", _Family.ARN, _arn_like, "ArnNotLike"),
        ("Null", _Family.NULL, _null_test, None),
    ]
    operators: dict[str, _Operator] = {}
    for name, family, test, negated_name in table:
        operators[name.lower()] = _Operator(name, family, test, negated=False)
        if negated_name:
            operators[negated_name.lower()] = _Operator(negated_name, family, test, negated=True)
    return operators


_OPERATORS = _operators()


# ---------------------------------------------------------------------------------------------
# Wildcards and policy variables


@dataclass(frozen=True)
class _Text:
    """A policy string after variable substitution: pattern text, and literal (substituted) text.

    Literal parts never act as wildcards, so `${*}` and a substituted value match themselves.
    """

    parts: tuple[tuple[str, bool], ...]  # (text, literal)

    def plain(self) -> str:
        return "".join(text for text, _ in self.parts)

    def regex(self, *, arn: bool = False) -> str:
        if arn and sum(text.count(":") for text, literal in self.parts if not literal) >= 5:
            return self._arn_regex()
        return "".join(
            re.escape(text) if literal else _wildcards(text, "") for text, literal in self.parts
        )

    def _arn_regex(self) -> str:
        """Wildcards stay inside their colon-separated part, except in the sixth (resource) part."""
        pieces: list[str] = []
        colons = 0
        for text, literal in self.parts:
            if literal:
                pieces.append(re.escape(text))
                continue
            for char in text:
                pieces.append(_wildcards(char, "" if colons >= 5 else ":"))
                colons += char == ":"
        return "".join(pieces)


def _wildcards(text: str, excluded: str) -> str:
    """Regex for pattern `text`: `*` any run, `?` any one character (neither crossing `excluded`)."""
    anything = f"[^{re.escape(excluded)}]" if excluded else "."
    return "".join(
        f"{anything}*" if char == "*" else anything if char == "?" else re.escape(char)
        for char in text
    )


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WITH_DEFAULT = re.compile(r"\s*([^,]+?)\s*,\s*'((?:[^']|'')*)'\s*")
_ESCAPES = frozenset("*?$")


def _resolve(raw: str, context: _Context, variables: bool) -> _Text | None:
    """`raw` with its policy variables substituted; None when one of them has no value."""
    if not variables or "${" not in raw:
        return _Text(((raw, False),))
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _VARIABLE.finditer(raw):
        value = _variable_value(match.group(1), context)
        if value is None:
            return None
        parts += [(raw[position : match.start()], False), (value, True)]
        position = match.end()
    parts.append((raw[position:], False))
    return _Text(tuple(part for part in parts if part[0]))


def _variable_value(inner: str, context: _Context) -> str | None:
    name = inner.strip()
    if name in _ESCAPES:
        return name
    with_default = _WITH_DEFAULT.fullmatch(inner)
    if with_default:
        value = context.variable(with_default.group(1))
        return with_default.group(2).replace("''", "'") if value is None else value
    return context.variable(name) if name else None


# ---------------------------------------------------------------------------------------------
# Parsing and validation

_VERSIONS = {"2012-10-17": True, "2008-10-17": False}  # version -> supports policy variables
_DOCUMENT_KEYS = frozenset({"Version", "Id", "Statement"})
# Principal/NotPrincipal (resource policies) are accepted and not evaluated: a caller evaluating a
# resource policy passes only the statements that name its principal.
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)


def _fail(where: str, problem: str) -> NoReturn:
    raise PolicyError(f"{where}: {problem}")


def _load_json(name: str, text: str) -> Mapping[str, Any]:
    text = text.strip()
    if not text.startswith("{"):
        text = urllib.parse.unquote(text).strip()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(f"policy {name!r}: not valid JSON: {error}") from error
    if not isinstance(document, Mapping):
        _fail(f"policy {name!r}", f"the document must be a JSON object, got {_kind(document)}")
    return document


def _kind(value: object) -> str:
    """How a JSON value is named in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "a list" if isinstance(value, list | tuple) else type(value).__name__


def _parse_document(name: str, document: Mapping[str, Any]) -> tuple[_Statement, ...]:
    where = f"policy {name!r}"
    if not isinstance(document, Mapping):
        _fail(where, f"the document must be a JSON object, got {_kind(document)}")
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        _fail(where, f"unknown top-level element(s) {', '.join(map(repr, unknown))}")
    variables = _parse_version(where, document.get("Version"))
    if "Statement" not in document:
        _fail(where, "missing Statement")
    raw = document["Statement"]
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list | tuple):
        _fail(where, f"Statement must be an object or a list of objects, got {_kind(raw)}")
    parsed = tuple(
        _parse_statement(name, index, statement, variables)
        for index, statement in enumerate(statements)
    )
    _check_unique_sids(where, statements)
    return parsed


def _parse_version(where: str, version: object) -> bool:
    if version is None:
        return False
    if not isinstance(version, str) or version not in _VERSIONS:
        _fail(where, f'Version must be "2012-10-17" or "2008-10-17", got {version!r}')
    return _VERSIONS[version]


def _check_unique_sids(where: str, statements: Iterable[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid in seen:
            _fail(where, f"duplicate Sid {sid!r}")
        if sid:
            seen.add(sid)


def _parse_statement(name: str, index: int, raw: object, variables: bool) -> _Statement:
    where = f"policy {name!r}, statement {index}"
    if not isinstance(raw, Mapping):
        _fail(where, f"a statement must be an object, got {_kind(raw)}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        _fail(where, f"Sid must be a string, got {_kind(sid)}")
    if sid:
        where += f" (Sid {sid!r})"
    _check_statement_keys(where, raw)
    actions, not_action = _pick_one(where, raw, "Action", "NotAction", required=True)
    resources, not_resource = _pick_one(where, raw, "Resource", "NotResource", required=False)
    for action in actions or ():
        _check_action(where, action)
    for resource in resources or ():
        _check_resource(where, resource)
    return _Statement(
        sid=sid or f"{name}#{index}",
        deny=_parse_effect(where, raw.get("Effect")),
        actions=actions or (),
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        conditions=_parse_conditions(where, raw.get("Condition", {})),
        variables=variables,
    )


def _check_statement_keys(where: str, raw: Mapping[str, Any]) -> None:
    if "Principal" in raw and "NotPrincipal" in raw:
        _fail(where, "has both Principal and NotPrincipal; use one")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        _fail(where, f"unknown element(s) {', '.join(map(repr, unknown))}")


def _parse_effect(where: str, effect: object) -> bool:
    """True for Deny."""
    if effect is None:
        _fail(where, 'missing Effect ("Allow" or "Deny")')
    if effect not in ("Allow", "Deny"):
        _fail(where, f'Effect must be "Allow" or "Deny", got {effect!r}')
    return effect == "Deny"


def _pick_one(
    where: str, raw: Mapping[str, Any], positive: str, negative: str, *, required: bool
) -> tuple[tuple[str, ...] | None, bool]:
    """The values of whichever of `positive`/`negative` is present, and whether it is `negative`."""
    if positive in raw and negative in raw:
        _fail(where, f"has both {positive} and {negative}; use one")
    if positive in raw:
        return _strings(where, positive, raw[positive]), False
    if negative in raw:
        return _strings(where, negative, raw[negative]), True
    if required:
        _fail(where, f"has neither {positive} nor {negative}")
    return None, False


def _strings(where: str, element: str, value: object) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple) or not values:
        _fail(
            where, f"{element} must be a string or a non-empty list of strings, got {_kind(value)}"
        )
    for item in values:
        if not isinstance(item, str) or not item:
            _fail(where, f"{element} entries must be non-empty strings, got {item!r}")
    return tuple(values)


def _check_action(where: str, action: str) -> None:
    if action != "*" and (":" not in action or action.startswith(":")):
        _fail(where, f'action {action!r} must be "*" or "<service>:<action>"')


def _check_resource(where: str, resource: str) -> None:
    if resource != "*" and not resource.startswith("arn:"):
        _fail(where, f'resource {resource!r} must be "*" or an ARN')


def _parse_conditions(where: str, raw: object) -> tuple[_Condition, ...]:
    if not isinstance(raw, Mapping):
        _fail(where, f"Condition must be an object, got {_kind(raw)}")
    conditions: list[_Condition] = []
    for operator_text, block in raw.items():
        op, qualifier, if_exists = _parse_operator(where, operator_text)
        if not isinstance(block, Mapping) or not block:
            _fail(where, f"condition {operator_text!r} must map condition keys to values")
        for key, values in block.items():
            prepared = _prepare_values(f"{where}, condition {operator_text} {key}", op, values)
            conditions.append(_Condition(op, qualifier, if_exists, key, prepared))
    return tuple(conditions)


def _parse_operator(where: str, text: object) -> tuple[_Operator, _Qualifier | None, bool]:
    if not isinstance(text, str):
        _fail(where, f"condition operator must be a string, got {_kind(text)}")
    qualifier: _Qualifier | None = None
    name = text
    if ":" in text:
        prefix, name = text.split(":", 1)
        qualifier = next((q for q in _Qualifier if q.value.lower() == prefix.lower()), None)
        if qualifier is None:
            _fail(where, f"unknown set operator {prefix!r} in {text!r} (ForAnyValue, ForAllValues)")
    if_exists = name.lower().endswith("ifexists")
    base = name[: -len("IfExists")] if if_exists else name
    op = _OPERATORS.get(base.lower())
    if op is None:
        _fail(where, f"unknown condition operator {text!r}")
    if if_exists and op.family is _Family.NULL:
        _fail(where, "Null cannot take the IfExists suffix")
    return op, qualifier, if_exists


def _prepare_values(where: str, op: _Operator, raw: object) -> tuple[Any, ...]:
    values = raw if isinstance(raw, list | tuple) else [raw]
    prepared: list[Any] = []
    for value in values:
        if not isinstance(value, str | bool | int | float):
            _fail(
                where, f"condition values must be strings, numbers or booleans, got {_kind(value)}"
            )
        result = _PREPARE[op.family](value)
        if result is None:
            _fail(where, f"{value!r} is not a valid {op.family.value} value for {op.name}")
        prepared.append(result)
    return tuple(prepared)


def _prepare_null(value: object) -> bool | None:
    text = _to_bool_text(value)
    return {"true": True, "false": False}.get(text) if text is not None else None


def _prepare_network(value: object) -> _Network | None:
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return None


def _prepare_binary(value: object) -> bytes | None:
    return _to_bytes(value) if isinstance(value, str) else None


_PREPARE: dict[_Family, Callable[[object], Any]] = {
    _Family.STRING: _to_str,
    _Family.ARN: _to_str,
    _Family.NUMERIC: _to_number,
    _Family.DATE: _to_datetime,
    _Family.BOOL: _to_bool_text,
    _Family.BINARY: _prepare_binary,
    _Family.IP: _prepare_network,
    _Family.NULL: _prepare_null,
}
