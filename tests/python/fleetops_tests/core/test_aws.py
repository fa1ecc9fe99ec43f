from __future__ import annotations

import threading
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from fleetops.core.aws import (
    AwsClients,
    Guard,
    RetrySettings,
    error_code,
    is_transient,
    retrying,
    text_timestamps_session,
)
from fleetops.core.breaker import BreakerSettings, CircuitBreakers
from fleetops.core.config import BaseConfig
from fleetops.core.errors import CircuitOpenError
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.env import base_env
from fleetops_tests.support.faults import closed_port_endpoint, fail_first
from fleetops_tests.support.moto_server import moto_server

REGION = "us-east-1"


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("ThrottlingException", 400), True),
        (client_error("ProvisionedThroughputExceededException", 400), True),
        (client_error("RequestLimitExceeded", 503), True),
        (client_error("InternalServerError", 500), True),
        (client_error("ValidationException", 400), False),
        (client_error("ConditionalCheckFailedException", 400), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_errors_are_throttling_5xx_and_connection_trouble(
    exc: BaseException, expected: bool
) -> None:
    assert is_transient(exc) is expected


def test_throttled_calls_are_retried_until_they_succeed(aws: None) -> None:
    clients = AwsClients(retry=RetrySettings(max_attempts=4, base_delay=0, max_delay=0))
    counter = RequestCounter().attach(clients)
    throttle = fail_first(
        clients, "ec2", "DescribeRegions", times=3, code="RequestLimitExceeded", status=503
    )
    response = clients.call("ec2", REGION, "describe_regions")
    assert response["Regions"]
    assert throttle.injected == 3
    assert counter.counts["ec2.DescribeRegions"] == 4


def test_exhausted_retries_raise_the_last_aws_error_itself(aws: None) -> None:
    clients = AwsClients(retry=RetrySettings(max_attempts=3, base_delay=0, max_delay=0))
    counter = RequestCounter().attach(clients)
    fail_first(clients, "dynamodb", "ListTables", times=None, code="ThrottlingException")
    with pytest.raises(ClientError) as caught:
        clients.call("dynamodb", REGION, "list_tables")
    assert error_code(caught.value) == "ThrottlingException"
    assert counter.counts["dynamodb.ListTables"] == 3


def test_caller_errors_are_not_retried(aws: None) -> None:
    clients = AwsClients(retry=RetrySettings(max_attempts=5, base_delay=0, max_delay=0))
    counter = RequestCounter().attach(clients)
    with pytest.raises(ClientError):
        clients.call("dynamodb", REGION, "describe_table", TableName="missing")
    assert counter.counts["dynamodb.DescribeTable"] == 1


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    sleeps: list[float] = []
    attempts = 0

    def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 6:
            raise client_error("ThrottlingException", 400)
        return "done"

    policy = retrying(
        RetrySettings(max_attempts=6, base_delay=1.0, max_delay=4.0), sleep=sleeps.append
    )
    assert policy(flaky) == "done"
    assert len(sleeps) == 5
    for attempt, slept in enumerate(sleeps, start=1):
        assert 0 <= slept <= min(4.0, 1.0 * 2**attempt)


def test_open_breaker_stops_retries_and_later_calls_without_sending_requests(aws: None) -> None:
    breakers = CircuitBreakers(BreakerSettings(failure_threshold=3, open_seconds=60))
    clients = AwsClients(
        retry=RetrySettings(max_attempts=10, base_delay=0, max_delay=0), breakers=breakers
    )
    counter = RequestCounter().attach(clients)
    fail_first(
        clients.client("sns", REGION),
        "sns",
        "ListTopics",
        times=None,
        code="InternalError",
        status=500,
    )
    with pytest.raises(CircuitOpenError):
        clients.call("sns", REGION, "list_topics")
    assert counter.counts["sns.ListTopics"] == 3  # threshold reached, remaining attempts refused
    with pytest.raises(CircuitOpenError):
        clients.call("sns", REGION, "list_topics")
    assert counter.counts["sns.ListTopics"] == 3
    assert breakers.states() == {"sns:us-east-1": "open"}
    clients.call("sns", "eu-west-1", "list_topics")  # other regions have their own breaker


def test_a_region_on_a_closed_port_fails_while_others_work(aws: None) -> None:
    clients = AwsClients(
        retry=RetrySettings(max_attempts=2, base_delay=0, max_delay=0),
        endpoint_overrides={"us-west-2": closed_port_endpoint()},
    )
    with pytest.raises(EndpointConnectionError):
        clients.call("ec2", "us-west-2", "describe_instances")
    assert clients.call("ec2", REGION, "describe_instances")["Reservations"] == []


def test_pages_follow_the_next_token_and_each_page_is_a_request(aws: None) -> None:
    network = aws_fleet.create_network(REGION)
    for _ in range(12):  # moto paginates DescribeInstances by reservation
        aws_fleet.launch_instances(REGION, network=network, az=network.azs[0], count=1, fleet="web")
    clients = AwsClients(retry=RetrySettings(max_attempts=1))
    counter = RequestCounter().attach(clients)
    pages = list(clients.pages("ec2", REGION, "describe_instances", MaxResults=5))
    assert [len(page["Reservations"]) for page in pages] == [5, 5, 2]
    assert counter.counts["ec2.DescribeInstances"] == 3


def test_text_timestamp_clients_keep_what_aws_sent_and_parse_everything_else(aws: None) -> None:
    network = aws_fleet.create_network(REGION)
    aws_fleet.launch_instances(REGION, network=network, az=network.azs[0], count=1, fleet="web")
    parsed = AwsClients().call("ec2", REGION, "describe_instances")
    text = AwsClients(session=text_timestamps_session()).call("ec2", REGION, "describe_instances")

    parsed_instance = parsed["Reservations"][0]["Instances"][0]
    text_instance = text["Reservations"][0]["Instances"][0]
    launch = text_instance["LaunchTime"]
    assert isinstance(launch, str)
    assert datetime.fromisoformat(launch.replace("Z", "+00:00")) == parsed_instance["LaunchTime"]
    assert text_instance.keys() == parsed_instance.keys()
    assert text_instance["State"] == parsed_instance["State"]  # other shapes parsed as usual
    assert text_instance["AmiLaunchIndex"] == parsed_instance["AmiLaunchIndex"] == 0


def test_handlers_reach_clients_created_before_and_after_registration(aws: None) -> None:
    clients = AwsClients()
    early = clients.client("sns", REGION)
    counter = RequestCounter().attach(clients)
    early.list_topics()
    clients.client("sqs", REGION).list_queues()
    assert counter.by_operation() == {"sns.ListTopics": 1, "sqs.ListQueues": 1}


def test_clients_are_cached_per_service_and_region_and_thread_safe() -> None:
    clients = AwsClients()
    seen: list[object] = []

    def grab() -> None:
        seen.append(clients.client("dynamodb", REGION))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1
    assert clients.client("dynamodb", "eu-west-1") is not seen[0]


def test_guard_without_breaker_only_retries() -> None:
    calls = 0

    def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise client_error("ThrottlingException", 400)
        return calls

    assert Guard(RetrySettings(max_attempts=2, base_delay=0, max_delay=0)).call(flaky) == 2


def test_aws_endpoint_url_points_every_client_at_a_moto_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with moto_server() as endpoint:
        config = BaseConfig.from_env(base_env(AWS_ENDPOINT_URL=endpoint))
        clients = AwsClients.from_config(config)
        assert clients.endpoint_for("eu-west-1") == endpoint
        clients.call("dynamodb", REGION, "list_tables")
        aws_fleet.create_registry_table(endpoint_url=endpoint)
        # Visible through the server, i.e. the clients really talk to it.
        assert clients.call("dynamodb", REGION, "list_tables")["TableNames"] == [
            aws_fleet.TABLE_NAME
        ]
        direct = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        assert direct.list_tables()["TableNames"] == [aws_fleet.TABLE_NAME]
