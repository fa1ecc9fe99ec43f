"""What IAM checks one AWS API request needs: action names, resource ARNs, condition keys.

AWS authorizes a request as one or more (action, resource) pairs, each evaluated with the
request's condition keys. moto evaluates every request as (`<signing name>:<Operation>`, `*`),
which is wrong in three ways that matter for least-privilege roles, fixed here:

- **Action names** differ from operation names for some services: `lambda:Invoke` is
  `lambda:InvokeFunction`; a DynamoDB `TransactWriteItems` needs `dynamodb:UpdateItem` (etc.)
  on each table it touches, not an action of its own; CloudWatch signs as `monitoring`.
- **Resources** are the ARNs the request names (a table, a topic, each instance of a
  RebootInstances). APIs without resource-level permissions are checked against `*`, as in AWS,
  so a statement scoped to an ARN does not cover them. Where this module cannot tell the
  resource, it says so (`None`), and the evaluation treats the resource element as matching.
- **Condition keys** the local AWS can know: the principal, the Region, the resource's tags
  (EC2, Auto Scaling, Elastic Load Balancing, looked up in moto's backends) and request tags.
  Requests also imply checks AWS makes on the caller's behalf: a `Publish` to a KMS-encrypted
  topic needs `kms:GenerateDataKey` and `kms:Decrypt` on its key (with `kms:ViaService`).

The module is pure: moto's backends are reached through the `Lookups` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

SIGNING_NAME_TO_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}

ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})
"""AWS answers these for any valid credentials, whatever the policies say."""

ACTION_NAMES = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
}

RESOURCE_TAGS_KNOWN = "localaws:ResourceTagsKnown"
REQUEST_TAGS_KNOWN = "localaws:RequestTagsKnown"

ASG_ID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
"""Auto Scaling group ARNs carry a UUID the caller never names; a group that does not exist yet
is checked with this one (policies name groups as `autoScalingGroup:*:autoScalingGroupName/...`)."""


@dataclass(frozen=True)
class Check:
    """One (action, resource) pair IAM must allow, with its condition keys."""

    action: str
    resource: str | None
    context: Mapping[str, Any] = field(default_factory=dict)
    implied_by: str | None = None
    """The action whose request implies this check (e.g. `sns:Publish` for `kms:Decrypt`)."""


class Lookups(Protocol):
    """What the local AWS knows about resources, for resource tags and implied KMS checks."""

    def resource_tags(self, arn: str) -> dict[str, str] | None: ...

    def asg_arn(self, region: str, name: str) -> str | None: ...

    def asg_of_instance(self, region: str, instance_id: str) -> str | None: ...

    def kms_key_arn(self, region: str, key_id: str) -> str | None: ...

    def topic_kms_key(self, topic_arn: str) -> str | None: ...

    def queue_kms_key(self, queue_arn: str) -> str | None: ...

    def bucket_kms_key(self, bucket: str) -> str | None: ...

    def object_kms_key(self, bucket: str, key: str) -> str | None: ...


@dataclass(frozen=True)
class Call:
    """One API request as the local AWS received it (params in the boto3 input shape)."""

    signing_name: str
    operation: str
    params: Mapping[str, Any] | None
    region: str
    account: str
    principal_arn: str
    partition: str = "aws"

    @property
    def prefix(self) -> str:
        return SIGNING_NAME_TO_PREFIX.get(self.signing_name, self.signing_name)

    def arn(self, service: str, resource: str, region: str | None = None, account: str = "") -> str:
        return f"arn:{self.partition}:{service}:{self.region if region is None else region}:{account}:{resource}"


Resolver = Callable[[Call, Mapping[str, Any], Lookups], list[Check]]


def checks_for(call: Call, lookups: Lookups) -> list[Check]:
    """Every check `call` needs, with the request's global condition keys added to each."""
    action = f"{call.prefix}:{ACTION_NAMES.get((call.prefix, call.operation), call.operation)}"
    if call.params is None:
        checks = [Check(action, None)]
    else:
        resolver = _RESOLVERS.get((call.prefix, call.operation)) or _SERVICE_DEFAULTS.get(
            call.prefix
        )
        checks = resolver(call, call.params, lookups) if resolver else [Check(action, None)]
    checks = [
        *checks,
        *(implied for check in checks for implied in _implied(call, check, lookups)),
    ]
    base = {
        "aws:PrincipalArn": call.principal_arn,
        "aws:PrincipalAccount": call.account,
        "aws:RequestedRegion": call.region,
        # The local AWS stands for AWS's TLS endpoints (see patches.TLS_CONTEXT).
        "aws:SecureTransport": True,
    }
    return [Check(c.action, c.resource, {**base, **c.context}, c.implied_by) for c in checks]


def action_of(call: Call) -> str:
    return f"{call.prefix}:{ACTION_NAMES.get((call.prefix, call.operation), call.operation)}"


# ---- helpers -----------------------------------------------------------------------------------


def _one(call: Call, arn: str | None, lookups: Lookups | None = None) -> list[Check]:
    context = _resource_tag_context(call.prefix, arn, lookups) if lookups and arn else {}
    return [Check(action_of(call), arn, context)]


def _many(call: Call, arns: Iterable[str | None], lookups: Lookups | None = None) -> list[Check]:
    checks = [c for arn in arns for c in _one(call, arn, lookups)]
    return checks or [Check(action_of(call), None)]


def _star(call: Call, _params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    """APIs without resource-level permissions: AWS checks them against `*`."""
    return [Check(action_of(call), "*")]


def _resource_tag_context(prefix: str, arn: str, lookups: Lookups) -> dict[str, Any]:
    tags = lookups.resource_tags(arn)
    if tags is None:
        return {}
    context: dict[str, Any] = {RESOURCE_TAGS_KNOWN: True}
    for key, value in tags.items():
        context[f"aws:ResourceTag/{key}"] = value
        context[f"{prefix}:ResourceTag/{key}"] = value
        if prefix == "ssm":
            context[f"ssm:resourceTag/{key}"] = value
    return context


def _request_tag_context(tags: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    context: dict[str, Any] = {REQUEST_TAGS_KNOWN: True, "aws:TagKeys": []}
    for tag in tags:
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"].append(key)
    return context


def _param(params: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if params.get(name) not in (None, ""):
            return params[name]
    return None


# ---- DynamoDB ----------------------------------------------------------------------------------


def _table_arn(call: Call, name: str, index: str | None = None) -> str:
    if name.startswith("arn:"):
        return f"{name}/index/{index}" if index else name
    suffix = f"/index/{index}" if index else ""
    return call.arn("dynamodb", f"table/{name}{suffix}", account=call.account)


def _dynamodb_table(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    name = _param(params, "TableName", "TableArn", "ResourceArn")
    if name is None:
        return [Check(action_of(call), None)]
    return _one(call, _table_arn(call, str(name), params.get("IndexName")))


def _dynamodb_batch(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    return _many(call, (_table_arn(call, t) for t in params.get("RequestItems") or {}))


_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _dynamodb_transact(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    """A transaction needs the item-level action on each table, per kind of item it holds."""
    seen: dict[tuple[str, str], None] = {}
    for item in params.get("TransactItems") or []:
        for kind, op in item.items():
            if kind in _TRANSACT_ACTIONS and isinstance(op, Mapping) and op.get("TableName"):
                seen[(_TRANSACT_ACTIONS[kind], _table_arn(call, str(op["TableName"])))] = None
    return [Check(action, arn) for action, arn in seen] or [Check(action_of(call), None)]


# ---- SNS, SQS, Step Functions, Lambda, KMS, Logs, CloudWatch -----------------------------------


def _sns_topic(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    arn = _param(params, "TopicArn", "TargetArn", "ResourceArn")
    if arn is None and params.get("Name"):
        arn = call.arn("sns", str(params["Name"]), account=call.account)
    return _one(call, arn)


def queue_arn_from_url(url: str, region: str, partition: str = "aws") -> str | None:
    parts = [p for p in urlparse(url).path.split("/") if p]
    if len(parts) < 2:
        return None
    return f"arn:{partition}:sqs:{region}:{parts[-2]}:{parts[-1]}"


def _sqs_queue(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    url = _param(params, "QueueUrl")
    if url:
        return _one(call, queue_arn_from_url(str(url), call.region, call.partition))
    name = _param(params, "QueueName")
    return _one(call, call.arn("sqs", str(name), account=call.account) if name else None)


def _states(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    arn = _param(params, "stateMachineArn", "executionArn", "resourceArn", "activityArn")
    if arn is None and params.get("name") and call.operation == "CreateStateMachine":
        arn = call.arn("states", f"stateMachine:{params['name']}", account=call.account)
    return _one(call, arn)


def _lambda_function(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    name = _param(params, "FunctionName", "Resource")
    if name is None:
        return [Check(action_of(call), "*" if call.operation.startswith("List") else None)]
    name = unquote(str(name))
    qualifier = params.get("Qualifier")
    if name.startswith("arn:"):
        arn = name
    else:
        base, _, inline_qualifier = name.partition(":")
        qualifier = qualifier or inline_qualifier or None
        arn = call.arn("lambda", f"function:{base}", account=call.account)
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return _one(call, arn)


def _kms_key(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    key = _param(params, "KeyId", "TargetKeyId")
    if key is None:
        return [
            Check(
                action_of(call),
                "*" if call.operation in {"CreateKey", "ListKeys", "ListAliases"} else None,
            )
        ]
    return _one(call, lookups.kms_key_arn(call.region, str(key)))


def _log_stream(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    group = _param(params, "logGroupName")
    if group is None:
        return [Check(action_of(call), None)]
    resource = f"log-group:{group}"
    stream = params.get("logStreamName")
    resource += f":log-stream:{stream}" if stream else ":*"
    return _one(call, call.arn("logs", resource, account=call.account))


def _cloudwatch_alarms(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    names = params.get("AlarmNames") or ([params["AlarmName"]] if params.get("AlarmName") else [])
    if not names:
        return [Check(action_of(call), None)]
    return _many(call, (call.arn("cloudwatch", f"alarm:{n}", account=call.account) for n in names))


# ---- EC2, Auto Scaling, Elastic Load Balancing, SSM, Route 53 ---------------------------------

_EC2_KINDS = {
    "i": ("instance", True),
    "vol": ("volume", True),
    "eni": ("network-interface", True),
    "lt": ("launch-template", True),
    "sg": ("security-group", True),
    "subnet": ("subnet", True),
    "vpc": ("vpc", True),
    "snap": ("snapshot", False),
    "ami": ("image", False),
}


def ec2_arn(call: Call, resource_id: str, region: str | None = None) -> str | None:
    """`i-0abc` -> the instance's ARN (snapshots and images carry no account)."""
    kind, owned = _EC2_KINDS.get(resource_id.split("-", 1)[0], (None, False))
    if kind is None:
        return None
    return call.arn("ec2", f"{kind}/{resource_id}", region, call.account if owned else "")


def _ec2_ids(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    ids: list[str] = []
    for name in ("InstanceIds", "Resources"):
        ids.extend(str(i) for i in params.get(name) or [])
    for name in ("InstanceId", "VolumeId", "SnapshotId", "ImageId", "NetworkInterfaceId"):
        if params.get(name):
            ids.append(str(params[name]))
    checks = _many(call, (ec2_arn(call, i) for i in ids), lookups)
    if call.operation in {"CreateTags", "DeleteTags"} and params.get("Tags"):
        tags = _request_tag_context(params["Tags"])
        checks = [Check(c.action, c.resource, {**c.context, **tags}) for c in checks]
    return checks


def _ec2_default(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    if call.operation.startswith("Describe"):
        return _star(call, params, lookups)
    return [Check(action_of(call), None)]


def asg_arn(call: Call, name: str, lookups: Lookups) -> str:
    existing = lookups.asg_arn(call.region, name)
    return existing or call.arn(
        "autoscaling",
        f"autoScalingGroup:{ASG_ID_PLACEHOLDER}:autoScalingGroupName/{name}",
        account=call.account,
    )


def _autoscaling_group(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    name = _param(params, "AutoScalingGroupName")
    if name is None and params.get("InstanceId"):
        name = lookups.asg_of_instance(call.region, str(params["InstanceId"]))
    if name is None and params.get("Tags"):
        names = {str(t.get("ResourceId")) for t in params["Tags"] if t.get("ResourceId")}
        checks = _many(call, (asg_arn(call, n, lookups) for n in sorted(names)), lookups)
        return [
            Check(c.action, c.resource, {**c.context, **_request_tag_context(params["Tags"])})
            for c in checks
        ]
    if name is None:
        return [Check(action_of(call), None)]
    checks = _one(call, asg_arn(call, str(name), lookups), lookups)
    if call.operation == "CreateAutoScalingGroup":
        tags = _request_tag_context(params.get("Tags") or [])
        checks = [Check(c.action, c.resource, {**c.context, **tags}) for c in checks]
    return checks


def _autoscaling_default(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    if call.operation.startswith("Describe"):
        return _star(call, params, lookups)
    return _autoscaling_group(call, params, lookups)


def _elb(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    if call.operation.startswith("Describe"):
        return _star(call, params, lookups)
    arn = _param(params, "ListenerArn", "RuleArn", "TargetGroupArn", "LoadBalancerArn")
    if arn is None and params.get("ResourceArns"):
        return _many(call, (str(a) for a in params["ResourceArns"]), lookups)
    return _one(call, arn, lookups)


def _ssm_send_command(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    document = str(params.get("DocumentName") or "")
    if document.startswith("arn:"):
        document_arn = document
    else:
        owner = "" if document.startswith("AWS-") else call.account
        document_arn = call.arn("ssm", f"document/{document}", account=owner)
    instances = [ec2_arn(call, str(i)) for i in params.get("InstanceIds") or []]
    return [*_one(call, document_arn), *_many(call, instances, lookups)]


def _ssm_default(call: Call, params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    if call.operation in {
        "GetCommandInvocation",
        "ListCommands",
        "ListCommandInvocations",
    } or call.operation.startswith("Describe"):
        return _star(call, params, lookups)
    name = _param(params, "Name")
    if name and call.operation in {"GetParameter", "PutParameter", "DeleteParameter"}:
        return _one(
            call, call.arn("ssm", f"parameter/{str(name).lstrip('/')}", account=call.account)
        )
    return [Check(action_of(call), None)]


def _route53_zone(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    zone = _param(params, "HostedZoneId", "Id")
    if zone is None:
        return [Check(action_of(call), "*" if call.operation.startswith("List") else None)]
    zone_id = str(zone).rsplit("/", 1)[-1]
    return _one(call, f"arn:{call.partition}:route53:::hostedzone/{zone_id}")


def _sts_assume_role(call: Call, params: Mapping[str, Any], _lookups: Lookups) -> list[Check]:
    return _one(call, _param(params, "RoleArn"))


_EC2_ID_OPERATIONS = frozenset(
    {
        "RebootInstances",
        "StopInstances",
        "StartInstances",
        "TerminateInstances",
        "DeleteVolume",
        "DeleteSnapshot",
        "DeregisterImage",
        "DeleteNetworkInterface",
        "CreateTags",
        "DeleteTags",
        "CreateSnapshot",
        "DetachVolume",
        "AttachVolume",
        "ModifyInstanceAttribute",
    }
)


_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("dynamodb", "BatchGetItem"): _dynamodb_batch,
    ("dynamodb", "BatchWriteItem"): _dynamodb_batch,
    ("dynamodb", "TransactWriteItems"): _dynamodb_transact,
    ("dynamodb", "TransactGetItems"): _dynamodb_transact,
    ("dynamodb", "ListTables"): _star,
    ("ssm", "SendCommand"): _ssm_send_command,
    ("sts", "AssumeRole"): _sts_assume_role,
    ("cloudwatch", "PutMetricData"): _star,
    ("cloudwatch", "GetMetricData"): _star,
    ("cloudwatch", "GetMetricStatistics"): _star,
    ("cloudwatch", "ListMetrics"): _star,
    ("sns", "ListTopics"): _star,
    ("sqs", "ListQueues"): _star,
    ("states", "ListStateMachines"): _star,
    ("logs", "DescribeLogGroups"): _star,
}

_SERVICE_DEFAULTS: dict[str, Resolver] = {
    "dynamodb": _dynamodb_table,
    "sns": _sns_topic,
    "sqs": _sqs_queue,
    "states": _states,
    "lambda": _lambda_function,
    "kms": _kms_key,
    "logs": _log_stream,
    "cloudwatch": _cloudwatch_alarms,
    "ec2": lambda call, params, lookups: (
        _ec2_ids(call, params, lookups)
        if call.operation in _EC2_ID_OPERATIONS
        else _ec2_default(call, params, lookups)
    ),
    "autoscaling": _autoscaling_default,
    "elasticloadbalancing": _elb,
    "ssm": _ssm_default,
    "route53": _route53_zone,
    "xray": _star,
}


def s3_checks(call: Call, resource: str, lookups: Lookups) -> list[Check]:
    """S3 requests: moto already names the IAM action and the bucket/object ARN."""
    checks = [Check(action_of(call), resource)]
    return [*checks, *(i for c in checks for i in _implied(call, c, lookups))]


# ---- checks AWS makes on the caller's behalf -----------------------------------------------------


def _kms_checks(
    call: Call, key_arn: str | None, actions: Sequence[str], via: str, implied_by: str
) -> list[Check]:
    if not key_arn or ":alias/aws/" in key_arn:
        return []  # AWS managed keys: the service's own grant covers the caller
    context = {"kms:ViaService": f"{via}.{call.region}.amazonaws.com"}
    return [Check(a, key_arn, context, implied_by) for a in actions]


def _implied(call: Call, check: Check, lookups: Lookups) -> list[Check]:
    action, arn = check.action, check.resource
    if arn is None or arn == "*" or check.implied_by:
        return []
    if action == "sns:Publish":
        return _kms_checks(
            call, lookups.topic_kms_key(arn), ("kms:GenerateDataKey", "kms:Decrypt"), "sns", action
        )
    if action == "sqs:SendMessage":
        return _kms_checks(
            call, lookups.queue_kms_key(arn), ("kms:GenerateDataKey", "kms:Decrypt"), "sqs", action
        )
    if action == "sqs:ReceiveMessage":
        return _kms_checks(call, lookups.queue_kms_key(arn), ("kms:Decrypt",), "sqs", action)
    if action.startswith("s3:") and arn.startswith("arn:") and "/" in arn.split(":::", 1)[-1]:
        bucket, _, key = arn.split(":::", 1)[-1].partition("/")
        if action == "s3:PutObject":
            return _kms_checks(
                call, lookups.bucket_kms_key(bucket), ("kms:GenerateDataKey",), "s3", action
            )
        if action in {"s3:GetObject", "s3:GetObjectVersion"}:
            return _kms_checks(
                call, lookups.object_kms_key(bucket, key), ("kms:Decrypt",), "s3", action
            )
    return []
