"""Notifications on the fleet-ops SNS topic, as JSON a person and a program can both read.

One envelope for every function, so subscribers (email, chat bots, ticketing) parse one shape:

    {
      "schema": "fleetops.notification/v1",
      "kind": "drift.az_imbalance",            # machine-readable, dotted
      "severity": "warning",
      "title": "...", "summary": "...",         # for people
      "source": "fleet-sync", "environment": "prod",
      "occurred_at": "2024-05-01T12:00:00Z",
      "details": {...}                          # kind-specific, stable field names
    }

`kind`, `severity`, `environment` and `source` are also SNS message attributes so
subscriptions can filter without parsing the body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetops.core.aws import Guard, RetrySettings
from fleetops.core.clock import Clock, iso_utc, system_clock

if TYPE_CHECKING:
    from fleetops.core.aws import AwsClients
    from fleetops.core.config import BaseConfig

SCHEMA = "fleetops.notification/v1"
_SUBJECT_LIMIT = 100


@dataclass(frozen=True)
class Notification:
    """What to tell; the envelope fields are added by `Notifier`."""

    kind: str
    title: str
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    severity: str = "warning"


def topic_region(topic_arn: str) -> str:
    """The region an SNS topic lives in (SNS must be called in the topic's own region)."""
    parts = topic_arn.split(":")
    if len(parts) < 6 or parts[2] != "sns":
        raise ValueError(f"not an SNS topic ARN: {topic_arn!r}")
    return parts[3]


def _subject(text: str) -> str:
    # SNS subjects: ASCII, no line breaks, at most 100 characters.
    clean = " ".join(text.encode("ascii", "replace").decode("ascii").split())
    return clean if len(clean) <= _SUBJECT_LIMIT else clean[: _SUBJECT_LIMIT - 3] + "..."


class Notifier:
    """Publishes `Notification`s to one topic."""

    def __init__(
        self,
        client: Any,
        topic_arn: str,
        *,
        source: str,
        environment: str,
        guard: Guard | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.source = source
        self.environment = environment
        self.guard = guard or Guard(RetrySettings())
        self.clock = clock

    @classmethod
    def from_clients(
        cls, clients: AwsClients, config: BaseConfig, *, source: str, clock: Clock = system_clock
    ) -> Notifier:
        """The configured topic, called in its own region behind the `sns:<region>` breaker."""
        region = topic_region(config.sns_topic)
        return cls(
            clients.lazy_client("sns", region),  # most runs publish nothing
            config.sns_topic,
            source=source,
            environment=config.environment,
            guard=clients.guard("sns", region),
            clock=clock,
        )

    def render(self, notification: Notification) -> dict[str, Any]:
        """The JSON body, as a dict."""
        return {
            "schema": SCHEMA,
            "kind": notification.kind,
            "severity": notification.severity,
            "title": notification.title,
            "summary": notification.summary,
            "source": self.source,
            "environment": self.environment,
            "occurred_at": iso_utc(self.clock()),
            "details": dict(notification.details),
        }

    def publish(self, notification: Notification) -> str:
        """Send it; returns the SNS message id."""
        body = self.render(notification)
        attributes = {
            name: {"DataType": "String", "StringValue": str(body[name])}
            for name in ("kind", "severity", "environment", "source")
        }
        response = self.guard.call(
            self.client.publish,
            TopicArn=self.topic_arn,
            Subject=_subject(f"[{self.environment}] {notification.title}"),
            Message=json.dumps(body, sort_keys=True, default=str),
            MessageAttributes=attributes,
        )
        return str(response.get("MessageId", ""))
