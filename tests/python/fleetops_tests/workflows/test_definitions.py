"""The state machine definitions as artifacts: Terraform placeholders, valid ASL (moto's parser,
plus asl-validator when installed), every Task wired to what exists (task handlers, AWS API
operations and their parameters), Retry/Catch everywhere, every ending a Succeed or a Fail
with a cause."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from fleetops.workflows import definitions
from fleetops.workflows.definitions import PLACEHOLDERS, TemplateError, render_text
from fleetops.workflows.tasks import TASKS
from fleetops_tests.workflows.harness import TEMPLATE_VALUES

WORKFLOWS = definitions.WORKFLOWS
TASKS_ARN = "${workflow_tasks_function_arn}"
RESTORE_ARN = "${restore_function_arn}"
BROAD_ERRORS = {"States.ALL", "States.TaskFailed"}


def load_raw(name: str) -> dict[str, Any]:
    """The template parsed as is (placeholders still in place)."""
    document: dict[str, Any] = json.loads(definitions.template(name))
    return document


def walk(
    states: dict[str, Any], parents: tuple[dict[str, Any], ...] = ()
) -> Iterator[tuple[str, dict[str, Any], tuple[dict[str, Any], ...]]]:
    """Every state, with the Map/Parallel states enclosing it."""
    for name, state in states.items():
        yield name, state, parents
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            yield from walk(processor["States"], (*parents, state))
        if state["Type"] == "Parallel":
            for branch in state["Branches"]:
                yield from walk(branch["States"], (*parents, state))


def all_states(name: str) -> list[tuple[str, dict[str, Any], tuple[dict[str, Any], ...]]]:
    return list(walk(load_raw(name)["States"]))


def tasks_of(name: str) -> list[tuple[str, dict[str, Any], tuple[dict[str, Any], ...]]]:
    return [item for item in all_states(name) if item[1]["Type"] == "Task"]


def param_names(parameters: dict[str, Any]) -> set[str]:
    return {key.removesuffix(".$") for key in parameters}


# -- placeholders --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_placeholders_are_only_the_ones_terraform_substitutes(name):
    used = definitions.placeholders_in(definitions.template(name))

    assert used <= PLACEHOLDERS
    assert {"workflow_tasks_function_arn", "registry_table_name", "notification_topic_arn"} <= used


def test_the_recovery_definition_uses_the_restore_function():
    assert "restore_function_arn" in definitions.placeholders_in(definitions.template("recovery"))


def test_terraform_variables_of_the_infra_module_are_the_placeholders():
    main_tf = Path(definitions.statemachines_dir()).parent / "infra/modules/fleet-ops/main.tf"
    if not main_tf.exists():
        pytest.skip("infra/modules/fleet-ops not in this sandbox")
    text = main_tf.read_text()
    block = text[text.index("state_machine_template_variables = {") :]
    block = block[: block.index("\n  }")]
    names = {line.split("=")[0].strip() for line in block.splitlines()[1:] if "=" in line}
    assert names == PLACEHOLDERS


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ('{"a": "${restore_function_arn}"}', {"restore_function_arn": "arn:x"}, '{"a": "arn:x"}'),
        ("$${restore_function_arn} and %%{if}", {}, "${restore_function_arn} and %{if}"),
        ("$.plan and $$.Execution.Id", {}, "$.plan and $$.Execution.Id"),
        ("${registry_table_name}", dict(TEMPLATE_VALUES), "fleetops-registry-test"),
    ],
)
def test_render_substitutes_as_templatefile_does(text, values, expected):
    assert render_text(text, values) == expected


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("${unknown_arn}", {}, "unknown placeholder '${unknown_arn}'"),
        ("${restore_function_arn}", {}, "no value for placeholder '${restore_function_arn}'"),
        ("${var.table}", {}, "is an expression, not a placeholder"),
        ("%{ if x }y%{ endif }", {}, "template directive"),
        ("${restore_function_arn", {}, "unterminated"),
        ("x", {"typo_arn": "y"}, "values for unknown placeholder(s): typo_arn"),
    ],
)
def test_render_rejects_what_terraform_would_or_what_breaks_the_contract(text, values, message):
    with pytest.raises(
        TemplateError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("$", r"\$")
        .replace("{", r"\{")
        .replace("}", r"\}")
        .replace(".", r"\."),
    ):
        render_text(text, values)


# -- valid ASL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_rendered_definition_is_accepted_by_moto_asl_parser(name):
    rendered = definitions.render(name, **TEMPLATE_VALUES)

    program, _ = AmazonStateLanguageParser.parse(rendered)

    assert program is not None
    assert json.loads(rendered)["StartAt"] in json.loads(rendered)["States"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_rendered_definition_creates_a_state_machine(name, aws):
    import boto3

    client = boto3.client("stepfunctions", region_name="us-east-1")
    arn = client.create_state_machine(
        name=f"check-{name}",
        definition=definitions.render(name, **TEMPLATE_VALUES),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]

    assert json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])["StartAt"]


def _asl_validator() -> str | None:
    candidates = [
        os.environ.get("FLEETOPS_ASL_VALIDATOR", ""),
        str(Path(definitions.statemachines_dir()).parent / "node_modules/.bin/asl-validator"),
        "/work/asl/node_modules/.bin/asl-validator",
        shutil.which("asl-validator") or "",
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_asl_validator_accepts_the_rendered_definition(name, tmp_path):
    validator = _asl_validator()
    if validator is None:
        pytest.skip("asl-validator (npm) not installed; moto's parser is the required check")
    path = tmp_path / f"{name}.json"
    path.write_text(definitions.render(name, **TEMPLATE_VALUES))

    result = subprocess.run(
        [validator, "--json-path", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


# -- structure -----------------------------------------------------------------------------------


def _edges(state: dict[str, Any]) -> list[str]:
    targets = [state.get("Next"), state.get("Default")]
    targets += [choice.get("Next") for choice in state.get("Choices", ())]
    targets += [catcher["Next"] for catcher in state.get("Catch", ())]
    return [t for t in targets if t]


def _check_graph(states: dict[str, Any], start: str, top_level: bool) -> None:
    for name, state in states.items():
        for target in _edges(state):
            assert target in states, f"{name} -> {target}: no such state"
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(_edges(states[current]))
    assert seen == set(states), f"unreachable: {sorted(set(states) - seen)}"
    for name, state in states.items():
        if state["Type"] == "Map":
            processor = state["ItemProcessor"]
            _check_graph(processor["States"], processor["StartAt"], top_level=False)
        if top_level and state.get("End"):
            pytest.fail(f"{name}: a top-level state other than Succeed/Fail ends the execution")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_state_is_reachable_and_every_ending_is_succeed_or_fail(name):
    document = load_raw(name)

    _check_graph(document["States"], document["StartAt"], top_level=True)
    terminals = {s["Type"] for s in document["States"].values() if not _edges(s)}
    assert terminals == {"Succeed", "Fail"}


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_fail_state_says_what_and_why(name):
    for state_name, state, _ in all_states(name):
        if state["Type"] == "Fail":
            assert {"Error", "ErrorPath"} & set(state), state_name
            assert {"Cause", "CausePath"} & set(state), state_name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_task_retries_transient_errors_only_and_has_a_recovery_path(name):
    for state_name, state, parents in tasks_of(name):
        retriers = state.get("Retry", [])
        assert retriers, f"{state_name}: no Retry"
        for retrier in retriers:
            assert (
                not set(retrier["ErrorEquals"]) & BROAD_ERRORS
            ), f"{state_name}: retries logic errors"
            assert retrier["MaxAttempts"] <= 6
        caught = bool(state.get("Catch")) or any(parent.get("Catch") for parent in parents)
        assert caught, f"{state_name}: no Catch (nor an enclosing one)"
        assert 0 < state.get("TimeoutSeconds", 0) <= 3600, f"{state_name}: no TimeoutSeconds"
    for state_name, state, _ in all_states(name):
        if state["Type"] == "Map":
            assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), state_name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_waits_are_input_driven(name):
    for state_name, state, _ in all_states(name):
        if state["Type"] == "Wait":
            assert {"SecondsPath", "TimestampPath"} & set(state), f"{state_name}: fixed wait"


# -- tasks match what Terraform substitutes and what exists ------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_lambda_tasks_call_existing_task_handlers_with_their_fields(name):
    for state_name, state, _ in tasks_of(name):
        if state["Resource"] != TASKS_ARN:
            continue
        parameters = state["Parameters"]
        task = parameters["task"]
        assert task in TASKS, f"{state_name}: unknown task {task}"
        assert task.startswith(f"{name}."), f"{state_name}: {task} belongs to another workflow"
        model = TASKS[task].model
        given = param_names(parameters) - {"task"}
        fields = set(model.model_fields)
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        assert given <= fields, f"{state_name}: {sorted(given - fields)} not fields of {task}"
        assert required <= given, f"{state_name}: {sorted(required - given)} missing for {task}"


def test_every_task_handler_is_used_by_a_definition():
    used = {
        state["Parameters"]["task"]
        for name in WORKFLOWS
        for _, state, _ in tasks_of(name)
        if state["Resource"] == TASKS_ARN
    }
    assert used == set(TASKS)


def test_restore_task_sends_only_fields_the_restore_lambda_accepts():
    from fleetops.backup.request import RestoreEvent
    from fleetops.workflows.recovery import RESTORE_REQUEST_FIELDS

    (restore,) = (s for _, s, _ in tasks_of("recovery") if s["Resource"] == RESTORE_ARN)
    assert restore["InputPath"] == "$.plan.restore.request"
    assert set(RestoreEvent.model_fields) >= RESTORE_REQUEST_FIELDS


_SESSION = botocore.session.get_session()
_SFN_TO_BOTOCORE = {
    "autoscaling": "autoscaling",
    "cloudwatch": "cloudwatch",
    "ssm": "ssm",
    "route53": "route53",
    "dynamodb": "dynamodb",
    "sns": "sns",
}


def _operation(resource: str) -> tuple[str, Any] | None:
    prefix = "arn:aws:states:::"
    if not resource.startswith(prefix):
        return None
    parts = resource[len(prefix) :].split(":")
    if parts[0] == "aws-sdk":
        service, action = parts[1], parts[2]
    elif parts[0] in ("dynamodb", "sns"):
        service, action = parts[0], parts[1]
    else:
        return None
    model = _SESSION.get_service_model(_SFN_TO_BOTOCORE[service])
    operation = action[0].upper() + action[1:]
    assert operation in model.operation_names, f"{resource}: {service} has no {operation}"
    return service, model.operation_model(operation)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_service_integrations_call_real_operations_with_their_parameters(name):
    for state_name, state, _ in tasks_of(name):
        found = _operation(state["Resource"])
        if found is None:
            assert state["Resource"] in (
                TASKS_ARN,
                RESTORE_ARN,
            ), f"{state_name}: {state['Resource']}"
            continue
        service, operation = found
        members = set(operation.input_shape.members)
        given = param_names(state["Parameters"])
        assert (
            given <= members
        ), f"{state_name}: {sorted(given - members)} not parameters of {operation.name}"
        assert (
            set(operation.input_shape.required_members) <= given
        ), f"{state_name}: missing required"
        outputs = set(operation.output_shape.members) if operation.output_shape else set()
        for path in (state.get("ResultSelector") or {}).values():
            if isinstance(path, str) and path.startswith("$."):
                top = path[2:].split(".")[0].split("[")[0]
                assert top in outputs, f"{state_name}: {operation.name} returns no {top}"
        if service == "dynamodb":
            assert state["Parameters"]["TableName"] == "${registry_table_name}", state_name
        if service == "sns":
            assert state["Parameters"]["TopicArn"] == "${notification_topic_arn}", state_name


@pytest.mark.parametrize("name", ["deployment", "maintenance"])
def test_lock_is_taken_conditionally_and_released_only_by_its_owner(name):
    states = load_raw(name)["States"]
    acquire, release = states["AcquireLock"], states["ReleaseLock"]

    assert acquire["Resource"] == "arn:aws:states:::dynamodb:putItem"
    assert acquire["Parameters"]["ConditionExpression"] == (
        "attribute_not_exists(pk) OR lock_expires_at < :now OR #owner = :owner"
    )
    assert acquire["Parameters"]["Item"]["sk"] == {"S": "LOCK"}
    assert acquire["Parameters"]["Item"]["kind"] == {"S": name}
    assert {"owner", "kind", "acquired_at", "lock_expires_at"} <= set(acquire["Parameters"]["Item"])
    assert release["Resource"] == "arn:aws:states:::dynamodb:deleteItem"
    assert release["Parameters"]["ConditionExpression"] == "#owner = :owner"
    assert release["Parameters"]["ExpressionAttributeValues"][":owner"] == {
        "S.$": "$$.Execution.Id"
    }
