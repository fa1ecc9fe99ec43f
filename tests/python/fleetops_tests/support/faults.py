"""Fault injection through botocore's event system: the real boto3 path, an injected answer.

A `before-call.<service>.<Operation>` handler that returns `(http_response, parsed)` replaces
the request with that answer; botocore then raises or returns exactly as for a real response
(ClientError with the code, or a parsed result such as `UnprocessedItems`). Service names are
botocore service ids: `dynamodb`, `ec2`, `auto-scaling`, `sns`.

    throttle = fail_first(clients, "dynamodb", "UpdateItem", times=2)
    ... run ...
    assert throttle.injected == 2
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse


def register(target: Any, event_name: str, handler: Callable[..., Any]) -> None:
    """Register on an `AwsClients` (every client, present and future) or one botocore client."""
    if hasattr(target, "meta"):
        target.meta.events.register(event_name, handler)
    else:
        target.register(event_name, handler)


def error_response(
    code: str, message: str, status: int, **fields: Any
) -> tuple[AWSResponse, dict[str, Any]]:
    """An error answer; `fields` are the error's modeled members (e.g. `CancellationReasons`)."""
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected-fault"},
        **fields,
    }
    return AWSResponse("https://injected.invalid", status, {}, None), parsed


def ok_response(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {**parsed, "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "injected-fault"}}
    return AWSResponse("https://injected.invalid", 200, {}, None), parsed


class _FirstN:
    """Base: acts on the first `times` calls (all calls when `times` is None); thread-safe."""

    def __init__(self, times: int | None) -> None:
        self.times = times
        self.injected = 0
        self.calls = 0
        self._lock = threading.Lock()

    def _take(self) -> bool:
        with self._lock:
            self.calls += 1
            if self.times is not None and self.injected >= self.times:
                return False
            self.injected += 1
            return True


class FailFirst(_FirstN):
    def __init__(self, times: int | None, code: str, status: int, message: str) -> None:
        super().__init__(times)
        self.code = code
        self.status = status
        self.message = message

    def __call__(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        return error_response(self.code, self.message, self.status) if self._take() else None


def fail_first(
    target: Any,
    service: str,
    operation: str,
    *,
    times: int | None,
    code: str = "ThrottlingException",
    status: int = 400,
    message: str = "Rate exceeded (injected)",
) -> FailFirst:
    """The first `times` calls of `operation` fail with `code` (None: every call fails)."""
    handler = FailFirst(times, code, status, message)
    register(target, f"before-call.{service}.{operation}", handler)
    return handler


class UnprocessedFirst(_FirstN):
    def __call__(
        self, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self._take():
            return None
        request_items = json.loads(params["body"])["RequestItems"]
        return ok_response({"UnprocessedItems": request_items})


def unprocessed_first(target: Any, *, times: int | None) -> UnprocessedFirst:
    """The first `times` BatchWriteItem calls process nothing and hand every item back."""
    handler = UnprocessedFirst(times)
    register(target, "before-call.dynamodb.BatchWriteItem", handler)
    return handler


class CancelFirst(_FirstN):
    def __init__(self, times: int | None, reason: str, position: int) -> None:
        super().__init__(times)
        self.reason = reason
        self.position = position

    def __call__(
        self, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self._take():
            return None
        actions = json.loads(params["body"])["TransactItems"]
        reasons: list[dict[str, Any]] = [{"Code": "None"} for _ in actions]
        reasons[min(self.position, len(actions) - 1)] = {
            "Code": self.reason,
            "Message": f"{self.reason} (injected)",
        }
        return error_response(
            "TransactionCanceledException",
            f"Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{', '.join(reason['Code'] for reason in reasons)}]",
            400,
            CancellationReasons=reasons,
        )


def cancel_first(
    target: Any, *, times: int | None, reason: str = "TransactionConflict", position: int = 0
) -> CancelFirst:
    """The first `times` TransactWriteItems are cancelled, `reason` given for one action.

    As DynamoDB does: the whole transaction is refused (nothing written) and every other action
    gets the reason `None`.
    """
    handler = CancelFirst(times, reason, position)
    register(target, "before-call.dynamodb.TransactWriteItems", handler)
    return handler


class BeforeFirst(_FirstN):
    def __init__(self, times: int | None, action: Callable[[], None]) -> None:
        super().__init__(times)
        self.action = action

    def __call__(self, **_: Any) -> None:
        if self._take():
            self.action()


def before_first(
    target: Any, service: str, operation: str, action: Callable[[], None], *, times: int | None = 1
) -> BeforeFirst:
    """Run `action` just before the first `times` calls of `operation` go out.

    The way to interleave another writer between a read and a write of the code under test.
    """
    handler = BeforeFirst(times, action)
    register(target, f"before-call.{service}.{operation}", handler)
    return handler


def closed_port_endpoint() -> str:
    """An http endpoint on loopback where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def mutate_response(
    target: Any, service: str, operation: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    """Let `mutate` edit every parsed response of `operation` in place, after the real call.

    For states a mock cannot reach on its own, e.g. an ASG whose instance is stuck `Pending`
    (moto always keeps in-service capacity at the desired value).
    """

    def handler(parsed: dict[str, Any], **_: Any) -> None:
        mutate(parsed)

    register(target, f"after-call.{service}.{operation}", handler)
