"""Contract checks of infra/ (Terraform), parsed with python-hcl2: no provider, no AWS.

What `./pants package ::` builds (artifact paths, runtimes, handlers) and what the design asks of
every function (tracing, DLQ, log retention, alarms, a role of its own, least privilege) is checked
on the configuration itself.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
from pathlib import Path

import pytest

from infra_tests.infra_support import (
    ARTIFACTS,
    COMMON_ENV_VARS,
    DESIGN_SIZES,
    ENVIRONMENTS,
    IAM_ACTION,
    MODULES,
    STATE_MACHINES,
    TEMPLATE_PLACEHOLDERS,
    data_sources,
    iam_actions_in,
    infra,
    locals_of,
    module_calls,
    outputs_of,
    parse,
    parse_dir,
    repo_root,
    resources,
    tf_files,
    val,
    variables_of,
)


def mod(name: str) -> dict:
    return parse_dir(infra() / "modules" / name)


def env(name: str) -> dict:
    return parse_dir(infra() / "envs" / name)


# ------------------------------------------------------------------------------------------------
# Layout and module conventions
# ------------------------------------------------------------------------------------------------
def test_every_tf_file_parses() -> None:
    files = tf_files()
    assert len(files) >= 30
    for path in files:
        assert isinstance(parse(path), dict), path


@pytest.mark.parametrize("name", MODULES)
def test_module_has_the_standard_files(name: str) -> None:
    folder = infra() / "modules" / name
    for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (folder / f).is_file(), f"modules/{name}/{f} missing"


@pytest.mark.parametrize("name", MODULES)
def test_module_variables_have_type_and_description_and_outputs_a_description(name: str) -> None:
    m = mod(name)
    for vname, v in variables_of(m).items():
        assert "type" in v, f"{name}: variable {vname} has no type"
        assert val(v, "description"), f"{name}: variable {vname} has no description"
    for oname, o in outputs_of(m).items():
        assert val(o, "description"), f"{name}: output {oname} has no description"


@pytest.mark.parametrize(
    "folder", [f"modules/{m}" for m in MODULES] + [f"envs/{e}" for e in ENVIRONMENTS]
)
def test_versions_pin_terraform_and_the_aws_provider(folder: str) -> None:
    versions = parse(infra() / folder / "versions.tf")["terraform"][0]
    required = val(versions, "required_version")
    assert re.fullmatch(r">= 1\.\d+, < 2\.0", required), required
    if folder != "modules/release-artifacts":  # provider-free on purpose (testable offline)
        aws = val(versions["required_providers"][0], "aws")
        assert aws["source"] == "hashicorp/aws"
        assert re.fullmatch(r"~> 5\.\d+", aws["version"]), aws["version"]


def test_modules_are_plain_resources_not_registry_modules() -> None:
    for path in tf_files():
        for call in module_calls(parse(path)).values():
            source = val(call, "source")
            assert source.startswith("../"), f"{path}: module source {source} is not local"


# ------------------------------------------------------------------------------------------------
# Environments: partial S3 backend with locking, no account ids or secrets
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_environment_uses_a_partial_s3_backend_with_locking(name: str) -> None:
    terraform = parse(infra() / "envs" / name / "versions.tf")["terraform"][0]
    backend = terraform["backend"][0]
    assert list(backend) == ["s3"]
    assert backend["s3"] == {}, "the backend block must stay empty (partial configuration)"
    settings = (infra() / "envs" / name / "backend.tfbackend").read_text()
    assert re.search(r'^key\s*=\s*"fleet-ops/' + name + r'/terraform\.tfstate"$', settings, re.M)
    assert re.search(r"^encrypt\s*=\s*true$", settings, re.M)
    assert re.search(r"^use_lockfile\s*=\s*true$", settings, re.M)
    assert not re.search(
        r"^bucket\s*=", settings, re.M
    ), "the state bucket is given at init, not committed"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_environment_composes_the_modules(name: str) -> None:
    calls = module_calls(env(name))
    assert val(calls["release"], "source") == "../../modules/release-artifacts"
    assert val(calls["fleet_ops"], "source") == "../../modules/fleet-ops"
    assert val(calls["fleet_ops"], "environment") == name
    assert val(calls["fleet_ops"], "artifacts") == "${module.release.artifacts}"
    assert "statemachines" in val(calls["fleet_ops"], "statemachines_dir")
    # Release manifest from a local file or from the artifact bucket; dist/ otherwise.
    manifest = val(calls["release"], "release_manifest_json")
    assert "file(var.release_manifest_path)" in manifest
    assert "data.aws_s3_object.release_manifest[0].body" in manifest
    obj = data_sources(env(name), "aws_s3_object")["release_manifest"]
    assert val(obj, "key") == "releases/${var.release_id}/manifest.json"
    assert "/dist" in val(calls["release"], "dist_dir")


def test_cleanup_is_a_dry_run_outside_dev() -> None:
    assert val(module_calls(env("dev"))["fleet_ops"], "cleanup_dry_run") is False
    for name in ("staging", "prod"):
        assert val(module_calls(env(name))["fleet_ops"], "cleanup_dry_run") is True
    assert val(variables_of(mod("fleet-ops"))["cleanup_dry_run"], "default") is True


def test_no_account_ids_or_credentials_are_committed() -> None:
    account_id = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
    access_key = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}")
    for path in sorted(infra().rglob("*")):
        if not path.is_file() or ".terraform" in path.parts or path.suffix == ".zip":
            continue
        text = path.read_text()
        assert not account_id.search(text), f"{path} contains what looks like an account id"
        assert not access_key.search(text), f"{path} contains what looks like an access key"


# ------------------------------------------------------------------------------------------------
# Artifacts: exactly what `./pants package ::` produces (or its promoted copy)
# ------------------------------------------------------------------------------------------------
def test_artifact_catalog_is_what_pants_builds() -> None:
    catalog = val(variables_of(mod("release-artifacts"))["catalog"], "default")
    assert catalog == ARTIFACTS


def test_dist_mode_reads_the_zip_pants_writes_and_hashes_it() -> None:
    artifacts = locals_of(mod("release-artifacts"))["artifacts"]
    assert "${var.dist_dir}/lambdas/${name}.zip" in artifacts
    assert 'filebase64sha256("${var.dist_dir}/lambdas/${name}.zip")' in artifacts


def test_manifest_mode_takes_bucket_key_and_hash_from_the_manifest() -> None:
    artifacts = locals_of(mod("release-artifacts"))["artifacts"]
    assert (
        "s3_bucket = var.artifact_bucket" in artifacts.replace("  ", " ")
        or "'s3_bucket': '${var.artifact_bucket}'" in artifacts
    )
    assert "local.manifest_entries[name].s3_key" in artifacts
    assert "local.manifest_entries[name].sha256_base64" in artifacts
    mismatches = locals_of(mod("release-artifacts"))["mismatches"]
    for check in (
        "lambdas/${name}.zip",
        "${name}/${",
        "want.runtime",
        "want.handler",
        "want.architecture",
    ):
        assert check in mismatches, check


def test_every_artifact_is_deployed_as_a_function_sized_by_the_design() -> None:
    functions = locals_of(mod("fleet-ops"))["functions"]
    assert set(functions) == set(ARTIFACTS)
    for name, spec in functions.items():
        assert (spec["memory_size"], spec["timeout"]) == DESIGN_SIZES[name], name


def test_functions_take_artifact_runtime_and_handler_from_the_release() -> None:
    call = module_calls(mod("fleet-ops"))["functions"]
    assert val(call, "source") == "../lambda-function"
    assert val(call, "for_each") == "${local.functions}"
    assert val(call, "runtime") == "${var.artifacts[each.key].runtime}"
    assert val(call, "handler") == "${var.artifacts[each.key].handler}"
    assert val(call, "architectures") == "${var.artifacts[each.key].architectures}"
    artifact = val(call, "artifact")
    for field in ("s3_bucket", "s3_key", "filename", "source_code_hash"):
        assert artifact[field] == f"${{var.artifacts[each.key].{field}}}"


def test_lambda_module_deploys_the_artifact_with_its_hash() -> None:
    fn = resources(mod("lambda-function"), "aws_lambda_function")["this"]
    assert val(fn, "s3_bucket") == "${var.artifact.s3_bucket}"
    assert val(fn, "s3_key") == "${var.artifact.s3_key}"
    assert val(fn, "filename") == "${var.artifact.filename}"
    assert val(fn, "source_code_hash") == "${var.artifact.source_code_hash}"
    assert val(fn, "runtime") == "${var.runtime}"
    assert val(fn, "handler") == "${var.handler}"
    runtime = variables_of(mod("lambda-function"))["runtime"]
    assert "python3.11" in json.dumps(runtime) and "provided.al2023" in json.dumps(runtime)


def _artifact_zip(name: str) -> Path | None:
    for candidate in (
        Path.cwd() / "lambdas" / f"{name}.zip",
        repo_root() / "dist" / "lambdas" / f"{name}.zip",
    ):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_built_artifact_contains_the_configured_handler(name: str) -> None:
    path = _artifact_zip(name)
    if path is None:
        pytest.skip(f"lambdas/{name}.zip not built here (the infra tests do not need the build)")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        handler = ARTIFACTS[name]["handler"]
        if ARTIFACTS[name]["runtime"] == "provided.al2023":
            assert "bootstrap" in names
            mode = (zf.getinfo("bootstrap").external_attr >> 16) & 0o777
            assert mode & stat.S_IXUSR, "bootstrap must be executable"
        else:
            module = handler.rsplit(".", 1)[0]
            assert f"{module}.py" in names, f"{path} has no {module}.py for handler {handler}"


# ------------------------------------------------------------------------------------------------
# Every function: tracing, DLQ, log retention + KMS, alarms, own role, concurrency, VPC, env
# ------------------------------------------------------------------------------------------------
def test_lambda_module_traces_and_has_a_dead_letter_queue() -> None:
    m = mod("lambda-function")
    fn = resources(m, "aws_lambda_function")["this"]
    assert val(fn["tracing_config"][0], "mode") == "Active"
    assert val(fn["dead_letter_config"][0], "target_arn") == "${aws_sqs_queue.dlq.arn}"
    dlq = resources(m, "aws_sqs_queue")["dlq"]
    assert val(dlq, "kms_master_key_id") == "${var.kms_key_arn}"
    assert "aws_lambda_function_event_invoke_config" in json.dumps(m["resource"])


def test_lambda_module_log_group_has_retention_and_kms() -> None:
    m = mod("lambda-function")
    lg = resources(m, "aws_cloudwatch_log_group")["this"]
    assert val(lg, "retention_in_days") == "${var.log_retention_in_days}"
    assert val(lg, "kms_key_id") == "${var.kms_key_arn}"
    assert val(lg, "name") == "${local.log_group_name}"
    assert locals_of(m)["log_group_name"] == "/aws/lambda/${var.function_name}"
    fn = resources(m, "aws_lambda_function")["this"]
    assert val(fn["logging_config"][0], "log_group") == "${aws_cloudwatch_log_group.this.name}"
    assert "0 (forever)" in json.dumps(variables_of(m)["log_retention_in_days"])


def test_lambda_module_gives_each_function_its_own_role() -> None:
    m = mod("lambda-function")
    fn = resources(m, "aws_lambda_function")["this"]
    assert val(fn, "role") == "${aws_iam_role.this.arn}"
    role = resources(m, "aws_iam_role")["this"]
    assert val(role, "name") == "${var.function_name}-role"
    policy = resources(m, "aws_iam_role_policy")["this"]
    assert val(policy, "role") == "${aws_iam_role.this.id}"
    assert not resources(m, "aws_iam_role_policy_attachment"), "no shared managed policies"


def test_lambda_module_encrypts_environment_and_reserves_concurrency() -> None:
    m = mod("lambda-function")
    fn = resources(m, "aws_lambda_function")["this"]
    assert val(fn, "kms_key_arn") == "${var.kms_key_arn}"
    assert val(fn, "reserved_concurrent_executions") == "${var.reserved_concurrent_executions}"
    assert "reserved_concurrent_executions >= 1" in json.dumps(
        variables_of(m)["reserved_concurrent_executions"]
    )
    # Optional VPC configuration (private subnets, security groups).
    vpc = fn["dynamic"][0]["vpc_config"]
    assert val(vpc, "for_each") == "${local.in_vpc ? [1] : []}"
    env_var = json.dumps(variables_of(m)["environment_variables"])
    assert "SECRET" in env_var and "PASSWORD" in env_var and "AWS_" in env_var


def test_lambda_module_alarms_notify_sns() -> None:
    m = mod("lambda-function")
    alarms = resources(m, "aws_cloudwatch_metric_alarm")
    assert set(alarms) == {"error_rate", "duration", "throttles", "dlq_messages"}
    for name, alarm in alarms.items():
        assert val(alarm, "alarm_actions") == ["${var.alarm_topic_arn}"], name
    v = variables_of(m)
    assert val(v["alarm_error_rate_percent"], "default") == 5
    assert val(v["alarm_duration_percent_of_timeout"], "default") == 80

    error_rate = alarms["error_rate"]
    assert val(error_rate, "threshold") == "${var.alarm_error_rate_percent}"
    assert val(error_rate, "comparison_operator") == "GreaterThanThreshold"
    expressions = [val(q, "expression") for q in error_rate["metric_query"] if "expression" in q]
    assert expressions == ["IF(invocations > 0, 100 * errors / invocations, 0)"]
    metrics = {
        val(q["metric"][0], "metric_name") for q in error_rate["metric_query"] if "metric" in q
    }
    assert metrics == {"Errors", "Invocations"}

    duration = alarms["duration"]
    assert val(duration, "metric_name") == "Duration"
    assert (
        val(duration, "threshold")
        == "${var.timeout * 1000 * var.alarm_duration_percent_of_timeout / 100}"
    )

    throttles = alarms["throttles"]
    assert (val(throttles, "metric_name"), val(throttles, "threshold")) == ("Throttles", 0)

    dlq = alarms["dlq_messages"]
    assert (val(dlq, "namespace"), val(dlq, "metric_name")) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert val(dlq, "dimensions") == {"QueueName": "${aws_sqs_queue.dlq.name}"}


def test_every_function_gets_the_common_and_its_own_environment() -> None:
    common = locals_of(mod("fleet-ops"))["common_environment"]
    assert set(common) >= COMMON_ENV_VARS
    functions = locals_of(mod("fleet-ops"))["functions"]
    for name in ("backup", "restore", "cleanup"):
        assert (
            functions[name]["environment"]["BACKUP_BUCKET"] == "${module.core.backup_bucket_name}"
        )
    assert (
        functions["health-check"]["environment"]["RECOVERY_STATE_MACHINE_ARN"]
        == '${local.state_machine_arns["recovery"]}'
    )
    assert functions["cleanup"]["environment"]["DRY_RUN"] == "${tostring(var.cleanup_dry_run)}"
    call = module_calls(mod("fleet-ops"))["functions"]
    assert "local.common_environment" in val(call, "environment_variables")
    assert "each.value.environment" in val(call, "environment_variables")


def test_every_function_has_its_own_least_privilege_statements() -> None:
    functions = locals_of(mod("fleet-ops"))["functions"]
    expected = {
        "fleet-sync": {
            "ec2:DescribeInstances",
            "autoscaling:DescribeAutoScalingGroups",
            "sns:Publish",
            "dynamodb:UpdateItem",
        },
        "health-check": {
            "ec2:DescribeInstanceStatus",
            "ec2:RebootInstances",
            "autoscaling:SetInstanceHealth",
            "elasticloadbalancing:DescribeTargetHealth",
            "states:StartExecution",
        },
        "scaling": {
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:SetDesiredCapacity",
            "dynamodb:PutItem",
        },
        "backup": {
            "dynamodb:Scan",
            "dynamodb:Query",
            "s3:PutObject",
            "s3:GetObject",
            "s3:ListBucket",
        },
        "restore": {
            "s3:GetObject",
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",
            "dynamodb:DescribeTable",
            "dynamodb:CreateTable",
        },
        "cleanup": {
            "ec2:DescribeVolumes",
            "ec2:DescribeSnapshots",
            "ec2:DescribeImages",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeLaunchTemplates",
            "ec2:CreateTags",
            "ec2:DeleteVolume",
            "ec2:DeleteSnapshot",
            "ec2:DeregisterImage",
            "ec2:DeleteNetworkInterface",
            "s3:ListBucket",
            "s3:DeleteObject",
        },
        "workflow-tasks": {"dynamodb:GetItem", "sns:Publish"},
    }
    notify = iam_actions_in(locals_of(mod("fleet-ops"))["notify"])
    assert notify == {"sns:Publish"}
    for name, actions in expected.items():
        statements = functions[name]["policy_statements"]
        granted = iam_actions_in(statements) | (notify if "local.notify" in statements else set())
        assert actions <= granted, f"{name} lacks {actions - granted}"
    # Nobody but restore may create tables, only fleetops-* ones.
    for name, spec in functions.items():
        if "dynamodb:CreateTable" in iam_actions_in(spec["policy_statements"]):
            assert name == "restore"
    assert "table/fleetops-*" in json.dumps(functions["restore"]["policy_statements"])
    # Mutations of the fleet are limited to resources carrying the fleet tag.
    tag = locals_of(mod("fleet-ops"))["fleet_tagged"]
    assert "aws:ResourceTag/${var.fleet_tag_key}" in json.dumps(tag)
    for name, sid in (
        ("health-check", "RebootFleetInstances"),
        ("scaling", "SetFleetCapacity"),
        ("cleanup", "DeleteFleetResources"),
    ):
        text = functions[name]["policy_statements"]
        statement = text[text.index(sid) :]
        statement = statement.split("'sid'", 1)[0]
        assert "local.fleet_tagged" in statement, f"{name}/{sid} is not limited by the fleet tag"


# ------------------------------------------------------------------------------------------------
# IAM: no "*" actions anywhere; "*" resources only where AWS allows nothing narrower, commented
# ------------------------------------------------------------------------------------------------
def test_no_iam_statement_allows_wildcard_actions() -> None:
    seen = 0
    for path in tf_files():
        text = path.read_text()
        for block in re.finditer(r"\bactions\s*=\s*\[(.*?)\]", text, re.S):
            for action in re.findall(r'"([^"]*)"', block.group(1)):
                seen += 1
                assert "*" not in action, f"{path}: wildcard action {action}"
                assert IAM_ACTION.match(action), f"{path}: {action} is not a service:Action"
        # Lists of actions kept in locals (e.g. the KMS key policy) are checked the same way.
        for action in re.findall(r'"([a-z0-9-]+:[A-Za-z0-9*]+)"', text):
            assert "*" not in action, f"{path}: wildcard action {action}"
    assert seen > 100


def test_every_wildcard_resource_is_commented() -> None:
    for path in tf_files():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.search(r'\bresources\s*=\s*\["\*"\]', line):
                before = lines[i - 1].strip()
                assert before.startswith(
                    "#"
                ), f'{path}:{i + 1}: resources = ["*"] without a comment saying why'


def test_module_variables_reject_wildcard_actions() -> None:
    for name in ("lambda-function", "state-machine"):
        text = json.dumps(variables_of(mod(name))["policy_statements"])
        assert 'strcontains(a, \\"*\\")' in text or "strcontains(a," in text


# ------------------------------------------------------------------------------------------------
# Triggers: schedules and alarms that invoke scaling
# ------------------------------------------------------------------------------------------------
def test_eventbridge_schedules() -> None:
    schedules = locals_of(mod("fleet-ops"))["schedules"]
    assert {k: v["expression"] for k, v in schedules.items()} == {
        "health-check": "rate(1 minute)",
        "backup": "cron(0 2 * * ? *)",
        "cleanup": "cron(0 3 * * ? *)",
    }
    m = mod("fleet-ops")
    target = resources(m, "aws_cloudwatch_event_target")["schedule"]
    assert val(target, "arn") == "${module.functions[each.key].function_arn}"
    permission = resources(m, "aws_lambda_permission")["schedule"]
    assert val(permission, "principal") == "events.amazonaws.com"
    assert val(permission, "source_arn") == "${aws_cloudwatch_event_rule.schedule[each.key].arn}"


def test_fleet_sync_runs_one_invocation_per_region() -> None:
    m = mod("fleet-ops")
    rule = resources(m, "aws_cloudwatch_event_rule")["fleet_sync"]
    # regions = [] means the home Region (local.fleet_regions): one schedule, concurrency 1.
    assert val(rule, "for_each") == "${toset(local.fleet_regions)}"
    assert val(rule, "schedule_expression") == "rate(5 minutes)"
    target = resources(m, "aws_cloudwatch_event_target")["fleet_sync"]
    assert val(target, "arn") == '${module.functions["fleet-sync"].function_arn}'
    permission = resources(m, "aws_lambda_permission")["fleet_sync_schedule"]
    assert val(permission, "source_arn") == "${aws_cloudwatch_event_rule.fleet_sync[each.key].arn}"
    assert "${each.key}" in val(permission, "statement_id")
    assert (
        locals_of(m)["default_reserved_concurrency"]["fleet-sync"]
        == "${length(local.fleet_regions)}"
    )

    # What EventBridge delivers: each placeholder replaced by its value as JSON.
    transformer = target["input_transformer"][0]
    template = val(transformer, "input_template").replace('\\"', '"')
    event = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-26T12:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/x"],
        "detail": {},
    }
    rendered = template.replace("${jsonencode([each.key])}", json.dumps(["eu-west-1"]))
    for name, path in val(transformer, "input_paths").items():
        rendered = rendered.replace(f"<{name}>", json.dumps(event[path.removeprefix("$.")]))
    assert json.loads(rendered) == {**event, "regions": ["eu-west-1"]}


def test_cloudwatch_alarms_invoke_the_scaling_function() -> None:
    m = mod("fleet-ops")
    alarm = resources(m, "aws_cloudwatch_metric_alarm")["scaling"]
    assert val(alarm, "alarm_actions") == ['${module.functions["scaling"].function_arn}']
    permission = resources(m, "aws_lambda_permission")["scaling_alarm"]
    assert val(permission, "principal") == "lambda.alarms.cloudwatch.amazonaws.com"
    assert val(permission, "function_name") == '${module.functions["scaling"].function_name}'
    assert val(permission, "source_arn") == "${aws_cloudwatch_metric_alarm.scaling[each.key].arn}"


# ------------------------------------------------------------------------------------------------
# State machines
# ------------------------------------------------------------------------------------------------
def test_state_machines_render_the_templates_with_logging_and_tracing() -> None:
    m = mod("state-machine")
    sm = resources(m, "aws_sfn_state_machine")["this"]
    assert (
        val(sm, "definition").replace(" ", "")
        == "${templatefile(var.definition_template_path,var.definition_variables)}"
    )
    logging = sm["logging_configuration"][0]
    assert val(logging, "level") == "${var.log_level}"
    assert val(variables_of(m)["log_level"], "default") == "ALL"
    assert val(logging, "log_destination") == "${aws_cloudwatch_log_group.this.arn}:*"
    assert val(sm["tracing_configuration"][0], "enabled") is True
    lg = resources(m, "aws_cloudwatch_log_group")["this"]
    assert val(lg, "kms_key_id") == "${var.kms_key_arn}"
    assert val(sm, "role_arn") == "${aws_iam_role.this.arn}"

    fleet = mod("fleet-ops")
    call = module_calls(fleet)["state_machines"]
    assert val(call, "definition_template_path") == "${var.statemachines_dir}/${each.key}.asl.json"
    assert set(locals_of(fleet)["state_machine_capabilities"]) == set(STATE_MACHINES)
    assert set(locals_of(fleet)["state_machine_template_variables"]) == TEMPLATE_PLACEHOLDERS


def _granted_to(state_machine: str) -> set[str]:
    fleet_locals = locals_of(mod("fleet-ops"))
    statements = fleet_locals["state_machine_statements"]
    granted: set[str] = set()
    for capability in fleet_locals["state_machine_capabilities"][state_machine]:
        granted |= iam_actions_in(statements[capability])
    return granted


def test_state_machines_may_call_what_the_design_lists() -> None:
    union = set().union(*(_granted_to(sm) for sm in STATE_MACHINES))
    for action in (
        "lambda:InvokeFunction",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "sns:Publish",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:DeleteAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:SetDesiredCapacity",
        "autoscaling:EnterStandby",
        "autoscaling:ExitStandby",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:ModifyRule",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
        "ssm:SendCommand",
        "ssm:GetCommandInvocation",
        "route53:ChangeResourceRecordSets",
        "cloudwatch:DescribeAlarms",
        "states:StartExecution",
    ):
        assert action in union, action


def _asl_resources(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("Type") == "Task" and isinstance(node.get("Resource"), str):
            found.append(node["Resource"])
        for value in node.values():
            found.extend(_asl_resources(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_asl_resources(value))
    return found


def _actions_for_task(resource: str, arguments: dict) -> set[str]:
    """IAM actions a Task's Resource needs (optimised and aws-sdk integrations, direct Lambda ARNs)."""
    m = re.match(r"^arn:[^:]+:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)(\.\w+)?$", resource)
    if m:
        service = {"elasticloadbalancingv2": "elasticloadbalancing", "sfn": "states"}.get(
            m.group(1), m.group(1)
        )
        return {f"{service}:{m.group(2)[0].upper()}{m.group(2)[1:]}"}
    m = re.match(r"^arn:[^:]+:states:::([a-z]+):([A-Za-z]+)(\.\w+)?$", resource)
    if m:
        service, api = m.group(1), m.group(2)
        if service == "lambda":
            return {"lambda:InvokeFunction"}
        return {f"{service}:{api[0].upper()}{api[1:]}"}
    if ":lambda:" in resource or "function_arn" in resource:
        return {"lambda:InvokeFunction"}
    return set()


@pytest.mark.parametrize("name", STATE_MACHINES)
def test_state_machine_definition_only_calls_what_its_role_allows(name: str) -> None:
    path = repo_root() / "statemachines" / f"{name}.asl.json"
    if not path.is_file():
        pytest.skip(
            f"statemachines/{name}.asl.json not written yet (or not a dependency of this test)"
        )
    text = path.read_text()
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    assert (
        used <= TEMPLATE_PLACEHOLDERS
    ), f"{name}: templatefile() has no value for {used - TEMPLATE_PLACEHOLDERS}"
    rendered = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: f"PLACEHOLDER-{m.group(1)}", text)
    definition = json.loads(rendered)
    granted = _granted_to(name)
    for resource in _asl_resources(definition):
        needed = _actions_for_task(resource, {})
        assert needed <= granted, f"{name}: task {resource} needs {needed - granted}"


# ------------------------------------------------------------------------------------------------
# Fleet core: registry table, backup bucket, KMS key, topic
# ------------------------------------------------------------------------------------------------
def test_registry_table() -> None:
    table = resources(mod("fleet-core"), "aws_dynamodb_table")["registry"]
    assert val(table, "billing_mode") == "PAY_PER_REQUEST"
    assert (val(table, "hash_key"), val(table, "range_key")) == ("pk", "sk")
    assert val(table["point_in_time_recovery"][0], "enabled") is True
    sse = table["server_side_encryption"][0]
    assert val(sse, "enabled") is True and val(sse, "kms_key_arn") == "${aws_kms_key.this.arn}"
    ttl = table["ttl"][0]
    assert (val(ttl, "attribute_name"), val(ttl, "enabled")) == ("expires_at", True)
    assert val(table, "name") == "${var.name_prefix}-registry"


def test_backup_bucket() -> None:
    core = mod("fleet-core")
    assert (
        val(
            resources(core, "aws_s3_bucket_versioning")["backup"]["versioning_configuration"][0],
            "status",
        )
        == "Enabled"
    )
    sse = resources(core, "aws_s3_bucket_server_side_encryption_configuration")["backup"]["rule"][0]
    default = sse["apply_server_side_encryption_by_default"][0]
    assert (val(default, "sse_algorithm"), val(default, "kms_master_key_id")) == (
        "aws:kms",
        "${aws_kms_key.this.arn}",
    )
    pab = resources(core, "aws_s3_bucket_public_access_block")["backup"]
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert val(pab, flag) is True
    lifecycle = resources(core, "aws_s3_bucket_lifecycle_configuration")["backup"]["rule"][0]
    assert val(lifecycle["expiration"][0], "days") == "${var.backup_retention_days}"
    policy = data_sources(core, "aws_iam_policy_document")["backup"]
    tls = next(s for s in policy["statement"] if val(s, "sid") == "DenyInsecureTransport")
    assert val(tls, "effect") == "Deny"
    assert val(tls["condition"][0], "variable") == "${local.tls_only_deny_condition.variable}"
    assert locals_of(core)["tls_only_deny_condition"] == {
        "test": "Bool",
        "variable": "aws:SecureTransport",
        "values": ["false"],
    }


def test_kms_key_rotates_and_topic_is_encrypted() -> None:
    core = mod("fleet-core")
    key = resources(core, "aws_kms_key")["this"]
    assert val(key, "enable_key_rotation") is True
    assert val(key, "policy") == "${data.aws_iam_policy_document.kms.json}"
    topic = resources(core, "aws_sns_topic")["notifications"]
    assert val(topic, "kms_master_key_id") == "${aws_kms_key.this.arn}"
    outputs = outputs_of(core)
    assert {
        "registry_table_name",
        "registry_table_arn",
        "notification_topic_arn",
        "backup_bucket_name",
        "kms_key_arn",
        "artifact_location",
    } <= set(outputs)
