from __future__ import annotations

import pytest

from fleetops.core.aws import AwsClients
from fleetops.core.config import BaseConfig
from fleetops.core.notify import SCHEMA, Notification, Notifier, topic_region
from fleetops_tests.support.aws_fleet import SnsInbox


def test_notifications_are_json_with_a_readable_subject_and_filterable_attributes(
    topic: str, inbox: SnsInbox, clients: AwsClients
) -> None:
    notifier = Notifier(
        clients.client("sns", "us-east-1"),
        topic,
        source="fleet-sync",
        environment="dev",
        clock=lambda: 1_700_000_000,
    )
    message_id = notifier.publish(
        Notification(
            kind="drift.az_imbalance",
            title="fleet web: AZ imbalance in us-east-1 (us-east-1/web-1)",
            summary="ASG web-1 is unbalanced",
            details={"spread": 3},
        )
    )
    assert message_id
    [received] = inbox.receive()
    assert received["Subject"] == "[dev] fleet web: AZ imbalance in us-east-1 (us-east-1/web-1)"
    assert received["MessageAttributes"]["kind"]["Value"] == "drift.az_imbalance"
    assert received["MessageAttributes"]["environment"]["Value"] == "dev"
    assert received["body"] == {
        "schema": SCHEMA,
        "kind": "drift.az_imbalance",
        "severity": "warning",
        "title": "fleet web: AZ imbalance in us-east-1 (us-east-1/web-1)",
        "summary": "ASG web-1 is unbalanced",
        "source": "fleet-sync",
        "environment": "dev",
        "occurred_at": "2023-11-14T22:13:20Z",
        "details": {"spread": 3},
    }


def test_subjects_are_kept_within_sns_limits(
    topic: str, inbox: SnsInbox, clients: AwsClients
) -> None:
    notifier = Notifier(clients.client("sns", "us-east-1"), topic, source="t", environment="dev")
    notifier.publish(Notification(kind="k", title="é\n" + "x" * 200, summary="s"))
    [received] = inbox.receive()
    assert len(received["Subject"]) == 100
    assert received["Subject"].isascii()
    assert "\n" not in received["Subject"]


def test_the_configured_notifier_calls_sns_in_the_topics_region(
    topic: str, inbox: SnsInbox, clients: AwsClients
) -> None:
    notifier = Notifier.from_clients(clients, BaseConfig.from_env(), source="fleet-sync")
    assert notifier.topic_arn == topic
    notifier.publish(Notification(kind="k", title="t", summary="s"))
    assert len(inbox.receive()) == 1
    assert topic_region("arn:aws:sns:eu-west-1:123456789012:x") == "eu-west-1"
    with pytest.raises(ValueError, match="not an SNS topic ARN"):
        topic_region("arn:aws:sqs:eu-west-1:123456789012:x")
