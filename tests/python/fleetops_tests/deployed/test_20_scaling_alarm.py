"""The scaling alarm Terraform created invokes the deployed Go `bootstrap` with CloudWatch's
alarm payload; the function scales the group once, under its own role."""

from __future__ import annotations

import json

from fleetops.core.registry import serialize_item
from fleetops_tests.deployed.harness import SCALED_ASG, Deployed

ALARM = "fleetops-dev-scaling-web-cpu-high"


def seed_policy(deployed: Deployed) -> None:
    """The alarm's scaling policy, as an operator writes it (pk ALARM#<name>, sk POLICY)."""
    deployed.client("dynamodb").put_item(
        TableName=deployed.stack.table,
        Item=serialize_item(
            {
                "pk": f"ALARM#{ALARM}",
                "sk": "POLICY",
                "entity": "scaling_policy",
                "fleet": "web",
                "region": deployed.home,
                "asg_name": SCALED_ASG,
                "on_alarm": {"direction": "up", "step_adjustments": [{"adjustment": 1}]},
                "cooldown_seconds": 60,
                "max_step": 2,
            }
        ),
    )


def desired(deployed: Deployed) -> int:
    group = deployed.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[SCALED_ASG]
    )["AutoScalingGroups"][0]
    return int(group["DesiredCapacity"])


def set_state(deployed: Deployed, state: str) -> None:
    deployed.client("cloudwatch").set_alarm_state(
        AlarmName=ALARM,
        StateValue=state,
        StateReason="Threshold Crossed: 2 out of the last 2 datapoints [93.4, 88.1] were greater than the threshold (70.0).",
        StateReasonData=json.dumps(
            {
                "version": "1.0",
                "statistic": "Average",
                "period": 60,
                "recentDatapoints": [93.4, 88.1],
                "threshold": 70.0,
            }
        ),
    )


def test_alarm_scales_out_once_and_a_redelivery_does_not_scale_again(deployed: Deployed) -> None:
    (sync,) = deployed.fire(f"fleetops-dev-fleet-sync-{deployed.home}-schedule")
    assert sync["status"] == "success", sync
    seed_policy(deployed)
    before = desired(deployed)
    audit_since, journal_since = deployed.audit_seq(), deployed.journal_seq()

    set_state(deployed, "ALARM")
    set_state(deployed, "ALARM")  # no transition: CloudWatch runs no action
    deployed.local.wait_for_lambdas(120)

    actions = [a for a in deployed.local.alarm_actions() if a["alarm"] == ALARM]
    assert len(actions) == 1 and actions[0]["delivered"], actions
    runs = [
        e
        for e in deployed.local.invocations(journal_since)
        if e["function_name"] == deployed.function_name("scaling")
    ]
    assert [r["status"] for r in runs] == ["success"], runs
    (run,) = runs
    assert run["invocation_type"] == "Event" and run["source"].startswith("cloudwatch:")
    assert (
        run["event"]["source"] == "aws.cloudwatch"
        and run["event"]["alarmData"]["alarmName"] == ALARM
    )
    assert run["response"]["outcome"] == "applied", run["response"]
    assert desired(deployed) == before + 1

    # Lambda may deliver an asynchronous event twice: the same state change scales once.
    deployed.client("lambda").invoke(
        FunctionName=deployed.function_name("scaling"),
        InvocationType="Event",
        Payload=json.dumps(run["event"]).encode(),
    )
    deployed.local.wait_for_lambdas(120)
    again = [
        e
        for e in deployed.local.invocations(run["seq"])
        if e["function_name"] == deployed.function_name("scaling")
    ]
    assert [a["response"]["outcome"] for a in again] == ["duplicate"], again
    assert desired(deployed) == before + 1

    denied = [
        d for d in deployed.denials(audit_since) if d["role"] == deployed.role_name("scaling")
    ]
    assert denied == [], denied
