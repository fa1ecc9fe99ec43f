"""Event sources as wired: EventBridge schedules and CloudWatch alarm actions invoke functions.

moto stores rules, targets and alarms but never fires them. Here a schedule rule fires (on
request: `fire_rule`; nothing runs on a clock unless asked) and an alarm's state change runs its
actions, each the way AWS does it:

- a rule only fires when ENABLED; each target gets the scheduled event after its `Input`,
  `InputPath` or `InputTransformer` (EventBridge's semantics: an unquoted `<var>` inserts the
  value as JSON, so a string arrives quoted; inside a string literal it inserts the raw text);
- an alarm acts only on a real transition, with its actions enabled, using the actions of the new
  state; a Lambda action sends the documented alarm payload (`source: aws.cloudwatch`,
  `alarmData` with state, previous state and configuration);
- before invoking, the function's resource policy must allow the service principal
  (`events.amazonaws.com` / `lambda.alarms.cloudwatch.amazonaws.com`) for that rule or alarm
  (`AWS:SourceArn`, `AWS:SourceAccount`): a missing `aws_lambda_permission` fails here as in AWS.
  Both invoke asynchronously, through the local Lambda service's queue and retry policy.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fleetops.local_aws.iam_policy import Decision, Policy, Request, evaluate
from fleetops.local_aws.lambda_service import LambdaService

EVENTS_PRINCIPAL = "events.amazonaws.com"
ALARMS_PRINCIPAL = "lambda.alarms.cloudwatch.amazonaws.com"


# ---- input transformer ------------------------------------------------------------------------


def json_path(document: Any, path: str) -> tuple[bool, Any]:
    """EventBridge's JSONPath subset: `$`, dot notation (names with dashes), `[n]` indices."""
    if path == "$":
        return True, document
    if not path.startswith("$"):
        return False, None
    value = document
    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path[1:]):
        if name:
            if not isinstance(value, dict) or name not in value:
                return False, None
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return False, None
            value = value[int(index)]
    return True, value


def transform(template: str, paths: dict[str, str], event: dict[str, Any], rule_arn: str) -> Any:
    """Apply an input transformer; returns the target's input (parsed JSON, or the text)."""
    variables: dict[str, Any] = {}
    for name, path in paths.items():
        found, value = json_path(event, path)
        if found:
            variables[name] = value
    variables.setdefault("aws.events.rule-arn", rule_arn)
    variables.setdefault("aws.events.rule-name", rule_arn.rsplit("/", 1)[-1])
    variables.setdefault("aws.events.event.json", event)
    variables.setdefault("aws.events.event", {k: v for k, v in event.items() if k != "detail"})
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(template):
        ch = template[i]
        match = re.match(r"<([A-Za-z0-9_.\-]+)>", template[i:])
        if match and match.group(1) in variables:
            value = variables[match.group(1)]
            if in_string:
                out.append(value if isinstance(value, str) else json.dumps(value))
            else:
                out.append(json.dumps(value))
            i += len(match.group(0))
            continue
        out.append(ch)
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        i += 1
    text = "".join(out)
    try:
        return json.loads(text)
    except ValueError:
        return text


def target_input(target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> Any:
    if target.get("Input"):
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return json_path(event, target["InputPath"])[1]
    transformer = target.get("InputTransformer")
    if transformer:
        return transform(
            transformer["InputTemplate"], transformer.get("InputPathsMap") or {}, event, rule_arn
        )
    return event


# ---- resource policy of the target function ----------------------------------------------------


def permits(fn: Any, principal: str, source_arn: str, account: str) -> bool:
    """Whether the function's resource policy lets `principal` invoke it for `source_arn`."""
    statements = [
        s for s in fn.policy.statements if principal in _principal_services(s.get("Principal"))
    ]
    if not statements:
        return False
    policy = Policy.parse("resource-policy", {"Version": "2012-10-17", "Statement": statements})
    request = Request(
        "lambda:InvokeFunction",
        fn.function_arn,
        {"aws:SourceArn": source_arn, "aws:SourceAccount": account},
    )
    return evaluate([policy], request).decision is Decision.ALLOW


def _principal_services(principal: Any) -> list[str]:
    if isinstance(principal, dict):
        services = principal.get("Service", [])
        return services if isinstance(services, list) else [services]
    return [principal] if isinstance(principal, str) else []


# ---- schedules -------------------------------------------------------------------------------


class EventDelivery:
    def __init__(self, lambdas: LambdaService) -> None:
        self.lambdas = lambdas

    def fire_rule(
        self, account: str, region: str, rule_name: str, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Fire a schedule rule once, as EventBridge does at its scheduled time."""
        from moto.events.models import events_backends

        backend = events_backends[account][region]
        rule = backend.describe_rule(rule_name, None)
        if rule.state != "ENABLED":
            return [{"rule": rule_name, "delivered": False, "reason": f"rule is {rule.state}"}]
        when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": when,
            "region": region,
            "resources": [rule.arn],
            "detail": {},
        }
        return [self._deliver(account, target, event, rule.arn) for target in rule.targets]

    def _deliver(
        self, account: str, target: dict[str, Any], event: dict[str, Any], rule_arn: str
    ) -> dict[str, Any]:
        arn = target["Arn"]
        result: dict[str, Any] = {"target": target.get("Id"), "arn": arn, "delivered": False}
        if ":lambda:" not in arn:
            result["reason"] = "only Lambda targets are emulated"
            return result
        payload = target_input(target, event, rule_arn)
        result["input"] = payload
        parts = arn.split(":")
        try:
            fn = LambdaService.function(parts[4], parts[3], parts[6])
        except Exception:
            result["reason"] = "target function does not exist"
            return result
        if not permits(fn, EVENTS_PRINCIPAL, rule_arn, account):
            result["reason"] = (
                f"the resource policy of {fn.function_name} does not allow {EVENTS_PRINCIPAL} "
                f"for {rule_arn}"
            )
            return result
        result["request_id"] = self.lambdas.enqueue(fn, payload, f"events:{rule_arn}")
        result["delivered"] = True
        return result

    # ---- alarms ----

    def alarm_transition(self, alarm: Any, previous: dict[str, Any]) -> list[dict[str, Any]]:
        """Run the actions of `alarm`'s new state (called after moto's SetAlarmState)."""
        if previous["value"] == alarm.state_value or not alarm.actions_enabled:
            return []
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }[alarm.state_value]
        account = alarm.alarm_arn.split(":")[4]
        payload = alarm_payload(alarm, previous, account)
        results = []
        for arn in actions or []:
            result: dict[str, Any] = {"alarm": alarm.name, "arn": arn, "delivered": False}
            if ":lambda:" in arn:
                parts = arn.split(":")
                try:
                    fn = LambdaService.function(parts[4], parts[3], parts[6])
                except Exception:
                    result["reason"] = "action function does not exist"
                    results.append(result)
                    continue
                if not permits(fn, ALARMS_PRINCIPAL, alarm.alarm_arn, account):
                    result["reason"] = (
                        f"the resource policy of {fn.function_name} does not allow "
                        f"{ALARMS_PRINCIPAL} for {alarm.alarm_arn}"
                    )
                else:
                    result["request_id"] = self.lambdas.enqueue(
                        fn, payload, f"cloudwatch:{alarm.alarm_arn}"
                    )
                    result["delivered"] = True
            elif ":sns:" in arn:
                result.update(_publish_alarm(arn, alarm, payload))
            else:
                result["reason"] = "only Lambda and SNS alarm actions are emulated"
            results.append(result)
        return results


def _stamp(value: datetime | None) -> str:
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def alarm_payload(alarm: Any, previous: dict[str, Any], account: str) -> dict[str, Any]:
    """The event CloudWatch sends a Lambda alarm action (CloudWatch user guide, "Lambda alarm
    actions"): what `src/go/scaling/internal/alarm` decodes."""
    metrics: list[dict[str, Any]] = []
    if alarm.metric_name:
        stat: dict[str, Any] = {
            "metric": {
                "namespace": alarm.namespace,
                "name": alarm.metric_name,
                "dimensions": {d.name: d.value for d in alarm.dimensions},
            },
            "period": alarm.period,
            "stat": alarm.statistic or alarm.extended_statistic,
        }
        if alarm.unit:
            stat["unit"] = alarm.unit
        metrics.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
                "metricStat": stat,
                "returnData": True,
            }
        )
    for query in alarm.metric_data_queries:
        metrics.append(
            {
                "id": query.id,
                "expression": getattr(query, "expression", None),
                "returnData": bool(query.return_data),
            }
        )
    state = previous_state(alarm)  # the state it is in now, in the payload's shape
    return {
        "source": "aws.cloudwatch",
        "alarmArn": alarm.alarm_arn,
        "accountId": account,
        "time": state["timestamp"],
        "region": alarm.region_name,
        "alarmData": {
            "alarmName": alarm.name,
            "state": state,
            "previousState": previous,
            "configuration": {"description": alarm.description or "", "metrics": metrics},
        },
    }


def _publish_alarm(topic_arn: str, alarm: Any, payload: dict[str, Any]) -> dict[str, Any]:
    from moto.sns.models import sns_backends

    parts = topic_arn.split(":")
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": parts[4],
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": payload["time"],
        "Region": alarm.region_name,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": payload["alarmData"]["previousState"]["value"],
    }
    try:
        sns_backends[parts[4]][parts[3]].publish(
            message=json.dumps(message), arn=topic_arn, subject=f'ALARM: "{alarm.name}"'
        )
    except Exception as exc:  # an unknown topic: CloudWatch records a failed action
        return {"delivered": False, "reason": f"publish failed: {exc}"}
    return {"delivered": True}


def previous_state(alarm: Any) -> dict[str, Any]:
    """The alarm's current state in the payload's shape (taken before a transition, it is the
    `previousState` of the next payload)."""
    state = {
        "value": alarm.state_value,
        "reason": alarm.state_reason,
        "timestamp": _stamp(alarm.state_updated_timestamp),
    }
    if alarm.state_reason_data and alarm.state_reason_data != "{}":
        state["reasonData"] = alarm.state_reason_data
    return state
