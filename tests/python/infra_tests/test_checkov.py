"""checkov over infra/: zero failed checks; every skip is written next to its resource with a reason.

Terraform (infra/, every module and environment) and the SAM template (CloudFormation framework).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra_tests.infra_support import checkov, infra, repo_root

# Skips that were reviewed; a new one must be added here on purpose (with its reason in the code).
ALLOWED_SKIPS = {
    "CKV_AWS_117",  # Lambda in a VPC: optional by design (vpc_config / vpc_subnet_ids)
    "CKV_AWS_272",  # code signing: integrity from the manifest's sha256 (source_code_hash)
    "CKV_AWS_18",  # access logging of the access-log bucket itself
    "CKV_AWS_144",  # cross-Region replication
    "CKV_AWS_145",  # SSE-KMS on the access-log bucket (log delivery accepts only SSE-S3)
    "CKV2_AWS_62",  # S3 event notifications
    "CKV_AWS_338",  # one-year log retention: per environment
}

# Checks that must have run and passed: the properties the design asks for.
MUST_PASS_TERRAFORM = {
    "CKV_AWS_50",  # Lambda X-Ray tracing
    "CKV_AWS_116",  # Lambda DLQ
    "CKV_AWS_173",  # Lambda environment encrypted with KMS
    "CKV_AWS_158",  # log group KMS
    "CKV_AWS_66",  # log group retention
    "CKV_AWS_284",  # state machine X-Ray
    "CKV_AWS_285",  # state machine logging
    "CKV_AWS_28",  # DynamoDB point-in-time recovery
    "CKV_AWS_119",  # DynamoDB customer managed key
    "CKV_AWS_26",  # SNS encryption
    "CKV_AWS_27",  # SQS encryption
    "CKV_AWS_7",  # KMS rotation
    "CKV_AWS_21",  # S3 versioning
    "CKV2_AWS_6",  # S3 public access block
    "CKV2_AWS_61",  # S3 lifecycle
    "CKV_AWS_356",  # no "*" resource where the action allows narrower
    "CKV_AWS_111",  # no write access without constraints
    "CKV_AWS_319",  # alarm actions enabled
}


def _reports(raw: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return raw if isinstance(raw, list) else [raw]


@pytest.fixture(scope="module")
def terraform_report() -> dict[str, Any]:
    reports = _reports(
        checkov(["--directory", "infra", "--framework", "terraform"], cwd=repo_root())
    )
    (report,) = (r for r in reports if r.get("check_type") == "terraform")
    return report


@pytest.fixture(scope="module")
def sam_report() -> dict[str, Any]:
    reports = _reports(
        checkov(
            ["--file", "infra/sam/template.yaml", "--framework", "cloudformation"], cwd=repo_root()
        )
    )
    (report,) = (r for r in reports if r.get("check_type") == "cloudformation")
    return report


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{f['check_id']} {f['resource']} ({f['file_path']}:{f['file_line_range']}): {f['check_name']}"
        for f in report["results"].get("failed_checks", [])
    ]


def test_terraform_has_zero_failed_checks(terraform_report: dict[str, Any]) -> None:
    summary = terraform_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["failed"] == 0, "\n".join(_failures(terraform_report))
    assert summary["resource_count"] >= 70, summary


def test_terraform_checks_that_matter_ran_and_passed(terraform_report: dict[str, Any]) -> None:
    passed = {c["check_id"] for c in terraform_report["results"].get("passed_checks", [])}
    assert (
        passed >= MUST_PASS_TERRAFORM
    ), f"did not run or pass: {sorted(MUST_PASS_TERRAFORM - passed)}"


def test_terraform_skips_are_next_to_the_resource_with_a_reason(
    terraform_report: dict[str, Any]
) -> None:
    skipped = terraform_report["results"].get("skipped_checks", [])
    assert skipped, "expected the reviewed skips to be reported"
    for s in skipped:
        assert s["check_id"] in ALLOWED_SKIPS, f"unreviewed skip {s['check_id']} on {s['resource']}"
        reason = (s.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{s['check_id']} on {s['resource']} has no reason"
        path = infra() / s["file_path"].lstrip("/")
        lines = path.read_text().splitlines()
        start, end = s["file_line_range"]
        block = "\n".join(lines[start - 1 : end])
        assert re.search(
            rf"#\s*checkov:skip={s['check_id']}:\S", block
        ), f"{s['check_id']} is not skipped inside {s['resource']} ({path}:{start}-{end})"


def test_sam_template_has_zero_failed_checks(sam_report: dict[str, Any]) -> None:
    summary = sam_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["failed"] == 0, "\n".join(_failures(sam_report))
    assert summary["passed"] >= 100, summary
    for s in sam_report["results"].get("skipped_checks", []):
        assert s["check_id"] in ALLOWED_SKIPS, f"unreviewed skip {s['check_id']} on {s['resource']}"
        assert len((s.get("check_result") or {}).get("suppress_comment", "")) > 20
