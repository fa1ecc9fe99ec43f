"""How an execution ends: a readable cause, a notification for the native SNS task, a record
for the native DynamoDB task.

The finishing task of each workflow turns what the execution accumulated (the `failure` a Catch
stored, rollback notes...) into an `Outcome`. The state machine then publishes
`notification` as is (SNS Publish), writes `record` (PutItem, DynamoDB JSON), and ends in
Succeed or in a Fail whose Error / Cause are `error` / `cause`: one sentence a person can act on,
not a stack trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetops.core.clock import iso_utc
from fleetops.core.notify import Notification, Notifier
from fleetops.core.registry.table import serialize_item
from fleetops.workflows.deps import TaskDeps

Status = Literal["succeeded", "failed", "refused"]

_SERVICE_DETAILS = re.compile(r"\s*\((Service|Status Code): [^)]*\)\s*$")
_SUBJECT_LIMIT = 100
_CAUSE_LIMIT = 32768
"""Step Functions' limit on a Fail state's Cause."""


def failure_text(failure: Mapping[str, Any] | None) -> tuple[str, str]:
    """(error name, readable message) of a Catch result `{"Error": ..., "Cause": ...}`.

    A Lambda task's Cause is its error JSON (`errorMessage` is the sentence we raised); a native
    integration's Cause is text with a `(Service: ..., Status Code: ...)` tail we drop.
    """
    if not failure:
        return "Unknown", "no error details were recorded"
    error = str(failure.get("Error") or "Unknown")
    cause = failure.get("Cause")
    message = ""
    if isinstance(cause, str) and cause.strip():
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping) and parsed.get("errorMessage"):
            message = str(parsed["errorMessage"])
        else:
            message = _SERVICE_DETAILS.sub("", cause.strip())
    return error, message or error


def subject(text: str) -> str:
    """An SNS subject: ASCII, one line, at most 100 characters."""
    clean = " ".join(text.encode("ascii", "replace").decode("ascii").split())
    return clean if len(clean) <= _SUBJECT_LIMIT else clean[: _SUBJECT_LIMIT - 3] + "..."


@dataclass
class Outcome:
    workflow: str
    status: Status
    error: str
    cause: str
    kind: str
    title: str
    severity: str = "info"
    details: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] | None = None

    def render(self, deps: TaskDeps) -> dict[str, Any]:
        notifier = Notifier(
            None,
            deps.config.sns_topic,
            source=f"workflow-{self.workflow}",
            environment=deps.config.environment,
            clock=deps.clock,
        )
        notification = Notification(
            kind=self.kind,
            title=self.title,
            summary=self.cause,
            details=self.details,
            severity=self.severity,
        )
        body = notifier.render(notification)
        result: dict[str, Any] = {
            "status": self.status,
            "error": self.error or "",
            "cause": self.cause[:_CAUSE_LIMIT],
            "notification": {
                "subject": subject(f"[{deps.config.environment}] {self.title}"),
                "message": json.dumps(body, sort_keys=True, default=str),
                "kind": body["kind"],
                "severity": body["severity"],
                "environment": body["environment"],
                "source": body["source"],
            },
        }
        if self.record is not None:
            result["record"] = serialize_item(
                {key: value for key, value in self.record.items() if value is not None}
            )
        return result


def record_times(deps: TaskDeps) -> dict[str, Any]:
    now = deps.clock()
    return {
        "finished_at": iso_utc(now),
        "expires_at": int(now) + deps.config.record_ttl_seconds,
    }
