"""The AWS SAM template (infra/sam/template.yaml): valid per cfn-lint, and deploying the same
artifacts, sizes and protections as the Terraform configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra_tests.infra_support import ARTIFACTS, DESIGN_SIZES, infra, repo_root

TEMPLATE = "sam/template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as plain data."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    with (infra() / TEMPLATE).open() as f:
        return yaml.load(f, Loader=_CfnLoader)  # - SafeLoader subclass


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["CodeUri"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }


def test_cfn_lint_reports_nothing() -> None:
    from cfnlint.api import lint_all

    path = infra() / TEMPLATE
    # Errors and warnings, as the cfn-lint command line reports by default (I* are informational).
    matches = [m for m in lint_all(path.read_text()) if m.rule.id[0] in "EW"]
    assert not matches, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches)


def test_cfn_lint_catches_a_broken_template() -> None:
    from cfnlint.api import lint_all

    broken = (infra() / TEMPLATE).read_text().replace("MemorySize: 512", "MemorySize: 99999", 1)
    assert any(m.rule.id == "E3034" for m in lint_all(broken))


def test_every_artifact_is_deployed_from_the_zip_pants_writes(template: dict[str, Any]) -> None:
    functions = _functions(template)
    assert set(functions) == {f"../../dist/lambdas/{name}.zip" for name in ARTIFACTS}
    # Relative to the template: infra/sam/../../dist/lambdas/<name>.zip == dist/lambdas/<name>.zip
    for code_uri in functions:
        assert (
            (Path("infra/sam") / code_uri)
            .resolve()
            .relative_to(Path.cwd().resolve())
            .as_posix()
            .startswith("dist/lambdas/")
        )
    for name, spec in ARTIFACTS.items():
        props = functions[f"../../dist/lambdas/{name}.zip"]
        assert (props["Runtime"], props["Handler"]) == (spec["runtime"], spec["handler"]), name
        assert (props["MemorySize"], props["Timeout"]) == DESIGN_SIZES[name], name
        assert props["FunctionName"] == {"!Sub": f"fleetops-${{Environment}}-{name}"}


def test_every_function_has_tracing_dlq_logs_concurrency_and_its_own_role(
    template: dict[str, Any]
) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Tracing"] == "Active"
    assert globals_["Architectures"] == ["x86_64"]
    assert globals_["KmsKeyArn"] == {"!GetAtt": "FleetKey.Arn"}
    env = globals_["Environment"]["Variables"]
    assert {
        "ENVIRONMENT",
        "LOG_LEVEL",
        "REGION",
        "DDB_TABLE",
        "SNS_TOPIC",
        "REGIONS",
        "FLEET_TAG_KEY",
        "DRY_RUN",
    } <= set(env)
    resources = template["Resources"]
    roles = set()
    for logical, r in resources.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        p = r["Properties"]
        base = logical.removesuffix("Function")
        assert p["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": {"!GetAtt": f"{base}Dlq.Arn"}}
        assert p["LoggingConfig"]["LogGroup"] == {"!Ref": f"{base}LogGroup"}
        log_group = resources[f"{base}LogGroup"]["Properties"]
        assert (
            log_group["RetentionInDays"] == {"!Ref": "LogRetentionInDays"}
            and "KmsKeyId" in log_group
        )
        assert p["ReservedConcurrentExecutions"] >= 1
        assert p["Role"] == {"!GetAtt": f"{base}Role.Arn"}
        roles.add(base)
        for kind in ("ErrorRate", "Duration", "Throttles", "DlqMessages"):
            alarm = resources[f"{base}{kind}Alarm"]["Properties"]
            assert alarm["AlarmActions"] == [{"!Ref": "NotificationTopic"}]
        assert resources[f"{base}DurationAlarm"]["Properties"]["Threshold"] == p["Timeout"] * 800
    assert len(roles) == len(ARTIFACTS)
    assert resources["HealthCheckFunction"]["Properties"]["Environment"]["Variables"][
        "RECOVERY_STATE_MACHINE_ARN"
    ]
    assert resources["CleanupFunction"]["Properties"]["Environment"]["Variables"]["DRY_RUN"] == {
        "!Ref": "CleanupDryRun"
    }


def test_schedules_and_scaling_alarms(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    schedules = {
        logical: r["Properties"]["Events"]["Schedule"]["Properties"]["Schedule"]
        for logical, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and "Events" in r["Properties"]
    }
    assert schedules == {
        "FleetSyncFunction": "rate(5 minutes)",
        "HealthCheckFunction": "rate(1 minute)",
        "BackupFunction": "cron(0 2 * * ? *)",
        "CleanupFunction": "cron(0 3 * * ? *)",
    }
    for name in ("ScalingCpuHighAlarm", "ScalingCpuLowAlarm"):
        assert resources[name]["Properties"]["AlarmActions"] == [{"!GetAtt": "ScalingFunction.Arn"}]
        permission = resources[f"{name}Permission"]["Properties"]
        assert permission["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
        assert permission["SourceArn"] == {"!GetAtt": f"{name}.Arn"}


def test_state_machines_from_statemachines_with_logging_and_tracing(
    template: dict[str, Any]
) -> None:
    machines = {
        r["Properties"]["DefinitionUri"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::StateMachine"
    }
    assert set(machines) == {
        f"../../statemachines/{n}.asl.json" for n in ("deployment", "recovery", "maintenance")
    }
    for p in machines.values():
        assert p["Tracing"] == {"Enabled": True}
        assert p["Logging"]["Level"] == "ALL"
        assert set(p["DefinitionSubstitutions"]) == {
            "workflow_tasks_function_arn",
            "restore_function_arn",
            "registry_table_name",
            "registry_table_arn",
            "notification_topic_arn",
            "recovery_state_machine_arn",
        }


def test_no_wildcard_actions_and_commented_wildcard_resources() -> None:
    lines = (infra() / TEMPLATE).read_text().splitlines()
    in_action = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("Action:"):
            in_action = True
            inline = stripped.removeprefix("Action:").strip()
            if inline:
                assert "*" not in inline, f"line {i + 1}: wildcard action"
                in_action = False
            continue
        if in_action:
            if stripped.startswith("- ") and re.match(r"^- [a-z0-9-]+:", stripped):
                assert "*" not in stripped, f"line {i + 1}: wildcard action {stripped}"
                continue
            in_action = False
        if stripped in ("- '*'", "Resource: '*'"):
            window = [lines[j].strip() for j in range(max(0, i - 3), i)]
            assert any(
                w.startswith("#") for w in window
            ), f"line {i + 1}: '*' resource without a comment"


def test_template_reads_the_same_state_machine_files_as_terraform() -> None:
    for name in ("deployment", "recovery", "maintenance"):
        assert (Path("infra/sam") / f"../../statemachines/{name}.asl.json").as_posix()
    assert (repo_root() / "infra" / "sam").is_dir()
