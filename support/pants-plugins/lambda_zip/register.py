"""In-repo Pants plugin: reproducible Lambda zips for Go binaries (`go_aws_lambda_function`).

Why: Pants 2.17's `archive` target stamps the current time into zip entries and keeps the binary's
output folder inside the zip, so the same sources never give the same bytes. This target wraps a
`go_binary` into a zip whose root holds an executable `bootstrap` (the `provided.al2023` contract),
with fixed timestamps and permissions: same binary, same zip, on any machine.
`normalized_lambda_zip` does the same for any zip-building target (our `python_awslambda`s).
"""

from lambda_zip import rules as lambda_zip_rules
from lambda_zip.target_types import GoAwsLambdaFunctionTarget, NormalizedLambdaZipTarget


def target_types() -> list[type]:
    return [GoAwsLambdaFunctionTarget, NormalizedLambdaZipTarget]


def rules() -> list:
    return [*lambda_zip_rules.rules()]
