"""Every change the local AWS makes to moto, in one place, each with the reason it exists.

The local AWS is moto's server (moto 5.2.5, pinned by the lockfile) plus what this module
installs. Three kinds of change:

- **Gaps**: an API the Terraform AWS provider calls and moto lacks, or a field moto drops. Each
  is answered with moto's own data or machinery, never with a canned result that could hide a
  real error.
- **Emulations**: what AWS does on its own and moto does not: IAM enforcement for role
  credentials, running a function's code under its role (Lambda), delivering schedules and alarm
  actions, running Step Functions tasks under the state machine's role. They live in their own
  modules; this one only hooks them in.
- **Speed-ups** (opt-in, benchmarks only): same answers, lower complexity.

`tests/python/fleetops_tests/local_aws/test_patches.py` shows, for each gap, what stock moto does
and what the patched server does.
"""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.responses import StepFunctionResponse


@dataclass(frozen=True)
class Patch:
    name: str
    reason: str
    install: Callable[[], Callable[[], None]]
    """Installs the patch and returns the function that undoes it."""


def _set_attr(owner: Any, name: str, value: Any) -> Callable[[], None]:
    missing = object()
    original = owner.__dict__.get(name, missing) if isinstance(owner, type) else missing
    setattr(owner, name, value)

    def undo() -> None:
        if original is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, original)

    return undo


# ---- Step Functions: two actions the Terraform provider calls --------------------------------


def _validate_state_machine_definition(self: StepFunctionResponse) -> str:
    """ValidateStateMachineDefinition through moto's own ASL static analyser, so a definition
    moto could not execute fails `terraform plan` instead of passing unchecked."""
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    params = json.loads(self.body or "{}")
    diagnostics = []
    try:
        StaticAnalyser().analyse(params["definition"])
    except Exception as exc:  # the analyser raises its parser's own exception types
        diagnostics.append(
            {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": repr(exc)[:1000]}
        )
    return json.dumps(
        {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False}
    )


def _list_state_machine_versions(self: StepFunctionResponse) -> str:
    """ListStateMachineVersions from moto's own record of published versions."""
    params = json.loads(self.body or "{}")
    machine = self.stepfunction_backend.describe_state_machine(params["stateMachineArn"])
    versions = [
        {
            "stateMachineVersionArn": version.arn,
            "creationDate": _epoch(version.creation_date),
        }
        for _, version in sorted(getattr(machine, "versions", {}).items(), reverse=True)
    ]
    return json.dumps({"stateMachineVersions": versions})


def _undo_all(undo: list[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:
        for u in reversed(undo):
            u()

    return run


def _epoch(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _install_sfn_actions() -> Callable[[], None]:
    undo = [
        _set_attr(
            StepFunctionResponse,
            "validate_state_machine_definition",
            _validate_state_machine_definition,
        ),
        _set_attr(
            StepFunctionResponse, "list_state_machine_versions", _list_state_machine_versions
        ),
    ]
    return _undo_all(undo)


# ---- Lambda: configuration moto accepts and drops --------------------------------------------

_KEPT_CONFIG = ("DeadLetterConfig", "LoggingConfig", "TracingConfig", "KMSKeyArn")


def _install_lambda_config_round_trip() -> Callable[[], None]:
    """moto 5.2.5 drops DeadLetterConfig and LoggingConfig (GetFunction never returns them, so
    every `terraform plan` shows a change) and ignores TracingConfig/KMSKeyArn on update. The
    local Lambda runtime also needs the dead-letter queue and the log group."""
    original_init = LambdaFunction.__init__
    original_update = LambdaFunction.update_configuration
    original_get = LambdaFunction.get_configuration

    def __init__(
        self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        kept = {k: copy.deepcopy(spec[k]) for k in _KEPT_CONFIG if k in spec}
        setattr(self, "fleetops_config", kept)  # noqa: B010 (an attribute moto does not declare)

    def update_configuration(self: LambdaFunction, updates: dict[str, Any]) -> dict[str, Any]:
        kept = getattr(self, "fleetops_config", {})
        for key in _KEPT_CONFIG:
            if key in updates:
                kept[key] = copy.deepcopy(updates[key])
        setattr(self, "fleetops_config", kept)  # noqa: B010
        if "TracingConfig" in updates:
            self.tracing_config = updates["TracingConfig"]
        if "KMSKeyArn" in updates:
            self.kms_key_arn = updates["KMSKeyArn"]
        return original_update(self, updates)

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config = original_get(self, on_create)
        kept = getattr(self, "fleetops_config", {})
        if kept.get("DeadLetterConfig", {}).get("TargetArn"):
            config["DeadLetterConfig"] = kept["DeadLetterConfig"]
        if "LoggingConfig" in kept:
            logging = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
            logging.update(kept["LoggingConfig"])
            config["LoggingConfig"] = logging
        return config

    undo = [
        _set_attr(LambdaFunction, "__init__", __init__),
        _set_attr(LambdaFunction, "update_configuration", update_configuration),
        _set_attr(LambdaFunction, "get_configuration", get_configuration),
    ]
    return _undo_all(undo)


# ---- S3: bucket policies with conditions ---------------------------------------------------------

TLS_CONTEXT = {"aws:SecureTransport": True, "s3:TlsVersion": "1.3"}
"""The local AWS stands for AWS's TLS endpoints (its loopback HTTP is an implementation detail):
requests are evaluated as TLS 1.3 ones, so TLS-only bucket policies hold as they do in AWS."""


def _install_s3_bucket_policy_conditions() -> Callable[[], None]:
    """moto evaluates a bucket policy statement whose condition it cannot satisfy as an explicit
    deny (any Effect), so the standard "deny unless aws:SecureTransport" statement denies every
    GetObject/PutObject. Evaluated here with the IAM evaluator of the local AWS: a statement
    applies only when its conditions hold (for every principal, `*`)."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    from fleetops.local_aws.iam_policy import Decision, Policy, Request, evaluate

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if not self.policy:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        everyone = [s for s in statements if s.get("Principal") in ("*", {"AWS": "*"})]
        if not everyone:
            return PermissionResult.NEUTRAL
        policy = Policy.parse("bucket-policy", {**document, "Statement": everyone})
        decision = evaluate([policy], Request(action, resource, TLS_CONTEXT)).decision
        return {
            Decision.EXPLICIT_DENY: PermissionResult.DENIED,
            Decision.ALLOW: PermissionResult.PERMITTED,
        }.get(decision, PermissionResult.NEUTRAL)

    return _set_attr(FakeBucket, "get_permission", get_permission)


GAPS: tuple[Patch, ...] = (
    Patch(
        "stepfunctions-provider-actions",
        "ValidateStateMachineDefinition and ListStateMachineVersions are called by the Terraform "
        "provider (plan/create, after create); moto answers 500 and the provider retries ~10 min.",
        _install_sfn_actions,
    ),
    Patch(
        "lambda-config-round-trip",
        "DeadLetterConfig and LoggingConfig are dropped (a perpetual plan diff, and the runtime "
        "needs them); TracingConfig and KMSKeyArn are ignored on UpdateFunctionConfiguration.",
        _install_lambda_config_round_trip,
    ),
    Patch(
        "s3-bucket-policy-conditions",
        "moto treats a bucket policy statement with an unmet condition as a deny, so a TLS-only "
        "bucket policy (Deny if aws:SecureTransport is false) refuses every object read.",
        _install_s3_bucket_policy_conditions,
    ),
)


@contextmanager
def installed(patches: tuple[Patch, ...] = GAPS) -> Iterator[None]:
    """Install `patches` for the duration of the block (tests); the server installs for good."""
    undo = [p.install() for p in patches]
    try:
        yield
    finally:
        for u in reversed(undo):
            u()


def install_for_good(patches: tuple[Patch, ...] = GAPS) -> None:
    for p in patches:
        p.install()


# ---- Speed-ups for large-fleet benchmarks (opt-in) --------------------------------------------


def _indexed_get_tags(self: Any) -> list[dict[str, str]]:
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

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
    """moto 5.2 looks up an EC2 resource's tags by scanning every tag of every resource in the
    Region (`TaggedEC2Resource.get_tags` -> `TagBackend.describe_tags` with a resource-id filter)
    for each instance it filters or renders: DescribeInstances becomes quadratic in fleet size
    (hours for 10,000 instances). This answers the same lookup from the backend's own
    per-resource tag index."""
    from moto.ec2.models.core import TaggedEC2Resource

    undo = _set_attr(TaggedEC2Resource, "get_tags", _indexed_get_tags)
    try:
        yield
    finally:
        undo()


def _deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
    from moto.dynamodb.models.table import Table

    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _item_level_transact(original: Callable[..., None]) -> Callable[..., None]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
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
            original(self, transact_items)
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

    return transact


@contextmanager
def item_level_transaction_rollback() -> Iterator[None]:
    """moto 5.2 backs a TransactWriteItems up by deep-copying the whole table once per action
    (100 copies of the registry per request: about 30 s per transaction at 5,000 items). This
    snapshots only the items the transaction names and puts them back when it is cancelled; the
    transaction logic itself is moto's own."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    original_copy = dynamodb_models.copy
    original_transact = DynamoDBBackend.transact_write_items
    dynamodb_models.copy = types.SimpleNamespace(  # type: ignore[assignment]
        deepcopy=_deepcopy_except_tables, copy=copy.copy
    )
    undo = _set_attr(
        DynamoDBBackend, "transact_write_items", _item_level_transact(original_transact)
    )
    try:
        yield
    finally:
        undo()
        dynamodb_models.copy = original_copy


@contextmanager
def large_fleet_speedups() -> Iterator[None]:
    """Both speed-ups, for the benchmarks' servers."""
    with ExitStack() as stack:
        stack.enter_context(indexed_ec2_tags())
        stack.enter_context(item_level_transaction_rollback())
        yield
