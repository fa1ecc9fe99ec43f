"""End to end: the built scaling `bootstrap` (lambdas/scaling.zip) as a Lambda runtime process.

The real binary polls a local Lambda Runtime API (`LocalRuntimeApi`) exactly as in AWS, and
reaches DynamoDB, Auto Scaling and SNS through AWS_ENDPOINT_URL on a moto server. This is where
the registry's conditional writes (idempotent decision claim, ASG cooldown claim and release)
are proven against DynamoDB semantics; the Go unit tests only check the requests.

The registry table and the topic are in the home region, the ASGs in another region (the
policy's), so a client in the wrong region would not find them. Each scenario uses its own
alarms and ASGs: state does not leak between tests sharing the module's processes.

Some scenarios need Auto Scaling to misbehave (throttling, a rejected request) or another
writer to act between two of the handler's calls: they wrap a method of moto's Auto Scaling
backend for one ASG (`wrap_backend`), so the binary still sees moto's real wire format.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import AutoScalingBackend

from fleetops.core.registry import deserialize_item, keys, serialize_item
from fleetops.local_aws.runtime_api import Invocation, LocalRuntimeApi
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.artifacts import artifact, extract
from fleetops_tests.support.env import (
    ACCOUNT_ID,
    FAKE_CREDENTIALS,
    HOME_REGION,
    TABLE_NAME,
    topic_arn,
)
from fleetops_tests.support.moto_server import moto_server

ASG_REGION = "us-west-2"
FLEET = "e2e-web"
COOLDOWN = 300
INVOKE_TIMEOUT = 30.0
"""Per invocation; the SDK's throttling backoff stays well below it (2 retries: < 6 s)."""
EXIT_TIMEOUT = 10.0
DECISION_TTL = 30 * 24 * 3600

_LEAKY_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


# ---- payloads ----


@dataclass(frozen=True)
class StateChange:
    """One alarm state change, deliverable in the shapes CloudWatch uses."""

    alarm: str
    state: str = "ALARM"
    datapoints: tuple[float, ...] = (93.4, 88.1)
    threshold: float = 70.0
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def time_key(self) -> str:
        """The registry's key for the state change (UTC, milliseconds, `Z`)."""
        return self.at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.at.microsecond // 1000:03d}Z"

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudwatch:{HOME_REGION}:{ACCOUNT_ID}:alarm:{self.alarm}"

    def _alarm_data(self) -> dict[str, Any]:
        stamp = self.time_key[:-1] + "+0000"
        points = ", ".join(f"{value} (14/05/24 09:20:00)" for value in self.datapoints)
        return {
            "alarmName": self.alarm,
            "state": {
                "value": self.state,
                "reason": f"Threshold Crossed: {len(self.datapoints)} out of the last "
                f"{len(self.datapoints)} datapoints [{points}] were greater than the threshold "
                f"({self.threshold}).",
                "reasonData": json.dumps(
                    {
                        "version": "1.0",
                        "queryDate": stamp,
                        "statistic": "Average",
                        "period": 300,
                        "recentDatapoints": list(self.datapoints),
                        "threshold": self.threshold,
                    }
                ),
                "timestamp": stamp,
            },
            "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": stamp},
            "configuration": {
                "description": "e2e",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/EC2",
                                "name": "CPUUtilization",
                                "dimensions": {"AutoScalingGroupName": self.alarm},
                            },
                            "period": 300,
                            "stat": "Average",
                        },
                        "returnData": True,
                    }
                ],
            },
        }

    def direct(self) -> dict[str, Any]:
        """The payload of the alarm invoking the function as its alarm action."""
        return {
            "source": "aws.cloudwatch",
            "alarmArn": self.arn,
            "accountId": ACCOUNT_ID,
            "time": self.time_key[:-1] + "+0000",
            "region": HOME_REGION,
            "alarmData": self._alarm_data(),
        }

    def eventbridge(self) -> dict[str, Any]:
        """The same state change as an EventBridge "CloudWatch Alarm State Change" event."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": ACCOUNT_ID,
            "time": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": HOME_REGION,
            "resources": [self.arn],
            "detail": self._alarm_data(),
        }


# ---- the fleet in moto ----


@dataclass
class World:
    """The moto server's registry, topic and ASGs, with the assertions' view of them."""

    endpoint: str
    network: aws_fleet.Network
    template: aws_fleet.LaunchTemplate
    inbox: aws_fleet.SnsInbox
    _received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ddb = aws_fleet.aws("dynamodb", HOME_REGION, self.endpoint)
        self.autoscaling = aws_fleet.aws("autoscaling", ASG_REGION, self.endpoint)

    def create_asg(self, name: str, desired: int = 2) -> str:
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=1,
            MaxSize=10,
            DesiredCapacity=desired,
            VPCZoneIdentifier=",".join(self.network.subnets.values()),
            LaunchTemplate={"LaunchTemplateId": self.template.id, "Version": "$Latest"},
        )
        return name

    def desired(self, name: str) -> int:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return int(groups["AutoScalingGroups"][0]["DesiredCapacity"])

    def put(self, item: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=TABLE_NAME, Item=serialize_item(item))

    def put_policy(self, alarm: str, asg: str, fleet: str = FLEET) -> None:
        """breach < 10: +1, breach >= 10: +3 (the samples' breach is 23.4); cooldown 300 s."""
        self.put(
            {
                **keys.policy_key(alarm).as_dict(),
                "entity": "scaling_policy",
                "fleet": fleet,
                "region": ASG_REGION,
                "asg_name": asg,
                "on_alarm": {
                    "direction": "up",
                    "step_adjustments": [
                        {"upper_bound": 10, "adjustment": 1},
                        {"lower_bound": 10, "adjustment": 3},
                    ],
                },
                "min_capacity": 1,
                "max_capacity": 8,
                "cooldown_seconds": COOLDOWN,
            }
        )

    def get(self, key: keys.Key) -> dict[str, Any] | None:
        raw = self.ddb.get_item(TableName=TABLE_NAME, Key=key.as_dynamo(), ConsistentRead=True)
        return deserialize_item(raw["Item"]) if "Item" in raw else None

    def decision(self, change: StateChange) -> dict[str, Any]:
        item = self.get(keys.decision_key(change.alarm, change.time_key))
        assert item is not None, f"no decision record for {change.alarm} at {change.time_key}"
        return item

    def asg_record(self, asg: str, fleet: str = FLEET) -> dict[str, Any] | None:
        return self.get(keys.asg_key(fleet, ASG_REGION, asg))

    def notifications(self, alarm: str) -> list[dict[str, Any]]:
        """SNS messages about `alarm` received so far (the inbox is shared by every test)."""
        self._received.extend(self.inbox.receive())
        return [n for n in self._received if n["body"].get("alarm") == alarm]


# ---- the bootstrap process ----


@dataclass
class Runtime:
    """One bootstrap process serving invocations from its LocalRuntimeApi."""

    api: LocalRuntimeApi
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def invoke(self, event: Any) -> Invocation:
        assert self.process.poll() is None, f"bootstrap exited:\n{self.output()}"
        try:
            return self.api.invoke(event, timeout=INVOKE_TIMEOUT)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\nbootstrap output:\n{self.output()}") from exc

    def respond(self, event: Any) -> dict[str, Any]:
        """Invoke and return the handler's result (failing on an invocation error)."""
        invocation = self.invoke(event)
        assert invocation.error is None, f"invocation error {invocation.error}"
        response: dict[str, Any] = invocation.response
        return response

    def records(self) -> list[dict[str, Any]]:
        """The JSON lines written to stdout: structured logs and EMF records."""
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def lambda_env(
    endpoint: str, api: LocalRuntimeApi, task_root: Path, **overrides: str
) -> dict[str, str]:
    """What Lambda gives a provided.al2023 function, plus fleet-ops' configuration.

    Built from scratch: nothing is inherited from the test process (no profile, no real
    credentials, no shared config files).
    """
    env = {
        "ENVIRONMENT": "dev",
        "LOG_LEVEL": "INFO",
        "REGION": HOME_REGION,
        "DDB_TABLE": TABLE_NAME,
        "SNS_TOPIC": topic_arn(),
        "DRY_RUN": "false",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "AWS_SESSION_TOKEN": FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        "AWS_REGION": HOME_REGION,
        "AWS_DEFAULT_REGION": HOME_REGION,
        "AWS_CONFIG_FILE": str(task_root / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(task_root / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "fleetops-scaling-dev",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fleetops-scaling-dev",
        "_HANDLER": "bootstrap",
        "LAMBDA_TASK_ROOT": str(task_root),
        "TZ": ":UTC",
    }
    env.update(overrides)
    return env


@contextmanager
def running(
    bootstrap: Path, endpoint: str, logs: Path, *, without: tuple[str, ...] = (), **overrides: str
) -> Iterator[Runtime]:
    """Start the bootstrap against a fresh LocalRuntimeApi; kill it on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        api = stack.enter_context(LocalRuntimeApi())
        env = lambda_env(endpoint, api, bootstrap.parent, **overrides)
        for name in without:
            env.pop(name)
        stdout, stderr = logs / "stdout.log", logs / "stderr.log"
        out = stack.enter_context(stdout.open("wb"))
        err = stack.enter_context(stderr.open("wb"))
        process = subprocess.Popen(
            [str(bootstrap)], env=env, cwd=bootstrap.parent, stdout=out, stderr=err
        )
        try:
            yield Runtime(api, process, stdout, stderr)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=EXIT_TIMEOUT)


# ---- fixtures ----


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = extract(artifact("scaling.zip"), tmp_path_factory.mktemp("artifact")) / "bootstrap"
    assert path.stat().st_mode & 0o111, "bootstrap is not executable"
    return path


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server, and credentials for the test's own boto3 clients (module scope)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _LEAKY_VARIABLES:
            mp.delenv(name, raising=False)
        for name, value in FAKE_CREDENTIALS.items():
            mp.setenv(name, value)
        with moto_server() as url:
            # Moto's state is per process, shared by every moto server and mock_aws: start from
            # (and leave) an empty account whatever ran before in this process.
            _reset_moto(url)
            try:
                yield url
            finally:
                _reset_moto(url)


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def world(endpoint: str) -> World:
    aws_fleet.create_registry_table(endpoint_url=endpoint)
    topic = aws_fleet.create_topic(endpoint_url=endpoint)
    assert topic == topic_arn()
    network = aws_fleet.create_network(ASG_REGION, endpoint_url=endpoint)
    template = aws_fleet.create_launch_template(ASG_REGION, "e2e-lt", endpoint_url=endpoint)
    inbox = aws_fleet.SnsInbox(topic, endpoint_url=endpoint)
    return World(endpoint, network, template, inbox)


@pytest.fixture(scope="module")
def runtime(
    bootstrap: Path, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    with running(bootstrap, world.endpoint, tmp_path_factory.mktemp("bootstrap")) as rt:
        yield rt


@pytest.fixture(scope="module")
def dry_run_runtime(
    bootstrap: Path, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    logs = tmp_path_factory.mktemp("bootstrap-dry-run")
    with running(bootstrap, world.endpoint, logs, DRY_RUN="true") as rt:
        yield rt


def scenario(world: World, name: str, desired: int = 2) -> str:
    """An ASG and an alarm policy on it, both called `name`."""
    world.create_asg(name, desired)
    world.put_policy(name, name)
    return name


def wrap_backend(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    asg: str,
    before: Callable[[int], None],
) -> list[int]:
    """Call `before(n)` (n = 1, 2, ...) ahead of moto's `method` whenever it concerns `asg`.

    `before` may raise a moto error, which the server answers in AWS's wire format. Returns the
    list of call numbers seen.
    """
    original = getattr(AutoScalingBackend, method)
    calls: list[int] = []

    def wrapper(self: AutoScalingBackend, *args: Any, **kwargs: Any) -> Any:
        names = args[0] if args else kwargs.get("names") or kwargs.get("group_name")
        if names == asg or (isinstance(names, list) and asg in names):
            calls.append(len(calls) + 1)
            before(len(calls))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AutoScalingBackend, method, wrapper)
    return calls


# ---- scenarios ----


def test_cold_start_is_logged(runtime: Runtime) -> None:
    # Any invocation proves the process is up; the log line was written before the first poll.
    runtime.respond(StateChange("e2e-cold-start").direct())
    cold = [r for r in runtime.records() if r.get("msg") == "cold start"]
    assert len(cold) == 1
    assert cold[0]["table"] == TABLE_NAME
    assert cold[0]["region"] == HOME_REGION
    assert cold[0]["dry_run"] is False
    assert cold[0]["custom_endpoint"] is True


def test_alarm_action_scales_the_asg(runtime: Runtime, world: World) -> None:
    name = scenario(world, "e2e-applied")
    change = StateChange(name)
    started = time.time()

    invocation = runtime.invoke(change.direct())

    assert invocation.error is None
    result = invocation.response
    assert result["outcome"] == "applied", result
    assert (result["from_capacity"], result["to_capacity"]) == (2, 5)
    assert (result["fleet"], result["asg"], result["region"]) == (FLEET, name, ASG_REGION)
    assert result["source"] == "alarm-action"
    assert result["state_changed_at"] == change.time_key
    assert result["breach"] == pytest.approx(23.4)
    assert world.desired(name) == 5

    decision = world.decision(change)
    assert decision["entity"] == "scaling_decision"
    assert decision["outcome"] == "applied"
    assert (decision["from_capacity"], decision["to_capacity"], decision["adjustment"]) == (2, 5, 3)
    assert (decision["fleet"], decision["region"], decision["asg_name"]) == (
        FLEET,
        ASG_REGION,
        name,
    )
    assert decision["alarm_arn"] == change.arn
    assert decision["dry_run"] is False
    assert "error" not in decision
    assert started - 2 <= decision["claimed_at"] <= time.time() + 1
    assert decision["expires_at"] - decision["claimed_at"] == DECISION_TTL

    asg = world.asg_record(name)
    assert asg is not None
    assert asg["entity"] == "asg"
    assert asg["last_scaled_by"] == f"{name}@{change.time_key}"
    assert asg["last_scaled_at"] == decision["claimed_at"]

    [note] = world.notifications(name)
    assert note["Subject"] == f"[dev] scaling applied: {name}"
    assert note["body"]["outcome"] == "applied"
    assert note["body"]["environment"] == "dev"
    assert (note["body"]["from_capacity"], note["body"]["to_capacity"]) == (2, 5)

    request_id = invocation.request_id
    logged = [
        r
        for r in runtime.records()
        if r.get("msg") == "scaling decision" and r.get("request_id") == request_id
    ]
    assert len(logged) == 1
    assert logged[0]["outcome"] == "applied"
    assert logged[0]["alarm"] == name
    emf = [r for r in runtime.records() if "_aws" in r and r.get("alarm") == name]
    assert [r["Outcome"] for r in emf] == ["applied"]
    assert emf[0]["Decisions"] == 1


def test_redelivered_state_change_is_a_duplicate(runtime: Runtime, world: World) -> None:
    name = scenario(world, "e2e-duplicate")
    change = StateChange(name)
    assert runtime.respond(change.direct())["outcome"] == "applied"
    assert world.desired(name) == 5

    # Redelivered as is, and the same state change through EventBridge: one decision.
    # (Not deduplicated, the ASG at 5 would now go to 8.)
    for payload in (change.direct(), change.eventbridge()):
        result = runtime.respond(payload)
        assert result["outcome"] == "duplicate", result
        assert "from_capacity" not in result
        assert "to_capacity" not in result

    assert world.desired(name) == 5
    assert world.decision(change)["outcome"] == "applied"
    assert [n["body"]["outcome"] for n in world.notifications(name)] == ["applied"]


def test_second_alarm_within_the_cooldown_does_not_scale(runtime: Runtime, world: World) -> None:
    asg = world.create_asg("e2e-cooldown")
    first, second = "e2e-cooldown-cpu", "e2e-cooldown-mem"
    world.put_policy(first, asg)
    world.put_policy(second, asg)
    one, two = StateChange(first), StateChange(second)

    assert runtime.respond(one.direct())["outcome"] == "applied"
    result = runtime.respond(two.direct())

    assert result["outcome"] == "cooldown", result
    assert f"cooldown {COOLDOWN}s" in result["reason"]
    assert world.desired(asg) == 5
    assert world.decision(two)["outcome"] == "cooldown"
    record = world.asg_record(asg)
    assert record is not None
    assert record["last_scaled_by"] == f"{first}@{one.time_key}"
    assert [n["body"]["outcome"] for n in world.notifications(second)] == ["cooldown"]


def test_cooldown_race_lost_to_another_alarm(
    runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another alarm claims the ASG's cooldown after our read of last_scaled_at, before our claim.

    The handler reads last_scaled_at, then describes the ASG, then claims: the rival's write is
    made during that describe, so only DynamoDB's conditional update can stop the second scaling.
    """
    name = scenario(world, "e2e-race")
    rival = "e2e-race-rival@2024-05-14T09:21:07.311Z"

    def rival_claims(call: int) -> None:
        if call == 1:
            world.ddb.update_item(
                TableName=TABLE_NAME,
                Key=keys.asg_key(FLEET, ASG_REGION, name).as_dynamo(),
                UpdateExpression="SET last_scaled_at = :now, last_scaled_by = :by, entity = :asg",
                ExpressionAttributeValues=serialize_item(
                    {":now": int(time.time()), ":by": rival, ":asg": "asg"}
                ),
            )

    describes = wrap_backend(monkeypatch, "describe_auto_scaling_groups", name, rival_claims)
    change = StateChange(name)

    result = runtime.respond(change.direct())

    assert describes, "the handler did not describe the ASG"
    assert result["outcome"] == "cooldown", result
    assert "claimed the cooldown first" in result["reason"]
    assert world.desired(name) == 2
    assert world.decision(change)["outcome"] == "cooldown"
    record = world.asg_record(name)
    assert record is not None
    assert record["last_scaled_by"] == rival


def test_locked_fleet_is_not_scaled(runtime: Runtime, world: World) -> None:
    fleet = "e2e-locked"
    asg = world.create_asg("e2e-locked")
    world.put_policy(asg, asg, fleet=fleet)
    world.put(
        {
            **keys.lock_key(fleet).as_dict(),
            "entity": "lock",
            "owner": "deploy-42",
            "kind": "deployment",
            "acquired_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lock_expires_at": int(time.time()) + 600,
        }
    )
    change = StateChange(asg)

    result = runtime.respond(change.direct())

    assert result["outcome"] == "locked", result
    assert "deploy-42" in result["reason"]
    assert world.desired(asg) == 2
    assert world.decision(change)["outcome"] == "locked"
    assert world.asg_record(asg, fleet=fleet) is None
    assert [n["body"]["outcome"] for n in world.notifications(asg)] == ["locked"]


def test_expired_lock_does_not_block(runtime: Runtime, world: World) -> None:
    fleet = "e2e-lock-expired"
    asg = world.create_asg("e2e-lock-expired")
    world.put_policy(asg, asg, fleet=fleet)
    world.put(
        {
            **keys.lock_key(fleet).as_dict(),
            "entity": "lock",
            "owner": "deploy-41",
            "lock_expires_at": int(time.time()) - 1,
        }
    )
    assert runtime.respond(StateChange(asg).direct())["outcome"] == "applied"
    assert world.desired(asg) == 5


def test_alarm_without_policy_is_reported(runtime: Runtime, world: World) -> None:
    change = StateChange("e2e-no-policy")

    result = runtime.respond(change.direct())

    assert result["outcome"] == "no_policy", result
    assert '"e2e-no-policy"' in result["reason"]
    assert "fleet" not in result
    assert world.decision(change)["outcome"] == "no_policy"
    assert [n["body"]["outcome"] for n in world.notifications(change.alarm)] == ["no_policy"]


def test_unsupported_payload_is_an_invocation_error(runtime: Runtime, world: World) -> None:
    invocation = runtime.invoke({"hello": "world"})

    assert invocation.response is None
    assert invocation.error is not None
    message = invocation.error["errorMessage"]
    assert message.startswith("unsupported event: ")
    assert "keys: hello" in message
    # The process keeps serving.
    assert runtime.process.poll() is None
    assert runtime.respond(StateChange("e2e-after-error").direct())["outcome"] == "no_policy"


@pytest.mark.filterwarnings("ignore:Exception\\(AutoscalingClientError\\)")
def test_throttled_scaling_is_retried_by_the_sdk(
    runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = scenario(world, "e2e-throttled")

    def throttle(call: int) -> None:
        if call <= 2:
            raise AutoscalingClientError("Throttling", "Rate exceeded")

    calls = wrap_backend(monkeypatch, "set_desired_capacity", name, throttle)
    change = StateChange(name)

    result = runtime.respond(change.direct())

    assert result["outcome"] == "applied", result
    assert calls == [1, 2, 3]
    assert world.desired(name) == 5
    assert world.decision(change)["outcome"] == "applied"


@pytest.mark.parametrize(
    "previous",
    [
        pytest.param(None, id="first-claim-removed"),
        pytest.param({"last_scaled_by": "earlier@x"}, id="previous-claim-restored"),
    ],
)
def test_failed_scaling_releases_its_claims_and_the_retry_applies(
    runtime: Runtime,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    previous: dict[str, Any] | None,
) -> None:
    name = scenario(world, f"e2e-failed-{'prev' if previous else 'first'}")
    key = keys.asg_key(FLEET, ASG_REGION, name)
    # fleet-sync's record of the ASG, scaled an hour ago, or none yet.
    before = {**key.as_dict(), "entity": "asg", "sync_version": 7}
    if previous is not None:
        before |= {**previous, "last_scaled_at": int(time.time()) - 3600}
        world.put(before)

    def reject(call: int) -> None:
        if call == 1:
            raise ValidationError("injected rejection")

    wrap_backend(monkeypatch, "set_desired_capacity", name, reject)
    change = StateChange(name)

    invocation = runtime.invoke(change.direct())

    assert invocation.error is not None
    assert "SetDesiredCapacity failed" in invocation.error["errorMessage"]
    assert "injected rejection" in invocation.error["errorMessage"]
    assert world.desired(name) == 2
    failed = world.decision(change)
    assert failed["outcome"] == "failed"
    assert "injected rejection" in failed["error"]
    released = world.get(key)
    if previous is None:
        # The claim created the record (entity only besides the claim); the release removed it.
        assert released == {**key.as_dict(), "entity": "asg"}
    else:
        assert released == before, "the previous claim was not restored"

    # Lambda's asynchronous retry delivers the same event again: the failed record is claimable.
    result = runtime.respond(change.direct())

    assert result["outcome"] == "applied", result
    assert world.desired(name) == 5
    applied = world.decision(change)
    assert applied["outcome"] == "applied"
    assert "error" not in applied
    record = world.get(key)
    assert record is not None
    assert record["last_scaled_by"] == f"{name}@{change.time_key}"
    assert record.get("sync_version") == (7 if previous else None)
    assert [n["body"]["outcome"] for n in world.notifications(name)] == ["failed", "applied"]


def test_release_leaves_a_later_claim_alone(
    runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our scaling fails after another alarm took the cooldown over: its claim must stay."""
    name = scenario(world, "e2e-release-later")
    key = keys.asg_key(FLEET, ASG_REGION, name)
    later = "e2e-release-later-rival@x"

    def overtaken_then_rejected(call: int) -> None:
        if call == 1:
            world.ddb.update_item(
                TableName=TABLE_NAME,
                Key=key.as_dynamo(),
                UpdateExpression="SET last_scaled_at = :now, last_scaled_by = :by",
                ExpressionAttributeValues=serialize_item(
                    {":now": int(time.time()) + 1, ":by": later}
                ),
            )
            raise ValidationError("injected rejection")

    wrap_backend(monkeypatch, "set_desired_capacity", name, overtaken_then_rejected)

    invocation = runtime.invoke(StateChange(name).direct())

    assert invocation.error is not None
    assert "injected rejection" in invocation.error["errorMessage"]
    record = world.get(key)
    assert record is not None
    assert record["last_scaled_by"] == later


@pytest.mark.parametrize(
    ("claimed_ago", "outcome"),
    [
        pytest.param(60, "duplicate", id="fresh-pending-is-in-progress"),
        pytest.param(20 * 60, "applied", id="stale-pending-is-taken-over"),
    ],
)
def test_pending_claim_of_a_crashed_invocation(
    runtime: Runtime, world: World, claimed_ago: int, outcome: str
) -> None:
    """A "pending" record is another invocation at work, unless older than Lambda's 15 minutes."""
    name = scenario(world, f"e2e-pending-{claimed_ago}")
    change = StateChange(name)
    claimed_at = int(time.time()) - claimed_ago
    world.put(
        {
            **keys.decision_key(name, change.time_key).as_dict(),
            "entity": "scaling_decision",
            "alarm_name": name,
            "outcome": "pending",
            "claimed_at": claimed_at,
            "expires_at": claimed_at + DECISION_TTL,
        }
    )

    result = runtime.respond(change.direct())

    assert result["outcome"] == outcome, result
    assert world.desired(name) == (5 if outcome == "applied" else 2)
    assert world.decision(change)["outcome"] == ("applied" if outcome == "applied" else "pending")


def test_finishing_never_recreates_a_vanished_record(
    runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final update is conditional on the claimed record: it updates, never upserts."""
    name = scenario(world, "e2e-vanished")
    change = StateChange(name)
    key = keys.decision_key(name, change.time_key)

    def delete_the_record(call: int) -> None:
        world.ddb.delete_item(TableName=TABLE_NAME, Key=key.as_dynamo())

    wrap_backend(monkeypatch, "set_desired_capacity", name, delete_the_record)

    result = runtime.respond(change.direct())

    assert result["outcome"] == "applied", result
    assert world.desired(name) == 5
    assert world.get(key) is None
    assert any(
        r.get("msg") == "could not record the decision outcome" and r.get("alarm") == name
        for r in runtime.records()
    )


def test_dry_run_records_without_scaling(dry_run_runtime: Runtime, world: World) -> None:
    name = scenario(world, "e2e-dry-run")
    change = StateChange(name)

    result = dry_run_runtime.respond(change.direct())

    assert result["outcome"] == "dry_run", result
    assert result["dry_run"] is True
    assert (result["from_capacity"], result["to_capacity"]) == (2, 5)
    assert result["reason"].startswith("DRY_RUN: would set desired capacity")
    assert world.desired(name) == 2
    decision = world.decision(change)
    assert decision["outcome"] == "dry_run"
    assert decision["dry_run"] is True
    assert world.asg_record(name) is None, "DRY_RUN wrote the ASG's cooldown"
    [note] = world.notifications(name)
    assert note["body"]["dry_run"] is True
    assert note["Subject"] == f"[dev] scaling dry_run: {name}"
    assert dry_run_runtime.respond(change.direct())["outcome"] == "duplicate"


@pytest.mark.parametrize(
    ("without", "overrides", "named"),
    [
        pytest.param(("DDB_TABLE",), {}, ["DDB_TABLE"], id="missing-DDB_TABLE"),
        pytest.param(
            ("SNS_TOPIC",),
            {"ENVIRONMENT": "qa", "DRY_RUN": "maybe"},
            ["SNS_TOPIC", "ENVIRONMENT", "DRY_RUN"],
            id="several-bad-variables",
        ),
    ],
)
def test_bad_configuration_stops_the_cold_start(
    bootstrap: Path,
    world: World,
    tmp_path: Path,
    without: tuple[str, ...],
    overrides: dict[str, str],
    named: list[str],
) -> None:
    with running(bootstrap, world.endpoint, tmp_path, without=without, **overrides) as rt:
        code = rt.process.wait(timeout=EXIT_TIMEOUT)
        reported = rt.stderr.read_text() + json.dumps(rt.api.init_error or {})

    assert code != 0
    # ONE message naming every bad variable.
    [line] = rt.stderr.read_text().splitlines()
    assert line.startswith("scaling: invalid configuration: ")
    for variable in named:
        assert variable in reported
    assert "cold start" not in rt.stdout.read_text()
