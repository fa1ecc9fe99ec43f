"""The state machine definitions (`statemachines/<name>.asl.json`) and their placeholders.

The files are Terraform templates: `aws_sfn_state_machine.definition =
templatefile(path, definition_variables)`. `render` substitutes them exactly as `templatefile`
would for what these files may contain, and is stricter where a mistake would otherwise only show
up at `terraform apply`:

- `${name}` is replaced by the value of `name`; `name` must be one of `PLACEHOLDERS` and have a
  value (Terraform fails on an undefined variable too).
- `$${` is the escape for a literal `${`, and `%%{` for a literal `%{` (as in Terraform).
- Any other `${...}` (a Terraform expression) or `%{...}` (a template directive) is rejected:
  definitions carry plain placeholders only.
- Values for names the template does not use are fine (Terraform passes the same map to all
  three templates), but a value under a name outside `PLACEHOLDERS` is an error (a typo).

Used by tests and tooling; the Lambda never needs the definitions at run time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WORKFLOWS = ("deployment", "recovery", "maintenance")

PLACEHOLDERS = frozenset(
    {
        "workflow_tasks_function_arn",
        "restore_function_arn",
        "registry_table_name",
        "registry_table_arn",
        "notification_topic_arn",
        "recovery_state_machine_arn",
    }
)
"""The only names Terraform substitutes (infra/modules/fleet-ops: state_machine_template_variables)."""

_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|\$\{|%\{")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(ValueError):
    """A definition template that Terraform would reject or that breaks the placeholder contract."""


def statemachines_dir() -> Path:
    """`FLEETOPS_STATEMACHINES_DIR`, else `statemachines/` in the working directory (a Pants
    sandbox) or in the first parent of this file that has one (a checkout)."""
    override = os.environ.get("FLEETOPS_STATEMACHINES_DIR", "").strip()
    if override:
        return Path(override)
    candidates = [Path.cwd() / "statemachines"]
    candidates += [parent / "statemachines" for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "deployment.asl.json").is_file():
            return candidate
    raise FileNotFoundError("statemachines/ not found (set FLEETOPS_STATEMACHINES_DIR)")


def template_path(name: str) -> Path:
    if name not in WORKFLOWS:
        raise ValueError(f"unknown workflow {name!r}; expected one of {', '.join(WORKFLOWS)}")
    return statemachines_dir() / f"{name}.asl.json"


def template(name: str) -> str:
    return template_path(name).read_text(encoding="utf-8")


def placeholders_in(text: str) -> set[str]:
    """Every `${name}` the template uses (raises `TemplateError` on anything else)."""
    return set(_scan(text, None))


def render_text(text: str, values: Mapping[str, str]) -> str:
    unknown_values = sorted(set(values) - PLACEHOLDERS)
    if unknown_values:
        raise TemplateError(f"values for unknown placeholder(s): {', '.join(unknown_values)}")
    return "".join(_scan(text, values, emit=True))


def render(name: str, **values: str) -> str:
    """The definition of workflow `name` with its placeholders substituted, as Terraform does."""
    return render_text(template(name), values)


def load(name: str, **values: str) -> dict[str, Any]:
    """`render` parsed as JSON."""
    document: dict[str, Any] = json.loads(render(name, **values))
    return document


def _scan(text: str, values: Mapping[str, str] | None, *, emit: bool = False) -> list[str]:
    """Placeholder names (emit=False) or the rendered pieces (emit=True)."""
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        piece = match.group(0)
        line = text.count("\n", 0, match.start()) + 1
        if emit:
            out.append(text[position : match.start()])
        position = match.end()
        if piece == "$${":
            if emit:
                out.append("${")
            continue
        if piece == "%%{":
            if emit:
                out.append("%{")
            continue
        if piece == "%{":
            raise TemplateError(f"line {line}: template directive '%{{' is not allowed")
        name = match.group(1)
        if name is None:
            raise TemplateError(f"line {line}: unterminated '${{'")
        if not _IDENTIFIER.match(name):
            raise TemplateError(f"line {line}: '${{{name}}}' is an expression, not a placeholder")
        if name not in PLACEHOLDERS:
            raise TemplateError(f"line {line}: unknown placeholder '${{{name}}}'")
        if not emit:
            out.append(name)
            continue
        assert values is not None
        if name not in values:
            raise TemplateError(f"line {line}: no value for placeholder '${{{name}}}'")
        out.append(values[name])
    if emit:
        out.append(text[position:])
    return out
