"""Environment variables handed to steps: user-written layers plus the `XENE_*` facts of the run.

Values reach steps only as environment variables, never substituted into command text, so a
webhook payload can't inject shell code.
"""

from __future__ import annotations

from collections.abc import Mapping

from xene.api.validation import env_name_problem


def check_variable(name: str, value: str) -> None:
    """Raise ValueError when `name`/`value` can't be an environment variable."""
    problem = env_name_problem(name)
    if problem:
        raise ValueError(problem)
    if "\x00" in value:
        raise ValueError(f"environment variable '{name}' contains a NUL character")


def merge_environment(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win; every name and value is checked."""
    merged: dict[str, str] = {}
    for layer in layers:
        for name, value in layer.items():
            check_variable(name, value)
            merged[name] = value
    return merged


def run_variables(
    *,
    run_id: str,
    workflow: str,
    pipeline: str,
    run_number: int,
    commit: str | None = None,
    trigger_type: str | None = None,
    trigger_name: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The `XENE_*` variables of one run; `extra` (e.g. webhook fields) is added as given."""
    variables = {
        "XENE_RUN_ID": run_id,
        "XENE_WORKFLOW": workflow,
        "XENE_PIPELINE": pipeline,
        "XENE_RUN_NUMBER": str(run_number),
    }
    if commit:
        variables["XENE_COMMIT"] = commit
    if trigger_type:
        variables["XENE_TRIGGER"] = trigger_type
    if trigger_name:
        variables["XENE_TRIGGER_NAME"] = trigger_name
    variables.update(extra or {})
    return merge_environment(variables)
