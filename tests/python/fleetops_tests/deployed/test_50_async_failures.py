"""An asynchronous event the function cannot handle is retried as its event invoke config says,
then lands in its dead-letter queue (sent with its own role), and changes nothing meanwhile."""

from __future__ import annotations

import json

from fleetops_tests.deployed.harness import Deployed

WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "ec2:DeleteVolume",
    "ec2:CreateTags",
)


def test_a_malformed_event_is_retried_then_dead_lettered_and_writes_nothing(
    deployed: Deployed,
) -> None:
    function = deployed.function_name("cleanup")
    config = deployed.client("lambda").get_function_event_invoke_config(FunctionName=function)
    since, journal = deployed.audit_seq(), deployed.journal_seq()

    response = deployed.client("lambda").invoke(
        FunctionName=function,
        InvocationType="Event",
        Payload=json.dumps({"colour": "blue"}).encode(),
    )
    assert response["StatusCode"] == 202
    deployed.local.wait_for_lambdas(120)

    attempts = [e for e in deployed.local.invocations(journal) if e["function_name"] == function]
    assert len(attempts) == 1 + config["MaximumRetryAttempts"], attempts
    assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
    assert all(a["status"] in ("error", "dead-lettered") for a in attempts)
    assert attempts[-1]["status"] == "dead-lettered"
    assert "colour" in (attempts[-1]["error_message"] or "")

    sqs = deployed.client("sqs")
    queue = sqs.get_queue_url(QueueName=f"{function}-dlq")["QueueUrl"]
    (message,) = sqs.receive_message(
        QueueUrl=queue, MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert json.loads(message["Body"]) == {"colour": "blue"}
    assert message["MessageAttributes"]["RequestID"]["StringValue"] == attempts[0]["request_id"]
    assert "colour" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]

    records = [r for r in deployed.local.audit(since) if r["role"] == deployed.role_name("cleanup")]
    assert not [r for r in records if r["action"] in WRITES], "bad input changes nothing"
    sent = [r for r in records if r["action"] == "sqs:SendMessage"]
    assert sent and sent[0]["via"] == "lambda" and sent[0]["decision"] == "allow", records
