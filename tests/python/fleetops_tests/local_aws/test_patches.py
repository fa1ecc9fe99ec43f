"""Every patch of the local AWS against stock moto: what stock moto does (the reason the patch
exists), and what the patched one does. If a moto upgrade fixes a gap, the "stock" case here
fails and the patch can go."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from fleetops.core.aws import AwsClients
from fleetops.core.config import BaseConfig
from fleetops.core.errors import ConflictError
from fleetops.core.registry import OwnedUpdate, RegistryTable, keys
from fleetops.local_aws import patches
from fleetops_tests.support import aws_fleet

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sfn"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def patched() -> Iterator[None]:
    with patches.installed():
        yield


# ---- Step Functions ---------------------------------------------------------------------------


def test_stock_moto_lacks_validate_state_machine_definition(aws: None) -> None:
    # In-process moto raises; its server answers 500, and the Terraform provider retries ~10 min.
    with pytest.raises(NotImplementedError, match="validate_state_machine_definition"):
        boto3.client("stepfunctions", region_name=REGION).validate_state_machine_definition(
            definition=DEFINITION
        )


@pytest.mark.parametrize(
    ("definition", "result"),
    [
        (DEFINITION, "OK"),
        (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Bogus"}}}), "FAIL"),
        ("{not json", "FAIL"),
    ],
    ids=["valid", "unknown-state-type", "not-json"],
)
def test_validate_state_machine_definition_uses_moto_s_own_analyser(
    aws: None, patched: None, definition: str, result: str
) -> None:
    answer = boto3.client("stepfunctions", region_name=REGION).validate_state_machine_definition(
        definition=definition
    )
    assert answer["result"] == result
    assert bool(answer["diagnostics"]) == (result == "FAIL")


def test_stock_moto_lacks_list_state_machine_versions(aws: None) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name="m", definition=DEFINITION, roleArn=ROLE)["stateMachineArn"]
    with pytest.raises(NotImplementedError, match="list_state_machine_versions"):
        sfn.list_state_machine_versions(stateMachineArn=arn)


def test_list_state_machine_versions_lists_published_versions(aws: None, patched: None) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name="m", definition=DEFINITION, roleArn=ROLE)["stateMachineArn"]
    assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
    sfn.update_state_machine(stateMachineArn=arn, definition=DEFINITION, publish=True)
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:1"]


# ---- Lambda -----------------------------------------------------------------------------------


def _function(dead_letter: bool = True) -> dict[str, object]:
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            }
        ),
    )["Role"]["Arn"]
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="dlq")["QueueUrl"]
    queue_arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    lam = boto3.client("lambda", region_name=REGION)
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.11",
        Role=role,
        Handler="lambda_function.handler",
        Code={"ZipFile": aws_fleet_zip()},
        DeadLetterConfig={"TargetArn": queue_arn} if dead_letter else {},
        LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/fn"},
    )
    return {"queue_arn": queue_arn}


def aws_fleet_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lambda_function.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_stock_moto_drops_dead_letter_and_logging_config(aws: None) -> None:
    _function()
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="fn"
    )
    assert "DeadLetterConfig" not in config and "LoggingConfig" not in config


def test_dead_letter_and_logging_config_round_trip(aws: None, patched: None) -> None:
    created = _function()
    lam = boto3.client("lambda", region_name=REGION)
    config = lam.get_function_configuration(FunctionName="fn")
    assert config["DeadLetterConfig"] == {"TargetArn": created["queue_arn"]}
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/custom/fn"}
    lam.update_function_configuration(
        FunctionName="fn", TracingConfig={"Mode": "Active"}, DeadLetterConfig={"TargetArn": ""}
    )
    config = lam.get_function_configuration(FunctionName="fn")
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert "DeadLetterConfig" not in config


# ---- S3 -----------------------------------------------------------------------------------------

TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": ["arn:aws:s3:::fleetops-tls-bucket", "arn:aws:s3:::fleetops-tls-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": ["arn:aws:s3:::fleetops-tls-bucket", "arn:aws:s3:::fleetops-tls-bucket/*"],
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ],
}


def _tls_only_bucket() -> object:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="fleetops-tls-bucket")
    s3.put_object(Bucket="fleetops-tls-bucket", Key="k", Body=b"data")
    s3.put_bucket_policy(Bucket="fleetops-tls-bucket", Policy=json.dumps(TLS_ONLY))
    return s3


def test_stock_moto_denies_every_read_under_a_tls_only_bucket_policy(aws: None) -> None:
    s3 = _tls_only_bucket()
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket="fleetops-tls-bucket", Key="k")  # type: ignore[attr-defined]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_tls_only_bucket_policy_lets_tls_requests_through(aws: None, patched: None) -> None:
    s3 = _tls_only_bucket()
    assert s3.get_object(Bucket="fleetops-tls-bucket", Key="k")["Body"].read() == b"data"  # type: ignore[attr-defined]


def test_an_unconditional_bucket_deny_still_denies(aws: None, patched: None) -> None:
    s3 = _tls_only_bucket()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::fleetops-tls-bucket/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket="fleetops-tls-bucket", Policy=json.dumps(policy))  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket="fleetops-tls-bucket", Key="k")  # type: ignore[attr-defined]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_patches_are_undone(aws: None) -> None:
    with patches.installed():
        pass
    test_stock_moto_drops_dead_letter_and_logging_config(aws)


# ---- speed-ups (benchmarks only): same answers --------------------------------------------------


def _key(n: int) -> keys.Key:
    return keys.instance_key("web", "us-east-1", f"i-{n:017x}")


@pytest.mark.parametrize("speedup", [False, True], ids=["stock", "patched"])
def test_cancelled_transactions_leave_the_table_as_it_was(
    registry: str, clients: AwsClients, speedup: bool
) -> None:
    table = RegistryTable.from_clients(clients, BaseConfig.from_env())
    table.update_owned(_key(1), owned={"state": "running"}, counter="sync_version", expected=None)
    table.update_owned(_key(2), owned={"state": "running"}, counter="sync_version", expected=None)
    before = aws_fleet.scan_table()
    updates = [
        OwnedUpdate(_key(0), {"state": "new"}, "sync_version", None),  # would create
        OwnedUpdate(_key(1), {"state": "stopped"}, "sync_version", 1),  # would update
        OwnedUpdate(_key(2), {"state": "stopped"}, "sync_version", 7),  # stale: cancels all
    ]
    ddb = clients.client("dynamodb", "us-east-1")

    def cancelled_once() -> None:
        with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
            ddb.transact_write_items(
                TransactItems=[{"Update": table._owned_update_params(u)} for u in updates]
            )
        reasons = [reason["Code"] for reason in caught.value.response["CancellationReasons"]]
        assert reasons == ["None", "None", "ConditionalCheckFailed"]
        assert aws_fleet.scan_table() == before  # nothing created, nothing changed

    if speedup:
        with patches.large_fleet_speedups():
            cancelled_once()
            results = table.update_owned_batch(updates)
    else:
        cancelled_once()
        results = table.update_owned_batch(updates)

    assert aws_fleet.scan_table() != before  # the retry without the loser went through
    assert [type(result) for result in results] == [type(None), type(None), ConflictError]
    states = {item["sk"][-1]: item["state"] for item in aws_fleet.scan_table()}
    assert states == {"0": "new", "1": "stopped", "2": "running"}


def test_every_gap_has_a_reason() -> None:
    assert {p.name for p in patches.GAPS} == {
        "stepfunctions-provider-actions",
        "lambda-config-round-trip",
        "s3-bucket-policy-conditions",
    }
    assert all(len(p.reason) > 40 for p in patches.GAPS)
