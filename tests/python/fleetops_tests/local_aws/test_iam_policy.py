"""The IAM identity-policy evaluation of the local AWS: AWS's logic, plus the one relaxation."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from fleetops.local_aws.iam_policy import (
    Decision,
    Evaluation,
    Policy,
    PolicyError,
    Request,
    evaluate,
)

ALLOW, IMPLICIT, EXPLICIT = Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY
ACCOUNT = "123456789012"
THING = f"arn:aws:svc:eu-west-1:{ACCOUNT}:thing/a"
ROLE = f"arn:aws:iam::{ACCOUNT}:role"
SNS = f"arn:aws:sns:eu-west-1:{ACCOUNT}"
SQS = f"arn:aws:sqs:eu-west-1:{ACCOUNT}"
TABLES = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table"
INSTANCES = f"arn:aws:ec2:*:{ACCOUNT}:instance/*"
HOME = "arn:aws:s3:::home"
D24 = "2024-01-01T00:00:00Z"
D25 = "2025-01-01T00:00:00Z"
K = "svc:Key"
FLEET_TAG = "aws:ResourceTag/Fleet"
TAGS_KNOWN = {"localaws:ResourceTagsKnown": True}
REQUEST_TAGS_KNOWN = {"localaws:RequestTagsKnown": True}


def _cases(*rows: tuple[Any, ...]) -> list[Any]:
    """pytest parameters from rows whose first item is the test id."""
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


def _stmt(
    effect: str = "Allow",
    action: Any = "svc:Do",
    resource: Any = "*",
    condition: dict[str, Any] | None = None,
    sid: str | None = None,
    **elements: Any,
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, **elements}
    if sid:
        statement["Sid"] = sid
    if action is not None:
        statement["Action"] = action
    if resource is not None:
        statement["Resource"] = resource
    if condition is not None:
        statement["Condition"] = condition
    return statement


def _policy(
    *statements: dict[str, Any], name: str = "p", version: str | None = "2012-10-17"
) -> Policy:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version:
        document["Version"] = version
    return Policy.parse(name, document)


def _decide(
    policies: Policy | list[Policy],
    action: str = "svc:Do",
    resource: str | None = THING,
    context: dict[str, Any] | None = None,
) -> Evaluation:
    policies = policies if isinstance(policies, list) else [policies]
    return evaluate(policies, Request(action, resource, context or {}))


def _condition_holds(
    effect: str, condition: dict[str, Any], context: dict[str, Any]
) -> tuple[bool, Evaluation]:
    """Whether a statement with `condition` applies, in an Allow or in a Deny (beside Allow *)."""
    statements = [_stmt("Allow", sid="Everything")] if effect == "Deny" else []
    statements.append(_stmt(effect, condition=condition, sid="Conditional"))
    evaluation = _decide(_policy(*statements), context=context)
    holds = "Conditional" in evaluation.allowed_by + evaluation.denied_by
    expected = {
        ("Allow", True): ALLOW,
        ("Allow", False): IMPLICIT,
        ("Deny", True): EXPLICIT,
        ("Deny", False): ALLOW,
    }
    assert evaluation.decision is expected[effect, holds]
    return holds, evaluation


EFFECTS = pytest.mark.parametrize("effect", ["Allow", "Deny"])

# (operator, policy value(s), context value, whether the condition holds)
OPERATOR_CASES = _cases(
    ("StringEquals-match", "StringEquals", "web", "web", True),
    ("StringEquals-mismatch", "StringEquals", "web", "db", False),
    ("StringEquals-case-sensitive", "StringEquals", "web", "Web", False),
    ("StringEquals-values-or", "StringEquals", ["db", "web"], "web", True),
    ("StringEquals-no-wildcards", "StringEquals", "fleet-*", "fleet-a", False),
    ("StringEquals-bool-context", "StringEquals", "true", True, True),
    ("StringEquals-int-context", "StringEquals", "5", 5, True),
    ("StringEquals-number-in-policy", "StringEquals", 5, "5", True),
    ("StringNotEquals-differs", "StringNotEquals", "web", "db", True),
    ("StringNotEquals-equal", "StringNotEquals", "web", "web", False),
    ("StringNotEquals-values-and", "StringNotEquals", ["db", "web"], "web", False),
    ("StringNotEquals-none-equal", "StringNotEquals", ["db", "web"], "cache", True),
    ("StringEqualsIgnoreCase-match", "StringEqualsIgnoreCase", "web", "WEB", True),
    ("StringEqualsIgnoreCase-mismatch", "StringEqualsIgnoreCase", "web", "db", False),
    ("StringNotEqualsIgnoreCase-eq", "StringNotEqualsIgnoreCase", "web", "WEB", False),
    ("StringNotEqualsIgnoreCase-ne", "StringNotEqualsIgnoreCase", "web", "db", True),
    ("StringLike-star", "StringLike", "fleetops-*", "fleetops-dev", True),
    ("StringLike-star-mismatch", "StringLike", "fleetops-*", "other", False),
    ("StringLike-question-mark", "StringLike", "a?c", "abc", True),
    ("StringLike-question-mark-one-char", "StringLike", "a?c", "abbc", False),
    ("StringLike-case-sensitive", "StringLike", "Fleet*", "fleet-a", False),
    ("StringLike-star-matches-empty", "StringLike", "*", "", True),
    ("StringLike-dot-is-literal", "StringLike", "a.c", "abc", False),
    ("StringLike-star-spans-separators", "StringLike", "a/*", "a/b:c/d", True),
    ("StringNotLike-no-match", "StringNotLike", "fleetops-*", "other", True),
    ("StringNotLike-match", "StringNotLike", "fleetops-*", "fleetops-x", False),
    ("NumericEquals-match", "NumericEquals", "10", 10, True),
    ("NumericEquals-numerically", "NumericEquals", "10", "10.0", True),
    ("NumericEquals-mismatch", "NumericEquals", 10, 11, False),
    ("NumericEquals-not-a-number", "NumericEquals", "10", "ten", False),
    ("NumericEquals-bool-is-not-a-number", "NumericEquals", "1", True, False),
    ("NumericNotEquals-differs", "NumericNotEquals", "10", 11, True),
    ("NumericNotEquals-equal", "NumericNotEquals", "10", 10, False),
    ("NumericLessThan-less", "NumericLessThan", "10", 9, True),
    ("NumericLessThan-equal", "NumericLessThan", "10", 10, False),
    ("NumericLessThanEquals-equal", "NumericLessThanEquals", "10", 10, True),
    ("NumericLessThanEquals-greater", "NumericLessThanEquals", "10", 11, False),
    ("NumericGreaterThan-greater", "NumericGreaterThan", "10", 10.5, True),
    ("NumericGreaterThan-equal", "NumericGreaterThan", "10", 10, False),
    ("NumericGreaterThanEquals-equal", "NumericGreaterThanEquals", "10", 10, True),
    ("NumericGreaterThanEquals-less", "NumericGreaterThanEquals", "10", 9, False),
    ("DateEquals-iso", "DateEquals", D24, "2024-01-01T00:00:00+00:00", True),
    ("DateEquals-epoch-context", "DateEquals", D24, 1704067200, True),
    ("DateEquals-epoch-policy", "DateEquals", "1704067200", D24, True),
    ("DateEquals-date-only", "DateEquals", "2024-01-01", D24, True),
    ("DateEquals-mismatch", "DateEquals", D24, "2024-01-02T00:00:00Z", False),
    ("DateEquals-not-a-date", "DateEquals", D24, "yesterday", False),
    ("DateNotEquals-differs", "DateNotEquals", D24, "2024-01-02T00:00:00Z", True),
    ("DateNotEquals-equal", "DateNotEquals", D24, D24, False),
    ("DateLessThan-earlier", "DateLessThan", D25, "2024-06-01T12:00:00Z", True),
    ("DateLessThan-later", "DateLessThan", D25, "2025-06-01T12:00:00Z", False),
    ("DateLessThanEquals-equal", "DateLessThanEquals", D25, D25, True),
    ("DateLessThanEquals-later", "DateLessThanEquals", D25, "2025-01-01T00:00:01Z", False),
    ("DateGreaterThan-later", "DateGreaterThan", D25, "2025-01-01T01:00:00+00:00", True),
    ("DateGreaterThan-equal", "DateGreaterThan", D25, D25, False),
    ("DateGreaterThan-timezone", "DateGreaterThan", D25, "2025-01-01T01:00:00+02:00", False),
    ("DateGreaterThanEquals-equal", "DateGreaterThanEquals", D25, D25, True),
    ("DateGreaterThanEquals-earlier", "DateGreaterThanEquals", D25, "2024-12-31T23:59:59Z", False),
    ("Bool-true", "Bool", "true", True, True),
    ("Bool-case-insensitive", "Bool", "true", "TRUE", True),
    ("Bool-mismatch", "Bool", "true", False, False),
    ("Bool-false", "Bool", "false", "false", True),
    ("Bool-json-boolean-in-policy", "Bool", True, "true", True),
    ("Bool-number-is-not-a-bool", "Bool", "true", 1, False),
    ("BinaryEquals-base64", "BinaryEquals", "QmluYXJ5", "QmluYXJ5", True),
    ("BinaryEquals-bytes", "BinaryEquals", "QmluYXJ5", b"Binary", True),
    ("BinaryEquals-mismatch", "BinaryEquals", "QmluYXJ5", "T3RoZXI=", False),
    ("IpAddress-in-cidr", "IpAddress", "203.0.113.0/24", "203.0.113.9", True),
    ("IpAddress-outside", "IpAddress", "203.0.113.0/24", "198.51.100.1", False),
    ("IpAddress-single-address", "IpAddress", "203.0.113.9", "203.0.113.9", True),
    ("IpAddress-ipv6", "IpAddress", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress-other-version", "IpAddress", "203.0.113.0/24", "2001:db8::1", False),
    ("IpAddress-not-an-address", "IpAddress", "203.0.113.0/24", "localhost", False),
    ("NotIpAddress-outside", "NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress-inside", "NotIpAddress", "203.0.113.0/24", "203.0.113.9", False),
    ("ArnEquals-exact", "ArnEquals", f"{SNS}:fleet", f"{SNS}:fleet", True),
    (
        "ArnEquals-wildcard-part",
        "ArnEquals",
        f"arn:aws:sns:*:{ACCOUNT}:fleet",
        f"{SNS}:fleet",
        True,
    ),
    ("ArnEquals-mismatch", "ArnEquals", f"{SNS}:fleet", f"{SNS}:other", False),
    ("ArnLike-match", "ArnLike", f"{ROLE}/fleetops-*", f"{ROLE}/fleetops-dev", True),
    ("ArnLike-mismatch", "ArnLike", f"{ROLE}/fleetops-*", f"{ROLE}/other", False),
    (
        "ArnLike-question-mark",
        "ArnLike",
        f"arn:aws:s?s:eu-west-1:{ACCOUNT}:fleet",
        f"{SNS}:fleet",
        True,
    ),
    # With `*` free to cross colons, "eu-*" would swallow "west-1:999999999999".
    (
        "ArnLike-star-stays-in-its-part",
        "ArnLike",
        f"arn:aws:sns:eu-*:{ACCOUNT}:fleet",
        f"arn:aws:sns:eu-west-1:999999999999:{ACCOUNT}:fleet",
        False,
    ),
    (
        "ArnLike-resource-part-spans-colons",
        "ArnLike",
        f"arn:aws:ssm:*:{ACCOUNT}:parameter/f/*",
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/f/a:b/c",
        True,
    ),
    ("ArnLike-case-sensitive", "ArnLike", f"{ROLE}/Fleet", f"{ROLE}/fleet", False),
    ("ArnLike-not-an-arn", "ArnLike", "arn:aws:iam::*:role/*", "not-an-arn", False),
    ("ArnLike-bare-star", "ArnLike", "*", f"{ROLE}/x", True),
    ("ArnNotEquals-differs", "ArnNotEquals", f"{ROLE}/a", f"{ROLE}/b", True),
    ("ArnNotEquals-equal", "ArnNotEquals", f"{ROLE}/a", f"{ROLE}/a", False),
    ("ArnNotLike-no-match", "ArnNotLike", f"{ROLE}/a*", f"{ROLE}/b", True),
    ("ArnNotLike-match", "ArnNotLike", f"{ROLE}/a*", f"{ROLE}/ab", False),
)


@EFFECTS
@pytest.mark.parametrize(("operator", "values", "value", "holds"), OPERATOR_CASES)
def test_operator_with_the_key_present(
    effect: str, operator: str, values: Any, value: Any, holds: bool
) -> None:
    result, evaluation = _condition_holds(effect, {operator: {K: values}}, {K: value})
    assert result is holds
    assert evaluation.unevaluated_keys == ()


# (condition, context, whether the condition holds)
QUALIFIED_CASES = _cases(
    ("IfExists-absent", {"StringEqualsIfExists": {K: "web"}}, {}, True),
    ("IfExists-present-match", {"StringEqualsIfExists": {K: "web"}}, {K: "web"}, True),
    ("IfExists-present-mismatch", {"StringEqualsIfExists": {K: "web"}}, {K: "db"}, False),
    ("NotEqualsIfExists-absent", {"StringNotEqualsIfExists": {K: "web"}}, {}, True),
    ("NumericIfExists-present", {"NumericLessThanIfExists": {K: "10"}}, {K: 5}, True),
    ("NumericIfExists-present-fails", {"NumericLessThanIfExists": {K: "10"}}, {K: 50}, False),
    ("BoolIfExists-absent", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {}, True),
    ("ForAnyValue-overlap", {"ForAnyValue:StringEquals": {K: ["a", "b"]}}, {K: ["b", "c"]}, True),
    ("ForAnyValue-disjoint", {"ForAnyValue:StringEquals": {K: ["a", "b"]}}, {K: ["c"]}, False),
    ("ForAnyValue-empty-list", {"ForAnyValue:StringEquals": {K: ["a"]}}, {K: []}, False),
    ("ForAnyValue-scalar-context", {"ForAnyValue:StringEquals": {K: ["a"]}}, {K: "a"}, True),
    (
        "ForAnyValue-negated-one-differs",
        {"ForAnyValue:StringNotEquals": {K: ["a"]}},
        {K: ["a", "b"]},
        True,
    ),
    (
        "ForAnyValue-negated-none-differs",
        {"ForAnyValue:StringNotEquals": {K: ["a"]}},
        {K: ["a"]},
        False,
    ),
    ("ForAnyValue-IfExists-absent", {"ForAnyValue:StringEqualsIfExists": {K: ["a"]}}, {}, True),
    ("ForAllValues-subset", {"ForAllValues:StringEquals": {K: ["a", "b"]}}, {K: ["a"]}, True),
    (
        "ForAllValues-not-subset",
        {"ForAllValues:StringEquals": {K: ["a", "b"]}},
        {K: ["a", "c"]},
        False,
    ),
    ("ForAllValues-empty-list", {"ForAllValues:StringEquals": {K: ["a"]}}, {K: []}, True),
    ("ForAllValues-absent", {"ForAllValues:StringEquals": {K: ["a"]}}, {}, True),
    ("ForAllValues-like", {"ForAllValues:StringLike": {K: ["f-*"]}}, {K: ["f-a", "f-b"]}, True),
    (
        "ForAllValues-negated-all-differ",
        {"ForAllValues:StringNotEquals": {K: ["a"]}},
        {K: ["b", "c"]},
        True,
    ),
    (
        "ForAllValues-negated-one-equal",
        {"ForAllValues:StringNotEquals": {K: ["a"]}},
        {K: ["a", "b"]},
        False,
    ),
    (
        "operator-names-case-insensitive",
        {"forallvalues:stringequals": {K: ["a"]}},
        {K: ["a"]},
        True,
    ),
    ("plain-on-list-any-element", {"StringEquals": {K: "a"}}, {K: ["x", "a"]}, True),
    ("plain-on-list-no-element", {"StringEquals": {K: "a"}}, {K: ["x", "y"]}, False),
    ("plain-negated-on-list-one-equal", {"StringNotEquals": {K: "a"}}, {K: ["x", "a"]}, False),
    ("plain-negated-on-list-none-equal", {"StringNotEquals": {K: "a"}}, {K: ["x", "y"]}, True),
    ("plain-on-empty-list-strict", {"StringEquals": {K: "a"}}, {K: []}, False),
    ("plain-negated-on-empty-list-strict", {"StringNotEquals": {K: "a"}}, {K: []}, True),
    ("Null-true-absent", {"Null": {K: "true"}}, {}, True),
    ("Null-true-present", {"Null": {K: "true"}}, {K: "x"}, False),
    ("Null-true-empty-list", {"Null": {K: "true"}}, {K: []}, True),
    ("Null-json-boolean", {"Null": {K: True}}, {}, True),
    ("Null-false-present", {"Null": {K: "false"}}, {K: "x"}, True),
    ("Null-false-absent-no-relaxation", {"Null": {K: "false"}}, {}, False),
    ("Null-values-or", {"Null": {K: ["true", "false"]}}, {}, True),
    ("keys-and-all-hold", {"StringEquals": {K: "a", "svc:B": "b"}}, {K: "a", "svc:B": "b"}, True),
    ("keys-and-one-fails", {"StringEquals": {K: "a", "svc:B": "b"}}, {K: "a", "svc:B": "c"}, False),
    (
        "operators-and-all-hold",
        {"StringEquals": {K: "a"}, "NumericLessThan": {"svc:N": "3"}},
        {K: "a", "svc:N": 2},
        True,
    ),
    (
        "operators-and-one-fails",
        {"StringEquals": {K: "a"}, "NumericLessThan": {"svc:N": "3"}},
        {K: "a", "svc:N": 4},
        False,
    ),
    (
        "key-names-case-insensitive",
        {"StringEquals": {FLEET_TAG: "web"}},
        {"AWS:resourcetag/FLEET": "web"},
        True,
    ),
)


@EFFECTS
@pytest.mark.parametrize(("condition", "context", "holds"), QUALIFIED_CASES)
def test_ifexists_set_operators_null_and_combination(
    effect: str, condition: dict[str, Any], context: dict[str, Any], holds: bool
) -> None:
    assert _condition_holds(effect, condition, context)[0] is holds


RELAXED_CONDITIONS = _cases(
    ("StringEquals", {"StringEquals": {K: "web"}}),
    ("StringNotEquals", {"StringNotEquals": {K: "web"}}),
    ("StringLike", {"StringLike": {K: "*"}}),
    ("StringNotLike", {"StringNotLike": {K: "fleet-*"}}),
    ("StringEqualsIgnoreCase", {"StringEqualsIgnoreCase": {K: "web"}}),
    ("NumericLessThan", {"NumericLessThan": {K: "3"}}),
    ("DateGreaterThan", {"DateGreaterThan": {K: D24}}),
    ("Bool", {"Bool": {K: "true"}}),
    ("BinaryEquals", {"BinaryEquals": {K: "QmluYXJ5"}}),
    ("IpAddress", {"IpAddress": {K: "203.0.113.0/24"}}),
    ("NotIpAddress", {"NotIpAddress": {K: "203.0.113.0/24"}}),
    ("ArnLike", {"ArnLike": {K: "arn:aws:iam::*:role/*"}}),
    ("ArnNotEquals", {"ArnNotEquals": {K: f"{ROLE}/a"}}),
    ("ForAnyValue", {"ForAnyValue:StringEquals": {K: ["a"]}}),
)


@pytest.mark.parametrize("condition", RELAXED_CONDITIONS)
def test_absent_key_in_an_allow_is_assumed_and_reported(condition: dict[str, Any]) -> None:
    holds, evaluation = _condition_holds("Allow", condition, {})
    assert holds
    assert evaluation.unevaluated_keys == (K,)


@pytest.mark.parametrize("condition", RELAXED_CONDITIONS)
def test_absent_key_in_a_deny_never_denies_and_is_not_reported(condition: dict[str, Any]) -> None:
    holds, evaluation = _condition_holds("Deny", condition, {})
    assert not holds
    assert evaluation.denied_by == ()
    assert evaluation.unevaluated_keys == ()


@pytest.mark.parametrize(
    "condition",
    _cases(
        ("IfExists", {"StringEqualsIfExists": {K: "web"}}),
        ("ForAllValues", {"ForAllValues:StringEquals": {K: ["a"]}}),
        ("Null", {"Null": {K: "true"}}),
    ),
)
def test_operators_that_define_absence_report_nothing(condition: dict[str, Any]) -> None:
    holds, evaluation = _condition_holds("Allow", condition, {})
    assert holds
    assert evaluation.unevaluated_keys == ()


def test_present_key_is_evaluated_strictly() -> None:
    assert _condition_holds("Allow", {"StringEquals": {K: "web"}}, {K: "db"})[0] is False


def test_a_none_value_is_an_absent_key() -> None:
    holds, evaluation = _condition_holds("Allow", {"StringEquals": {K: "web"}}, {K: None})
    assert holds
    assert evaluation.unevaluated_keys == (K,)


def test_unevaluated_keys_come_only_from_statements_that_match() -> None:
    statement = _stmt(condition={"StringEquals": {K: "web", "svc:Known": "yes"}})
    evaluation = _decide(_policy(statement), context={"svc:Known": "no"})
    assert evaluation.decision is IMPLICIT
    assert evaluation.unevaluated_keys == ()


def test_unevaluated_keys_are_sorted_unique_and_spelled_as_in_the_policy() -> None:
    policy = _policy(
        _stmt(condition={"StringEquals": {"svc:Zeta": "1", FLEET_TAG: "web"}}),
        _stmt(condition={"StringLike": {FLEET_TAG: "*"}}),
        _stmt("Deny", condition={"StringEquals": {"svc:Denied": "x"}}),
    )
    evaluation = _decide(policy)
    assert evaluation.decision is ALLOW
    assert evaluation.unevaluated_keys == (FLEET_TAG, "svc:Zeta")


def test_unevaluated_keys_are_reported_even_when_a_deny_wins() -> None:
    policy = _policy(_stmt(condition={"StringEquals": {K: "web"}}), _stmt("Deny"))
    evaluation = _decide(policy)
    assert evaluation.decision is EXPLICIT
    assert evaluation.unevaluated_keys == (K,)


ANY_FLEET = {"StringLike": {FLEET_TAG: "*"}}
REQUEST_FLEET = {"StringEquals": {"aws:RequestTag/Fleet": "web"}}

# (condition, context, holds in an Allow, the key reported as unevaluated)
TAGS_KNOWN_CASES = _cases(
    ("resource-tag-known-absent", ANY_FLEET, TAGS_KNOWN, False, None),
    ("resource-tag-known-present", ANY_FLEET, {**TAGS_KNOWN, FLEET_TAG: "web"}, True, None),
    (
        "ec2-resource-tag-known-absent",
        {"StringLike": {"ec2:ResourceTag/Fleet": "*"}},
        TAGS_KNOWN,
        False,
        None,
    ),
    (
        "flag-name-and-value-forgiving",
        ANY_FLEET,
        {"localaws:resourcetagsknown": "true"},
        False,
        None,
    ),
    ("flag-false-relaxes", ANY_FLEET, {"localaws:ResourceTagsKnown": False}, True, FLEET_TAG),
    (
        "known-absent-negated-holds",
        {"StringNotEquals": {"aws:ResourceTag/Protected": "true"}},
        TAGS_KNOWN,
        True,
        None,
    ),
    (
        "known-absent-ForAnyValue",
        {"ForAnyValue:StringEquals": {FLEET_TAG: ["web"]}},
        TAGS_KNOWN,
        False,
        None,
    ),
    (
        "resource-flag-leaves-request-tags-relaxed",
        REQUEST_FLEET,
        TAGS_KNOWN,
        True,
        "aws:RequestTag/Fleet",
    ),
    ("resource-flag-leaves-other-keys-relaxed", {"StringEquals": {K: "web"}}, TAGS_KNOWN, True, K),
    ("request-tag-known-absent", REQUEST_FLEET, REQUEST_TAGS_KNOWN, False, None),
    (
        "tag-keys-known-absent",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Fleet"]}},
        REQUEST_TAGS_KNOWN,
        False,
        None,
    ),
    (
        "tag-keys-known-absent-ForAllValues",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["Fleet"]}},
        REQUEST_TAGS_KNOWN,
        True,
        None,
    ),
    ("request-flag-leaves-resource-tags-relaxed", ANY_FLEET, REQUEST_TAGS_KNOWN, True, FLEET_TAG),
)


@pytest.mark.parametrize(("condition", "context", "holds", "reported"), TAGS_KNOWN_CASES)
def test_tags_known_makes_absent_tag_keys_strict(
    condition: dict[str, Any], context: dict[str, Any], holds: bool, reported: str | None
) -> None:
    result, evaluation = _condition_holds("Allow", condition, context)
    assert result is holds
    assert evaluation.unevaluated_keys == ((reported,) if reported else ())


def test_tags_known_absent_tag_in_a_deny_follows_aws() -> None:
    protect = {"StringEquals": {"aws:ResourceTag/Protected": "true"}}
    assert _condition_holds("Deny", protect, TAGS_KNOWN)[0] is False
    not_ours = {"StringNotEquals": {"aws:ResourceTag/Owner": "fleetops"}}
    assert _condition_holds("Deny", not_ours, TAGS_KNOWN)[0] is True


def test_explicit_deny_beats_allow_across_policies() -> None:
    allow = _policy(_stmt(sid="AllowAll", action="*"), name="allow")
    deny = _policy(_stmt("Deny", action="svc:Do"), name="deny")
    assert _decide([allow, deny]) == Evaluation(EXPLICIT, ("AllowAll",), ("deny#0",), ())


def test_no_matching_statement_is_an_implicit_deny() -> None:
    assert _decide(_policy(_stmt(action="svc:Other"))) == Evaluation(IMPLICIT, (), (), ())
    assert _decide([]).decision is IMPLICIT


def test_statement_ids_are_the_sid_or_policy_name_and_index() -> None:
    policy = _policy(_stmt(action="svc:Other"), _stmt(sid="Named"), _stmt(), name="role-inline")
    assert _decide(policy).allowed_by == ("Named", "role-inline#2")


def test_principal_is_accepted_and_left_to_the_caller() -> None:
    statement = _stmt(sid="Invoke", Principal={"Service": "events.amazonaws.com"})
    assert _decide(_policy(statement)).allowed_by == ("Invoke",)


def test_a_single_statement_object_is_accepted() -> None:
    policy = Policy.parse("p", {"Version": "2012-10-17", "Statement": _stmt(sid="Only")})
    assert _decide(policy).allowed_by == ("Only",)


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    _cases(
        ("request-case", "dynamodb:UpdateItem", "DynamoDB:updateitem", True),
        ("policy-case", "DynamoDB:updateitem", "dynamodb:UpdateItem", True),
        ("star-ignores-case", "DynamoDB:Update*", "dynamodb:updateitem", True),
        ("question-mark", "dynamodb:Get?tem", "dynamodb:GetItem", True),
        ("other-action", "dynamodb:Get*", "dynamodb:PutItem", False),
        ("other-service", "dynamodb:*", "dynamodbx:GetItem", False),
        ("infix-star", "iam:*AccessKey*", "iam:CreateAccessKey", True),
        ("bare-star", "*", "sns:Publish", True),
    ),
)
def test_action_matching(pattern: str, action: str, matches: bool) -> None:
    evaluation = _decide(_policy(_stmt(action=pattern)), action=action)
    assert (evaluation.decision is ALLOW) is matches


def test_action_list_matches_any_entry() -> None:
    policy = _policy(_stmt(action=["sns:Publish", "sqs:SendMessage"]))
    assert _decide(policy, action="sqs:SendMessage").decision is ALLOW
    assert _decide(policy, action="sqs:DeleteQueue").decision is IMPLICIT


@pytest.mark.parametrize(
    ("effect", "action", "decision"),
    _cases(
        ("allow-outside-notaction", "Allow", "sns:Publish", ALLOW),
        ("allow-inside-notaction", "Allow", "iam:CreateUser", IMPLICIT),
        ("allow-notaction-case", "Allow", "IAM:createuser", IMPLICIT),
        ("deny-outside-notaction", "Deny", "sns:Publish", EXPLICIT),
        ("deny-inside-notaction", "Deny", "sts:GetCallerIdentity", ALLOW),
    ),
)
def test_not_action(effect: str, action: str, decision: Decision) -> None:
    statements = [_stmt(effect, action=None, NotAction=["iam:*", "sts:*"])]
    if effect == "Deny":
        statements.insert(0, _stmt(action="*"))
    assert _decide(_policy(*statements), action=action).decision is decision


@pytest.mark.parametrize(
    ("effect", "resource", "decision"),
    _cases(
        ("allow-outside", "Allow", "arn:aws:s3:::public/a", ALLOW),
        ("allow-inside", "Allow", "arn:aws:s3:::secret/a", IMPLICIT),
        ("allow-unknown-resource", "Allow", None, ALLOW),
        ("deny-outside", "Deny", "arn:aws:s3:::public/a", EXPLICIT),
        ("deny-inside", "Deny", "arn:aws:s3:::secret/a", ALLOW),
        ("deny-unknown-resource", "Deny", None, EXPLICIT),
    ),
)
def test_not_resource(effect: str, resource: str | None, decision: Decision) -> None:
    statements = [_stmt(effect, action="s3:*", resource=None, NotResource="arn:aws:s3:::secret/*")]
    if effect == "Deny":
        statements.insert(0, _stmt(action="*"))
    evaluation = _decide(_policy(*statements), action="s3:GetObject", resource=resource)
    assert evaluation.decision is decision


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    _cases(
        ("prefix-star", f"{TABLES}/fleetops-*", f"{TABLES}/fleetops-dev-registry", True),
        ("prefix-star-other-table", f"{TABLES}/fleetops-*", f"{TABLES}/other", False),
        ("star-spans-slash", f"{TABLES}/fleetops-*", f"{TABLES}/fleetops-dev/index/by-state", True),
        ("star-spans-colons", "arn:aws:dynamodb:*", f"{TABLES}/t", True),
        ("region-star", INSTANCES, f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1", True),
        ("other-account", INSTANCES, "arn:aws:ec2:eu-west-1:999999999999:instance/i-1", False),
        ("question-mark", f"{SQS}:q?", f"{SQS}:q1", True),
        ("question-mark-one-char", f"{SQS}:q?", f"{SQS}:q12", False),
        ("case-sensitive", "arn:aws:s3:::Bucket", "arn:aws:s3:::bucket", False),
        ("dot-is-literal", "arn:aws:s3:::b.c", "arn:aws:s3:::bxc", False),
        ("bare-star", "*", "arn:aws:s3:::anything/at/all", True),
        ("list-any-entry", [f"{TABLES}/a", f"{TABLES}/b"], f"{TABLES}/b", True),
    ),
)
def test_resource_matching(pattern: Any, resource: str, matches: bool) -> None:
    evaluation = _decide(_policy(_stmt(resource=pattern)), resource=resource)
    assert (evaluation.decision is ALLOW) is matches


def test_unknown_resource_matches_every_resource_element() -> None:
    scoped = _policy(_stmt(resource=f"{TABLES}/fleetops-dev-registry"))
    assert _decide(scoped, resource=None).decision is ALLOW
    denied = _policy(_stmt(action="*"), _stmt("Deny", resource=f"{TABLES}/x"))
    assert _decide(denied, resource=None).decision is EXPLICIT


def test_statement_without_resource_matches_any_resource() -> None:
    assert _decide(_policy(_stmt(resource=None)), resource=f"{TABLES}/t").decision is ALLOW


USER = "${aws:username}"
ALICE = {"aws:username": "alice"}

# (where the variable is: "resource" or a condition operator, policy text, context, value, matches)
VARIABLE_CASES = _cases(
    ("resource-substituted", "resource", f"{HOME}/{USER}/*", ALICE, f"{HOME}/alice/f", True),
    ("resource-other-user", "resource", f"{HOME}/{USER}/*", ALICE, f"{HOME}/bob/f", False),
    ("resource-absent-key-no-match", "resource", f"{HOME}/{USER}/*", {}, f"{HOME}/alice/f", False),
    (
        "name-case-insensitive",
        "resource",
        f"{HOME}/${{AWS:UserName}}/*",
        ALICE,
        f"{HOME}/alice/f",
        True,
    ),
    (
        "default-value",
        "resource",
        f"{HOME}/${{aws:username, 'anon'}}/*",
        {},
        f"{HOME}/anon/f",
        True,
    ),
    (
        "default-unused",
        "resource",
        f"{HOME}/${{aws:username, 'anon'}}/*",
        ALICE,
        f"{HOME}/alice/f",
        True,
    ),
    (
        "substituted-value-is-literal",
        "resource",
        f"{HOME}/{USER}",
        {"aws:username": "a*"},
        f"{HOME}/abc",
        False,
    ),
    (
        "substituted-value-matches-itself",
        "resource",
        f"{HOME}/{USER}",
        {"aws:username": "a*"},
        f"{HOME}/a*",
        True,
    ),
    (
        "multivalued-key-is-no-value",
        "resource",
        f"{HOME}/${{svc:Multi}}",
        {"svc:Multi": ["a"]},
        f"{HOME}/a",
        False,
    ),
    (
        "tag-variable",
        "resource",
        f"{HOME}/${{aws:PrincipalTag/team}}/*",
        {"aws:PrincipalTag/team": "ops"},
        f"{HOME}/ops/x",
        True,
    ),
    ("escaped-star-is-literal", "resource", f"{HOME}/a${{*}}b", {}, f"{HOME}/axb", False),
    ("escaped-star-matches-star", "resource", f"{HOME}/a${{*}}b", {}, f"{HOME}/a*b", True),
    ("escaped-question-mark", "resource", f"{HOME}/a${{?}}", {}, f"{HOME}/a?", True),
    ("escaped-question-mark-is-literal", "resource", f"{HOME}/a${{?}}", {}, f"{HOME}/ab", False),
    ("escaped-dollar", "resource", f"{HOME}/${{$}}x", {}, f"{HOME}/$x", True),
    ("StringLike-substituted", "StringLike", f"{USER}/*", ALICE, "alice/docs", True),
    ("StringLike-other-user", "StringLike", f"{USER}/*", ALICE, "bob/docs", False),
    ("StringEquals-absent-variable", "StringEquals", USER, {}, "alice", False),
    ("StringEquals-escape", "StringEquals", "a${*}", {}, "a*", True),
    ("only-the-unresolved-value-drops", "StringEquals", [USER, "fixed"], {}, "fixed", True),
    ("negated-unresolved-value-matches-nothing", "StringNotEquals", USER, {}, "alice", True),
    (
        "ArnLike-substituted",
        "ArnLike",
        f"arn:aws:iam::{ACCOUNT}:user/{USER}",
        ALICE,
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        True,
    ),
    ("no-variables-in-numeric", "NumericEquals", "1", {"svc:N": "${svc:N}"}, "1", True),
)


@pytest.mark.parametrize(("element", "pattern", "context", "value", "matches"), VARIABLE_CASES)
def test_policy_variables(
    element: str, pattern: Any, context: dict[str, Any], value: str, matches: bool
) -> None:
    if element == "resource":
        evaluation = _decide(_policy(_stmt(resource=pattern)), resource=value, context=context)
    else:
        policy = _policy(_stmt(condition={element: {"svc:Value": pattern}}))
        evaluation = _decide(policy, context={**context, "svc:Value": value})
    assert (evaluation.decision is ALLOW) is matches
    assert evaluation.unevaluated_keys == ()


@pytest.mark.parametrize("version", [None, "2008-10-17"])
def test_policy_variables_need_version_2012_10_17(version: str | None) -> None:
    policy = _policy(_stmt(resource=f"{HOME}/{USER}"), version=version)
    assert _decide(policy, resource=f"{HOME}/alice", context=ALICE).decision is IMPLICIT
    assert _decide(policy, resource=f"{HOME}/{USER}", context=ALICE).decision is ALLOW


DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Publish", "Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}],
}


@pytest.mark.parametrize(
    "text",
    _cases(
        ("json", json.dumps(DOCUMENT)),
        ("json-with-leading-space", "\n  " + json.dumps(DOCUMENT, indent=2)),
        ("url-encoded", urllib.parse.quote(json.dumps(DOCUMENT))),
        ("url-encoded-all", urllib.parse.quote(json.dumps(DOCUMENT, indent=4), safe="")),
    ),
)
def test_parse_json_text(text: str) -> None:
    policy = Policy.parse("inline", text)
    assert policy.name == "inline"
    assert policy.document == DOCUMENT
    assert _decide(policy, action="sns:Publish").allowed_by == ("Publish",)


def test_policy_constructor_validates_too() -> None:
    with pytest.raises(PolicyError, match="missing Statement"):
        Policy("direct", {"Version": "2012-10-17"})
    assert issubclass(PolicyError, ValueError)


def _doc(*statements: Any, **top: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements), **top}


def _with(**elements: Any) -> dict[str, Any]:
    return _doc({"Effect": "Allow", "Action": "svc:Do", "Resource": "*", **elements})


def _cond(operator: str, value: Any) -> dict[str, Any]:
    return _with(Condition={operator: {"k:k": value}})


# (document, a part of the message)
MALFORMED = _cases(
    ("not-json", "not json", "policy 'bad': not valid JSON"),
    ("url-encoded-not-json", "%7Bnot json", "not valid JSON"),
    ("not-an-object", "[]", "the document must be a JSON object, got a list"),
    ("missing-statement", {"Version": "2012-10-17"}, "policy 'bad': missing Statement"),
    (
        "statement-string",
        {"Statement": "x"},
        "Statement must be an object or a list of objects, got a string",
    ),
    (
        "statement-entry-string",
        _doc("x"),
        "statement 0: a statement must be an object, got a string",
    ),
    (
        "unknown-top-level",
        {"Statement": [], "Statements": []},
        "unknown top-level element(s) 'Statements'",
    ),
    (
        "bad-version",
        {"Version": "2020-01-01", "Statement": []},
        'Version must be "2012-10-17" or "2008-10-17", got \'2020-01-01\'',
    ),
    ("missing-effect", _doc({"Action": "svc:Do", "Resource": "*"}), "statement 0: missing Effect"),
    ("effect-lower-case", _with(Effect="allow"), 'Effect must be "Allow" or "Deny", got \'allow\''),
    ("no-action", _doc({"Effect": "Allow", "Resource": "*"}), "has neither Action nor NotAction"),
    ("action-and-notaction", _with(NotAction="svc:Other"), "has both Action and NotAction"),
    (
        "resource-and-notresource",
        _with(NotResource="arn:aws:s3:::b"),
        "has both Resource and NotResource",
    ),
    (
        "empty-action-list",
        _with(Action=[]),
        "Action must be a string or a non-empty list of strings",
    ),
    (
        "action-entry-number",
        _with(Action=["svc:Do", 3]),
        "Action entries must be non-empty strings, got 3",
    ),
    (
        "action-without-service",
        _with(Action="Publish"),
        'action \'Publish\' must be "*" or "<service>:<action>"',
    ),
    ("resource-not-arn", _with(Resource="bucket"), "resource 'bucket' must be \"*\" or an ARN"),
    (
        "principal-and-notprincipal",
        _with(Principal={"AWS": "*"}, NotPrincipal={"AWS": "*"}),
        "has both Principal and NotPrincipal",
    ),
    ("unknown-element", _with(Actions="svc:Do"), "unknown element(s) 'Actions'"),
    ("duplicate-sid", _doc(_stmt(sid="A"), _stmt(sid="A")), "duplicate Sid 'A'"),
    ("sid-number", _with(Sid=7), "Sid must be a string, got a number"),
    (
        "names-statement-and-sid",
        _doc(_stmt(), _stmt("Maybe", sid="Second")),
        "policy 'bad', statement 1 (Sid 'Second'): Effect must be",
    ),
    ("condition-list", _with(Condition=[]), "Condition must be an object, got a list"),
    (
        "condition-block-string",
        _with(Condition={"StringEquals": "x"}),
        "condition 'StringEquals' must map condition keys to values",
    ),
    ("unknown-operator", _cond("StringEqualz", "v"), "unknown condition operator 'StringEqualz'"),
    (
        "unknown-set-operator",
        _cond("ForSomeValues:StringEquals", "v"),
        "unknown set operator 'ForSomeValues'",
    ),
    ("null-ifexists", _cond("NullIfExists", "true"), "Null cannot take the IfExists suffix"),
    (
        "numeric-value",
        _cond("NumericLessThan", "ten"),
        "'ten' is not a valid numeric value for NumericLessThan",
    ),
    (
        "date-value",
        _cond("DateLessThan", "soon"),
        "'soon' is not a valid date value for DateLessThan",
    ),
    (
        "ip-value",
        _cond("IpAddress", "300.1.1.1/8"),
        "'300.1.1.1/8' is not a valid ip value for IpAddress",
    ),
    ("null-value", _cond("Null", "maybe"), "'maybe' is not a valid null value for Null"),
    (
        "binary-value",
        _cond("BinaryEquals", "not base64!"),
        "is not a valid binary value for BinaryEquals",
    ),
    (
        "value-object",
        _cond("StringEquals", {"a": 1}),
        "StringEquals k:k: condition values must be strings, numbers or booleans, got an object",
    ),
)


@pytest.mark.parametrize(("document", "message"), MALFORMED)
def test_malformed_documents_are_rejected_precisely(document: Any, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        Policy.parse("bad", document)
    assert message in str(raised.value)


TOPIC = f"{SNS}:fleetops-dev-notifications"
INSTANCE = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
REGISTRY = f"{TABLES}/fleetops-dev-registry"
TAGGED = {FLEET_TAG: "web", **TAGS_KNOWN}
US_EAST = {"aws:RequestedRegion": "us-east-1"}

FLEET_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PublishNotifications",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": TOPIC,
        },
        {
            "Sid": "RebootFleetInstances",
            "Effect": "Allow",
            "Action": "ec2:RebootInstances",
            "Resource": INSTANCES,
            "Condition": {"StringLike": {FLEET_TAG: ["*"]}},
        },
        {
            "Sid": "DescribeInstances",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"],
            "Resource": "*",
        },
        {
            "Sid": "RegistryTable",
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ],
            "Resource": [f"{TABLES}/fleetops-*", f"{TABLES}/fleetops-*/index/*"],
        },
        {
            "Sid": "OnlyOurRegions",
            "Effect": "Deny",
            "NotAction": ["iam:*", "sts:*"],
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}
            },
        },
    ],
}


def _allowed(
    *sids: str, denied: tuple[str, ...] = (), unevaluated: tuple[str, ...] = ()
) -> Evaluation:
    return Evaluation(EXPLICIT if denied else ALLOW, sids, denied, unevaluated)


NOTHING = Evaluation(IMPLICIT, (), (), ())

# (action, resource, context, evaluation)
ROLE_CASES = _cases(
    ("publish-to-the-topic", "sns:Publish", TOPIC, {}, _allowed("PublishNotifications")),
    ("publish-elsewhere", "sns:Publish", f"{SNS}:other", {}, NOTHING),
    ("subscribe-not-granted", "sns:Subscribe", TOPIC, {}, NOTHING),
    (
        "reboot-tagged-instance",
        "ec2:RebootInstances",
        INSTANCE,
        TAGGED,
        _allowed("RebootFleetInstances"),
    ),
    ("reboot-untagged-instance", "ec2:RebootInstances", INSTANCE, TAGS_KNOWN, NOTHING),
    (
        "reboot-tags-unknown",
        "ec2:RebootInstances",
        INSTANCE,
        {},
        _allowed("RebootFleetInstances", unevaluated=(FLEET_TAG,)),
    ),
    (
        "reboot-other-account",
        "ec2:RebootInstances",
        "arn:aws:ec2:eu-west-1:999999999999:instance/i-1",
        TAGGED,
        NOTHING,
    ),
    ("terminate-not-granted", "ec2:TerminateInstances", INSTANCE, TAGGED, NOTHING),
    ("describe-no-resource", "ec2:DescribeInstances", None, {}, _allowed("DescribeInstances")),
    ("update-registry", "dynamodb:UpdateItem", REGISTRY, {}, _allowed("RegistryTable")),
    ("update-registry-action-case", "DynamoDB:updateitem", REGISTRY, {}, _allowed("RegistryTable")),
    ("query-index", "dynamodb:Query", f"{REGISTRY}/index/by-state", {}, _allowed("RegistryTable")),
    ("update-other-table", "dynamodb:UpdateItem", f"{TABLES}/other", {}, NOTHING),
    ("delete-table-not-granted", "dynamodb:DeleteTable", REGISTRY, {}, NOTHING),
    (
        "update-in-our-region",
        "dynamodb:UpdateItem",
        REGISTRY,
        {"aws:RequestedRegion": "eu-west-1"},
        _allowed("RegistryTable"),
    ),
    (
        "update-other-region-denied",
        "dynamodb:UpdateItem",
        REGISTRY,
        US_EAST,
        _allowed("RegistryTable", denied=("OnlyOurRegions",)),
    ),
    ("region-deny-exempts-sts", "sts:GetCallerIdentity", None, US_EAST, NOTHING),
)


@pytest.mark.parametrize(("action", "resource", "context", "expected"), ROLE_CASES)
def test_least_privilege_role_policy(
    action: str, resource: str | None, context: dict[str, Any], expected: Evaluation
) -> None:
    encoded = urllib.parse.quote(json.dumps(FLEET_ROLE_POLICY))  # as IAM's GetRolePolicy returns it
    policy = Policy.parse("fleetops-dev-fleet-sync", encoded)
    assert _decide(policy, action=action, resource=resource, context=context) == expected
