"""In-repo Pants plugin: `go vet` for Go modules that are not at the build root.

Why: Pants 2.17's `go vet` linter runs `go vet ./<pkg dirs>` from the sandbox root, so a module
whose go.mod lives in a subdirectory (ours: src/go/scaling) fails with "go.mod file not found".
This linter runs `go vet` once per module, from the module's directory.
"""

from go_vet_module import rules as vet_rules


def rules() -> list:
    return [*vet_rules.rules()]
