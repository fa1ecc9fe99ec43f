"""Run the real state machine definitions on moto's Step Functions engine.

- `LambdaRouter`: moto's Lambda (`use_docker: False`) would echo payloads; this patches its
  invoke so that invoking a function ARN runs a Python callable in-process (the real
  `fleetops.workflows.handler.handler` for the workflow-tasks function) and returns its JSON
  result, or a Lambda-style error payload (`errorType` = exception class name,
  `FunctionError: Unhandled`) when it raises, exactly what Step Functions' Catch/Retry match.
  Hooks let a test act between tasks (e.g. another workflow grabbing the lock).
- `Workflows`: creates the three state machines from `definitions.render` (placeholders
  substituted as Terraform does) and runs executions to completion.

Generic enough for `fleetops_tests.support`; kept here until the support package settles.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
from moto.core.config import DefaultConfig

from fleetops.workflows import definitions
from fleetops_tests.support.env import ACCOUNT_ID as ACCOUNT
from fleetops_tests.support.env import HOME_REGION as HOME
from fleetops_tests.support.env import TABLE_NAME as TABLE
from fleetops_tests.support.env import topic_arn
from fleetops_tests.support.lambda_context import LambdaContextStub

OTHER = "us-west-2"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/fleetops-test-sfn"
WORKFLOW_TASKS_ARN = f"arn:aws:lambda:{HOME}:{ACCOUNT}:function:fleetops-test-workflow-tasks"
RESTORE_ARN = f"arn:aws:lambda:{HOME}:{ACCOUNT}:function:fleetops-test-restore"
TOPIC_ARN = topic_arn()
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


def state_machine_arn(name: str) -> str:
    return f"arn:aws:states:{HOME}:{ACCOUNT}:stateMachine:fleetops-test-{name}"


TEMPLATE_VALUES = {
    "workflow_tasks_function_arn": WORKFLOW_TASKS_ARN,
    "restore_function_arn": RESTORE_ARN,
    "registry_table_name": TABLE,
    "registry_table_arn": f"arn:aws:dynamodb:{HOME}:{ACCOUNT}:table/{TABLE}",
    "notification_topic_arn": TOPIC_ARN,
    "recovery_state_machine_arn": state_machine_arn("recovery"),
}


Handler = Callable[[Any, Any], Any]
Hook = Callable[[dict[str, Any], Any], None]


@dataclass
class Invocation:
    function: str
    event: Any
    result: Any = None
    error: dict[str, Any] | None = None


class LambdaRouter:
    """Function ARN (or name) -> in-process handler, behind moto's Lambda invoke."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.invocations: list[Invocation] = []
        self.after: dict[str, list[Hook]] = {}
        self.before: dict[str, list[Callable[[dict[str, Any]], None]]] = {}

    def route(self, function_arn: str, handler: Handler) -> None:
        self.handlers[function_arn] = handler
        self.handlers[function_arn.rsplit(":", 1)[-1]] = handler

    def after_task(self, task: str, hook: Hook) -> None:
        """Run `hook(event, result)` after a successful workflow task named `task`."""
        self.after.setdefault(task, []).append(hook)

    def before_task(self, task: str, hook: Callable[[dict[str, Any]], None]) -> None:
        """Run `hook(event)` before the workflow task `task`; what it raises is the task's error."""
        self.before.setdefault(task, []).append(hook)

    def tasks(self, function_arn: str = WORKFLOW_TASKS_ARN) -> list[str]:
        return [
            str(inv.event.get("task"))
            for inv in self.invocations
            if inv.function == function_arn and isinstance(inv.event, dict)
        ]

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        handler = self.handlers.get(function_name)
        event = json.loads(body) if body else {}
        invocation = Invocation(function_name, event)
        self.invocations.append(invocation)
        if handler is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            invocation.error = {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"no test handler routed for {function_name}",
            }
            return json.dumps(invocation.error).encode()
        context = LambdaContextStub(
            function_name=function_name.rsplit(":", 1)[-1], invoked_function_arn=function_name
        )
        try:
            if isinstance(event, dict):
                for before in self.before.get(str(event.get("task")), ()):
                    before(event)
            result = handler(event, context)
            payload = json.dumps(result)
        except Exception as exc:  # the Lambda runtime reports any exception this way
            response_headers["x-amz-function-error"] = "Unhandled"
            invocation.error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": [],
            }
            return json.dumps(invocation.error).encode()
        invocation.result = result
        if isinstance(event, dict):
            for hook in self.after.get(str(event.get("task")), ()):
                hook(event, result)
        return payload.encode()

    @contextmanager
    def patched(self) -> Iterator[LambdaRouter]:
        router = self

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            return router.invoke(function_name, body, response_headers)

        with (
            mock.patch("moto.awslambda_simple.models.LambdaSimpleBackend.invoke", invoke),
            mock.patch("moto.awslambda.models.LambdaBackend.invoke", invoke),
        ):
            yield self


@dataclass
class Execution:
    arn: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]

    def states_entered(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if "stateEnteredEventDetails" in event
        ]

    def describe(self) -> str:
        lines = [f"{self.arn}: {self.status} {self.error or ''} {self.cause or ''}"]
        for event in self.history:
            details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
            lines.append(f"  {event['type']}: {json.dumps(details, default=str)[:400]}")
        return "\n".join(lines)


class Workflows:
    """The three state machines, created from the rendered definitions."""

    def __init__(self) -> None:
        self.sfn = boto3.client("stepfunctions", region_name=HOME)
        self._arns: dict[str, str] = {}

    def arn(self, name: str) -> str:
        """The state machine of workflow `name`, created on first use."""
        if name not in self._arns:
            response = self.sfn.create_state_machine(
                name=f"fleetops-test-{name}",
                definition=definitions.render(name, **TEMPLATE_VALUES),
                roleArn=ROLE_ARN,
            )
            self._arns[name] = response["stateMachineArn"]
        return self._arns[name]

    def start(
        self, name: str, execution_input: dict[str, Any], execution_name: str | None = None
    ) -> str:
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.arn(name),
                name=execution_name or f"{name}-{uuid.uuid4().hex[:12]}",
                input=json.dumps(execution_input),
            )["executionArn"]
        )

    def wait(self, arn: str, timeout: float = 120.0) -> Execution:
        return wait_for_execution(self.sfn, arn, timeout)

    def run(
        self,
        name: str,
        execution_input: dict[str, Any],
        execution_name: str | None = None,
        timeout: float = 120.0,
    ) -> Execution:
        return self.wait(self.start(name, execution_input, execution_name), timeout)


def wait_for_execution(sfn: Any, arn: str, timeout: float = 120.0) -> Execution:
    """Poll an execution until it ends; its status, output and whole history."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {arn} still running after {timeout}s")
        time.sleep(0.05)
    history: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        history.extend(page["events"])
    output = described.get("output")
    return Execution(
        arn=arn,
        status=described["status"],
        input=json.loads(described["input"]),
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        history=history,
    )
