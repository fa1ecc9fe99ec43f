"""Retry policy, error classification and bucket/region resolution."""

from __future__ import annotations

import pytest
import tenacity
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from fleetops.fleetctl.errors import ConfigError
from fleetops.fleetctl.s3 import (
    RetryPolicy,
    bucket_env_var,
    caller_identity,
    is_transient,
    resolve_bucket,
    resolve_region,
)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("SlowDown", 503), True),
        (client_error("InternalError", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("RequestTimeout", 400), True),
        (client_error("Weird", 502), True),
        (client_error("AccessDenied", 403), False),
        (client_error("NoSuchKey", 404), False),
        (client_error("BadDigest", 400), False),
        (EndpointConnectionError(endpoint_url="https://s3.example"), True),
        (ReadTimeoutError(endpoint_url="https://s3.example"), True),
        (ValueError("bug"), False),
    ],
)
def test_only_throttling_5xx_and_network_errors_are_retried(
    exc: BaseException, transient: bool
) -> None:
    assert is_transient(exc) is transient


def test_retry_policy_backoff_and_attempts() -> None:
    default = RetryPolicy().retrying()
    assert isinstance(default.wait, tenacity.wait_random_exponential)  # exponential + full jitter
    assert isinstance(RetryPolicy(base_delay=0).retrying().wait, tenacity.wait_none)

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("SlowDown", 503)
        return "done"

    assert RetryPolicy(max_attempts=3, base_delay=0).call(flaky) == "done"
    assert len(calls) == 3

    def denied() -> None:
        calls.append(1)
        raise client_error("AccessDenied", 403)

    calls.clear()
    with pytest.raises(ClientError):
        RetryPolicy(max_attempts=5, base_delay=0).call(denied)
    assert len(calls) == 1


def test_retry_policy_from_env() -> None:
    policy = RetryPolicy.from_env(
        {
            "FLEETCTL_RETRY_ATTEMPTS": "2",
            "FLEETCTL_RETRY_BASE_DELAY": "0",
            "FLEETCTL_RETRY_MAX_DELAY": "1",
        }
    )
    assert policy == RetryPolicy(max_attempts=2, base_delay=0, max_delay=1)
    assert RetryPolicy.from_env({}) == RetryPolicy()
    with pytest.raises(ConfigError, match="FLEETCTL_RETRY"):
        RetryPolicy.from_env({"FLEETCTL_RETRY_ATTEMPTS": "many"})
    with pytest.raises(ConfigError):
        RetryPolicy.from_env({"FLEETCTL_RETRY_ATTEMPTS": "0"})


def test_bucket_and_region_resolution() -> None:
    assert bucket_env_var("dev") == "FLEETOPS_ARTIFACT_BUCKET_DEV"
    assert bucket_env_var("eu-prod") == "FLEETOPS_ARTIFACT_BUCKET_EU_PROD"
    env = {"FLEETOPS_ARTIFACT_BUCKET_STAGING": "b-staging"}
    assert resolve_bucket("staging", None, env) == "b-staging"
    assert resolve_bucket("staging", "explicit", env) == "explicit"
    with pytest.raises(ConfigError, match="FLEETOPS_ARTIFACT_BUCKET_PROD"):
        resolve_bucket("prod", None, env)
    assert (
        resolve_region(None, {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "x"}) == "eu-west-1"
    )
    assert resolve_region(None, {"AWS_DEFAULT_REGION": "us-east-2"}) == "us-east-2"
    assert resolve_region("ap-south-1", {"AWS_REGION": "eu-west-1"}) == "ap-south-1"
    assert resolve_region(None, {}) is None


def test_caller_identity_falls_back_to_ci_actor_then_user() -> None:
    assert (
        caller_identity(None, {"GITHUB_ACTOR": "octocat", "USER": "me"}) == "github_actor:octocat"
    )
    assert caller_identity(None, {"USER": "me"}) == "user:me"
    assert caller_identity(None, {}) == "unknown"
