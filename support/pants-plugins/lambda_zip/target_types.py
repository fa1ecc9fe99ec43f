"""Target type of the `go_aws_lambda_function` plugin."""

from pants.core.goals.package import OutputPathField
from pants.engine.target import COMMON_TARGET_FIELDS, StringField, Target
from pants.util.strutil import help_text


class GoLambdaBinaryField(StringField):
    alias = "binary"
    required = True
    help = help_text(
        "Address of the `go_binary` to ship as the function's `bootstrap` executable, e.g. `':bin'`."
    )


class GoLambdaArchitectureField(StringField):
    alias = "architecture"
    default = "x86_64"
    valid_choices = ("x86_64",)
    help = help_text(
        "Lambda architecture of the binary. Only x86_64: Pants 2.17's Go backend builds for the host."
    )


class GoAwsLambdaFunctionTarget(Target):
    alias = "go_aws_lambda_function"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OutputPathField,
        GoLambdaBinaryField,
        GoLambdaArchitectureField,
    )
    help = help_text(
        """
        A byte-reproducible AWS Lambda zip for the `provided.al2023` runtime: the `go_binary` named
        by `binary` stored at the zip root as an executable named `bootstrap`.
        """
    )


class LambdaZipSourceField(StringField):
    alias = "source"
    required = True
    help = help_text(
        "Address of a package target that builds a Lambda zip (e.g. a `python_awslambda`)."
    )


class NormalizedLambdaZipTarget(Target):
    alias = "normalized_lambda_zip"
    core_fields = (*COMMON_TARGET_FIELDS, OutputPathField, LambdaZipSourceField)
    help = help_text(
        """
        The zip built by `source`, rewritten byte-reproducibly: entries sorted, fixed timestamps
        and modes, and no `__pycache__`/`*.pyc` (which Pants' shared pex cache can pick up from
        earlier runs, so the same sources would otherwise give different bytes on different days).
        """
    )
