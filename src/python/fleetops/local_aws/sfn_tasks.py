"""Step Functions tasks run with the state machine's role, as in AWS.

moto's ASL engine makes every task's AWS call (Lambda invoke, DynamoDB, SNS, `aws-sdk:*`,
`states:startExecution`) through a boto3 client with fixed dummy keys, so no task is ever
authorized. Here each task's client carries a session of the execution's role (or of the task's
`Credentials.RoleArn`), obtained as `states.amazonaws.com` would (the role must trust it), so
IAM enforcement checks the state machine's role for every task.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from fleetops.local_aws.lambda_service import LambdaService

STATES_PRINCIPAL = "states.amazonaws.com"

_MODULES = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


def install(lambdas: LambdaService, endpoint_url: str) -> Callable[[], None]:
    """Give every task client the role's credentials; returns the undo function."""

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            raise RuntimeError("a Step Functions task ran without an execution role")
        account, partition = role_arn.split(":")[4], role_arn.split(":")[1]
        session = lambdas.session_for_role(
            account, partition, role_arn, "states-task", STATES_PRINCIPAL
        )
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=session.access_key_id,
            aws_secret_access_key=session.secret_access_key,
            aws_session_token=session.session_token,
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=60,
                read_timeout=1000,
            ),
        )

    originals: list[tuple[Any, Any]] = []
    for name in _MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "boto_client_for"):
            originals.append((module, module.boto_client_for))
            setattr(module, "boto_client_for", boto_client_for)  # noqa: B010

    def undo() -> None:
        for module, original in originals:
            setattr(module, "boto_client_for", original)  # noqa: B010

    return undo
