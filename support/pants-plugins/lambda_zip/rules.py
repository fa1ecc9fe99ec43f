"""Rules of the `go_aws_lambda_function` plugin."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lambda_zip.target_types import (
    GoLambdaArchitectureField,
    GoLambdaBinaryField,
    LambdaZipSourceField,
)
from lambda_zip.zipping import deterministic_zip, normalize_zip
from pants.backend.go.target_types import GoBinaryMainPackageField
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    EnvironmentAwarePackageRequest,
    OutputPathField,
    PackageFieldSet,
)
from pants.engine.addresses import UnparsedAddressInputs
from pants.engine.fs import CreateDigest, Digest, DigestContents, FileContent
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, collect_rules, rule, rule_helper
from pants.engine.target import (
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    InvalidFieldException,
    Targets,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel


@dataclass(frozen=True)
class GoAwsLambdaFunctionFieldSet(PackageFieldSet):
    required_fields = (GoLambdaBinaryField,)

    binary: GoLambdaBinaryField
    architecture: GoLambdaArchitectureField
    output_path: OutputPathField


@rule(desc="Package a Go AWS Lambda function zip", level=LogLevel.DEBUG)
async def package_go_aws_lambda_function(field_set: GoAwsLambdaFunctionFieldSet) -> BuiltPackage:
    targets = await Get(
        Targets,
        UnparsedAddressInputs(
            [field_set.binary.value],
            owning_address=field_set.address,
            description_of_origin=f"the `binary` field of {field_set.address}",
        ),
    )
    if len(targets) != 1 or not targets[0].has_field(GoBinaryMainPackageField):
        raise InvalidFieldException(
            f"The `binary` field of {field_set.address} must name exactly one `go_binary` target, "
            f"got: {[str(t.address) for t in targets]}"
        )
    field_sets = await Get(
        FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets)
    )
    built = await Get(BuiltPackage, EnvironmentAwarePackageRequest(field_sets.field_sets[0]))
    contents = await Get(DigestContents, Digest, built.digest)
    files = list(contents)
    if len(files) != 1:
        raise InvalidFieldException(
            f"{targets[0].address} produced {len(files)} files; expected exactly one binary"
        )
    zip_bytes = deterministic_zip([("bootstrap", files[0].content, 0o755)])
    output = field_set.output_path.value_or_default(file_ending="zip")
    digest = await Get(Digest, CreateDigest([FileContent(output, zip_bytes)]))
    sha = hashlib.sha256(zip_bytes).hexdigest()
    return BuiltPackage(
        digest,
        (
            BuiltPackageArtifact(
                output,
                extra_log_lines=(
                    "    Runtime: provided.al2023",
                    f"    Architecture: {field_set.architecture.value}",
                    "    Handler: bootstrap",
                    f"    sha256: {sha}",
                ),
            ),
        ),
    )


LAMBDA_PYTHON = InterpreterConstraints(["CPython==3.11.*"])
"""The python3.11 Lambda runtime's interpreter: its bytecode is what the zips must carry."""


@rule_helper
async def _with_bytecode(zip_bytes: bytes, description: str) -> bytes:
    """Compile the zip's modules with Python 3.11 (zipping.py, run as a script in a sandbox)."""
    python = await Get(PythonExecutable, InterpreterConstraints, LAMBDA_PYTHON)
    script = (Path(__file__).parent / "zipping.py").read_bytes()
    inputs = await Get(
        Digest,
        CreateDigest([FileContent("zipping.py", script), FileContent("in.zip", zip_bytes)]),
    )
    result = await Get(
        ProcessResult,
        Process(
            argv=(python.path, "-I", "-B", "zipping.py", "compile", "in.zip", "out.zip"),
            input_digest=inputs,
            output_files=("out.zip",),
            env={"PYTHONHASHSEED": "0"},
            description=f"Compile bytecode (Python 3.11) into {description}",
            level=LogLevel.DEBUG,
        ),
    )
    contents = await Get(DigestContents, Digest, result.output_digest)
    return contents[0].content


@dataclass(frozen=True)
class NormalizedLambdaZipFieldSet(PackageFieldSet):
    required_fields = (LambdaZipSourceField,)

    source: LambdaZipSourceField
    output_path: OutputPathField


@rule(desc="Normalize a Lambda zip", level=LogLevel.DEBUG)
async def package_normalized_lambda_zip(field_set: NormalizedLambdaZipFieldSet) -> BuiltPackage:
    targets = await Get(
        Targets,
        UnparsedAddressInputs(
            [field_set.source.value],
            owning_address=field_set.address,
            description_of_origin=f"the `source` field of {field_set.address}",
        ),
    )
    field_sets = await Get(FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets))
    if len(targets) != 1 or len(field_sets.field_sets) != 1:
        raise InvalidFieldException(
            f"The `source` field of {field_set.address} must name exactly one package target"
        )
    built = await Get(BuiltPackage, EnvironmentAwarePackageRequest(field_sets.field_sets[0]))
    contents = await Get(DigestContents, Digest, built.digest)
    zips = [fc for fc in contents if fc.path.endswith(".zip")]
    if len(zips) != 1:
        raise InvalidFieldException(f"{targets[0].address} built {len(zips)} zips; expected one")
    normalized = normalize_zip(zips[0].content)
    zip_bytes = await _with_bytecode(normalized, str(field_set.address))
    output = field_set.output_path.value_or_default(file_ending="zip")
    digest = await Get(Digest, CreateDigest([FileContent(output, zip_bytes)]))
    sha = hashlib.sha256(zip_bytes).hexdigest()
    log_lines = tuple(
        line for artifact in built.artifacts for line in artifact.extra_log_lines
    ) + (f"    sha256: {sha}",)
    return BuiltPackage(digest, (BuiltPackageArtifact(output, extra_log_lines=log_lines),))


def rules() -> list:
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, GoAwsLambdaFunctionFieldSet),
        UnionRule(PackageFieldSet, NormalizedLambdaZipFieldSet),
    ]
