"""The artifact catalog: every deployable artifact `./pants package ::` writes to dist/.

This is the ONE place that names them (fleetctl builds the manifest from it; infra tests import
it). Paths are relative to dist/ and match the BUILD targets' `output_path`s.
"""

from __future__ import annotations

from dataclasses import dataclass

PYTHON_RUNTIME = "python3.11"
PYTHON_HANDLER = "lambda_function.handler"
GO_RUNTIME = "provided.al2023"
GO_HANDLER = "bootstrap"
ARCHITECTURE = "x86_64"


@dataclass(frozen=True)
class ArtifactSpec:
    """What the build promises about one artifact (everything but its bytes)."""

    name: str
    path: str
    runtime: str
    architecture: str
    handler: str


def _lambda(
    name: str, runtime: str = PYTHON_RUNTIME, handler: str = PYTHON_HANDLER
) -> ArtifactSpec:
    return ArtifactSpec(
        name=name,
        path=f"lambdas/{name}.zip",
        runtime=runtime,
        architecture=ARCHITECTURE,
        handler=handler,
    )


CATALOG: tuple[ArtifactSpec, ...] = tuple(
    sorted(
        (
            _lambda("fleet-sync"),
            _lambda("health-check"),
            _lambda("backup"),
            _lambda("restore"),
            _lambda("cleanup"),
            _lambda("workflow-tasks"),
            _lambda("scaling", runtime=GO_RUNTIME, handler=GO_HANDLER),
        ),
        key=lambda spec: spec.name,
    )
)
"""Every artifact, sorted by name (the manifest's order)."""

ARTIFACT_NAMES: tuple[str, ...] = tuple(spec.name for spec in CATALOG)


def by_name() -> dict[str, ArtifactSpec]:
    """The catalog keyed by artifact name."""
    return {spec.name: spec for spec in CATALOG}


def get(name: str) -> ArtifactSpec:
    """One artifact's spec; KeyError naming the known artifacts if `name` is not one."""
    specs = by_name()
    if name not in specs:
        raise KeyError(f"unknown artifact {name!r}; known: {', '.join(ARTIFACT_NAMES)}")
    return specs[name]
