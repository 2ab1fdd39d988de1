"""Naming runs on the command line, `-p key=value` parameters, and the live view of a run.

A pipeline is written `WORKFLOW/PIPELINE` (or its object name `WORKFLOW.PIPELINE`); a run is
`WORKFLOW.PIPELINE.N`, `WORKFLOW/PIPELINE/N`, or a pipeline plus `--run N`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from xene.api.derivation import PIPELINE_LABEL, WORKFLOW_LABEL
from xene.api.errors import FieldError, Invalid, NotFound, XeneError
from xene.api.meta import dns1123_label_problem
from xene.api.validation import env_name_problem
from xene.ctl.ages import NONE, elapsed
from xene.ctl.client import XeneClient
from xene.ctl.describe import task_order
from xene.ctl.output import PHASE_STYLES
from xene.ctl.tables import dig, run_pipeline_name, waiting_reason

Object = Mapping[str, Any]
FINISHED_PHASES = ("Succeeded", "Failed", "Cancelled")
_RUN_NAME = re.compile(r"^(?P<pipeline>[^./]+\.[^./]+)\.(?P<number>\d+)$")
STEP_MARKS = {"Success": "✓", "Error": "✗", "Running": "…", "NotExecuted": "·"}


@dataclass(frozen=True)
class PipelineRef:
    """A pipeline named on the command line."""

    workflow: str
    pipeline: str

    @property
    def object_name(self) -> str:
        """The Pipeline object's name, `workflow.pipeline`."""
        return f"{self.workflow}.{self.pipeline}"

    @property
    def label_selector(self) -> str:
        """The label selector of this pipeline's runs."""
        return f"{PIPELINE_LABEL}={self.object_name}"

    def run_name(self, number: int) -> str:
        """The name of run `number` of this pipeline."""
        return f"{self.object_name}.{number}"


def parse_pipeline(text: str, what: str = "PIPELINE") -> PipelineRef:
    """`hello/build` or `hello.build` as a PipelineRef; Invalid saying what is expected."""
    workflow, sep, pipeline = text.strip().partition("/")
    if not sep:
        workflow, sep, pipeline = text.strip().partition(".")
    if not sep or not workflow or not pipeline or "/" in pipeline or "." in pipeline:
        raise Invalid([FieldError(what, f"'{text}' is not WORKFLOW/PIPELINE (e.g. hello/build)")])
    for part, name in ((workflow, "workflow"), (pipeline, "pipeline")):
        problem = dns1123_label_problem(part)
        if problem:
            raise Invalid([FieldError(what, f"{name} {problem}")])
    return PipelineRef(workflow, pipeline)


def parse_run(text: str, number: int | None = None) -> tuple[PipelineRef, int | None]:
    """A run reference: `hello.build.3`, `hello/build/3`, or a pipeline and `--run N`."""
    text = text.strip()
    match = _RUN_NAME.match(text)
    if match is None and text.count("/") == 2:
        head, _, tail = text.rpartition("/")
        if tail.isdigit():
            match = _RUN_NAME.match(f"{head.replace('/', '.')}.{tail}")
    if match is not None:
        found = int(match.group("number"))
        if number is not None and number != found:
            raise Invalid([FieldError("--run", f"'{text}' already names run {found}")])
        return parse_pipeline(match.group("pipeline"), "RUN"), found
    return parse_pipeline(text), number


def parse_parameters(values: Iterable[str]) -> dict[str, str]:
    """`-p key=value` options as a dict; Invalid naming each malformed one."""
    parameters: dict[str, str] = {}
    problems: list[FieldError] = []
    for value in values:
        key, sep, text = value.partition("=")
        if not sep:
            problems.append(FieldError("-p", f"'{value}' is not key=value"))
            continue
        problem = env_name_problem(key)
        if problem:
            problems.append(FieldError("-p", problem))
            continue
        parameters[key] = text
    if problems:
        raise Invalid(problems)
    return parameters


def run_selector(workflow: str | None, pipeline: str | None) -> str | None:
    """The label selector for `--workflow` / `--pipeline` filters (`W/P` or `P` of W)."""
    labels: list[str] = []
    if pipeline:
        if "/" in pipeline or "." in pipeline:
            ref = parse_pipeline(pipeline, "--pipeline")
            if workflow and workflow != ref.workflow:
                raise Invalid(
                    [FieldError("--pipeline", f"'{pipeline}' is not of workflow '{workflow}'")]
                )
            labels.append(f"{PIPELINE_LABEL}={ref.object_name}")
        elif workflow:
            labels.append(f"{PIPELINE_LABEL}={workflow}.{pipeline}")
        else:
            raise Invalid(
                [FieldError("--pipeline", "give it as WORKFLOW/PIPELINE, or with --workflow")]
            )
    elif workflow:
        labels.append(f"{WORKFLOW_LABEL}={workflow}")
    return ",".join(labels) or None


def resolve_run(client: XeneClient, target: str, number: int | None = None) -> str:
    """The run name meant by `target` (and `--run`): the latest run when no number is given."""
    ref, number = parse_run(target, number)
    if number is None:
        number = latest_number(client.list_runs(ref.label_selector).items)
        if number is None:
            raise NotFound(f"pipeline {ref.workflow}/{ref.pipeline} has no runs yet")
    return ref.run_name(number)


def pipeline_of_run(client: XeneClient, run: Object) -> dict[str, Any] | None:
    """The Pipeline object of a run, or None when it cannot be read (the views do without)."""
    try:
        return client.get("pipelines", run_pipeline_name(run))
    except XeneError:
        return None


def latest_number(runs: Iterable[Object]) -> int | None:
    """The highest run number among `runs`."""
    numbers = [dig(run, "spec", "number") for run in runs]
    valid = [n for n in numbers if isinstance(n, int)]
    return max(valid) if valid else None


def is_finished(run: Object) -> bool:
    """True when the run has reached Succeeded, Failed or Cancelled."""
    return dig(run, "status", "phase") in FINISHED_PHASES


# ---- the progress of a run ----------------------------------------------------------------------


def ordered_tasks(run: Object, pipeline: Object | None) -> list[str]:
    """The run's tasks, each after its dependencies (from the pipeline when known)."""
    tasks = dig(run, "status", "tasks") or {}
    specs = dig(pipeline, "spec", "tasks") if pipeline is not None else None
    if isinstance(specs, Mapping) and specs:
        order = task_order(specs)
        return order + [name for name in tasks if name not in order]
    return list(tasks)


def step_summary(task: Object) -> str:
    """`fetch ✓ build ✗(2) test ·`: each step with a mark for its state and a failing code."""
    parts = []
    for step in task.get("steps") or []:
        if not isinstance(step, Mapping):
            continue
        state = str(step.get("state") or "NotExecuted")
        mark = STEP_MARKS.get(state, "?")
        code = step.get("exitCode")
        parts.append(f"{step.get('name')} {mark}" + (f"({code})" if code not in (None, 0) else ""))
    return " ".join(parts) or NONE


def task_rows(run: Object, pipeline: Object | None, now: datetime) -> list[list[str]]:
    """TASK, STATE, TIME, STEPS, DEPENDS ON for each task of the run."""
    tasks = dig(run, "status", "tasks") or {}
    specs = dig(pipeline, "spec", "tasks") if pipeline is not None else {}
    rows = []
    for name in ordered_tasks(run, pipeline):
        task = tasks.get(name) or {}
        depends = dig(specs, name, "dependencies") or []
        phase = str(task.get("phase") or "Waiting")
        if (task.get("attempt") or 0) > 1:
            phase += f" (attempt {task['attempt']})"
        rows.append(
            [
                name,
                phase,
                elapsed(task.get("startedAt"), task.get("finishedAt"), now),
                step_summary(task),
                ", ".join(str(d) for d in depends) or NONE,
            ]
        )
    return rows


def run_headline(run: Object, now: datetime, pipeline: Object | None = None) -> str:
    """`hello.build.3  Running  12s`; a Pending run that cannot start says why."""
    status = run.get("status") or {}
    name = dig(run, "metadata", "name")
    phase = status.get("phase") or "Pending"
    text = f"{name}  {phase}  {elapsed(status.get('startedAt'), status.get('finishedAt'), now)}"
    if status.get("message") and phase != "Running":
        text += f"  {status['message']}"
    reason = waiting_reason(run, pipeline)
    if reason is not None:
        text += f"  waiting: {reason}"
    return text


def render_run(run: Object, pipeline: Object | None, now: datetime) -> RenderableType:
    """The live view: a headline, then a table of the DAG's tasks with state and time."""
    status = run.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    headline = Text(run_headline(run, now, pipeline), style=PHASE_STYLES.get(phase, ""))
    table = RichTable(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    for header in ("TASK", "STATE", "TIME", "STEPS", "DEPENDS ON"):
        table.add_column(header, no_wrap=True)
    for row in task_rows(run, pipeline, now):
        state = row[1].split(" ", 1)[0]
        table.add_row(
            row[0], Text(row[1], style=PHASE_STYLES.get(state, "")), row[2], row[3], row[4]
        )
    return Group(headline, table)


class ProgressLines:
    """Plain lines for what changed since the last snapshot of a run (when not on a terminal)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def changes(self, run: Object, pipeline: Object | None, now: datetime) -> list[str]:
        """New lines for phase changes of the run, its tasks and their steps."""
        lines: list[str] = []
        status = run.get("status") or {}
        name = str(dig(run, "metadata", "name"))
        phase = str(status.get("phase") or "Pending")
        reason = waiting_reason(run, pipeline)
        detail = f"{phase}: waiting: {reason}" if reason else phase
        self._note(lines, "", detail, f"run {name}")
        tasks = status.get("tasks") or {}
        for task_name in ordered_tasks(run, pipeline):
            task = tasks.get(task_name) or {}
            phase = str(task.get("phase") or "Waiting")
            detail = phase
            if phase not in ("Waiting", "Ready", "Running") and task.get("startedAt"):
                detail += f" ({elapsed(task.get('startedAt'), task.get('finishedAt'), now)})"
            if task.get("message") and phase in ("Failed", "Skipped"):
                detail += f": {task['message']}"
            self._note(lines, f"task/{task_name}", detail, f"task {task_name}", key_value=phase)
            for step in task.get("steps") or []:
                if not isinstance(step, Mapping):
                    continue
                state = str(step.get("state") or "NotExecuted")
                if state == "NotExecuted":
                    continue
                text = state
                if step.get("exitCode") is not None and state != "Running":
                    text += f" (exit {step['exitCode']})"
                self._note(
                    lines,
                    f"step/{task_name}/{step.get('name')}/{task.get('attempt')}",
                    text,
                    f"  step {task_name}/{step.get('name')}",
                    key_value=state,
                )
        return lines

    def _note(
        self, lines: list[str], key: str, text: str, label: str, key_value: str | None = None
    ) -> None:
        value = key_value if key_value is not None else text
        if self._seen.get(key) != value:
            self._seen[key] = value
            lines.append(f"{label}: {text}")
