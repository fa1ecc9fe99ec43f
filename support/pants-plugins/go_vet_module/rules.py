"""`go vet` per Go module, run from the module's own directory."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pants.backend.go.target_types import GoPackageSourcesField
from pants.backend.go.util_rules.go_mod import (
    GoModInfo,
    GoModInfoRequest,
    OwningGoMod,
    OwningGoModRequest,
)
from pants.backend.go.util_rules.sdk import GoSdkProcess
from pants.core.goals.lint import LintResult, LintTargetsRequest
from pants.core.util_rules.partitions import PartitionerType
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.fs import Digest, MergeDigests
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import FieldSet
from pants.option.option_types import SkipOption
from pants.option.subsystem import Subsystem
from pants.util.logging import LogLevel
from pants.util.strutil import pluralize


class GoVetModuleSubsystem(Subsystem):
    options_scope = "go-vet-module"
    name = "go vet"
    help = "`go vet`, run from each Go module's directory (see support/pants-plugins/go_vet_module)."

    skip = SkipOption("lint")


@dataclass(frozen=True)
class GoVetModuleFieldSet(FieldSet):
    required_fields = (GoPackageSourcesField,)

    sources: GoPackageSourcesField


class GoVetModuleRequest(LintTargetsRequest):
    field_set_type = GoVetModuleFieldSet
    tool_subsystem = GoVetModuleSubsystem
    partitioner_type = PartitionerType.DEFAULT_SINGLE_PARTITION


@rule(desc="Lint with go vet (per module)", level=LogLevel.DEBUG)
async def run_go_vet_per_module(request: GoVetModuleRequest.Batch[GoVetModuleFieldSet, Any]) -> LintResult:
    owning = await MultiGet(
        Get(OwningGoMod, OwningGoModRequest(fs.address)) for fs in request.elements
    )
    by_module: dict[Any, list[GoVetModuleFieldSet]] = defaultdict(list)
    for fs, mod in zip(request.elements, owning):
        by_module[mod.address].append(fs)

    results = []
    for mod_address, field_sets in sorted(by_module.items(), key=lambda kv: str(kv[0])):
        sources, mod_info = await MultiGet(
            Get(SourceFiles, SourceFilesRequest(fs.sources for fs in field_sets)),
            Get(GoModInfo, GoModInfoRequest(mod_address)),
        )
        module_dir = os.path.dirname(mod_info.mod_path)
        digest = await Get(Digest, MergeDigests([sources.snapshot.digest, mod_info.digest]))
        package_dirs = sorted(
            {"./" + os.path.relpath(os.path.dirname(f), module_dir) for f in sources.snapshot.files}
        )
        results.append(
            await Get(
                FallibleProcessResult,
                GoSdkProcess(
                    ("vet", *package_dirs),
                    input_digest=digest,
                    working_dir=module_dir or None,
                    allow_downloads=True,
                    description=f"Run `go vet` on {pluralize(len(sources.snapshot.files), 'file')} in {module_dir}",
                ),
            )
        )
    exit_code = next((r.exit_code for r in results if r.exit_code != 0), 0)
    stdout = b"".join(r.stdout for r in results)
    stderr = b"".join(r.stderr for r in results)
    return LintResult(
        exit_code=exit_code,
        stdout=stdout.decode(),
        stderr=stderr.decode(),
        linter_name=request.tool_name,
        partition_description=request.partition_metadata.description,
    )


def rules() -> list:
    return [*collect_rules(), *GoVetModuleRequest.rules()]
