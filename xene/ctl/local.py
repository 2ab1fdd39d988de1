"""`xenectl run --local`: one pipeline of a workflow file run in-process by the engine.

No server is involved: the engine (PipelineRunner) drives an executor of the engine's registry on
this host, output is streamed to the terminal, and the run is written as a JSON report to
`~/.xene/reports/` (a PipelineRun object with trigger `local`, plus where it came from) with its
output next to it in a `.log` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from xene.api.derivation import PIPELINE_LABEL, WORKFLOW_LABEL
from xene.api.errors import FieldError, Invalid, XeneError
from xene.api.executors import DOCKER, parse_executor
from xene.api.meta import ObjectMeta, utc_now
from xene.api.pipeline import pipeline_object_name
from xene.api.plan import compile_plan
from xene.api.run import PipelineRun, PipelineRunSpec, PipelineRunStatus, RunPhase, RunTrigger
from xene.api.validation import validate_object
from xene.api.workflow import PipelineSpec, Workflow
from xene.ctl.files import load_documents
from xene.ctl.output import dump_json
from xene.ctl.reports import REPORT_SOURCE_ANNOTATION, reports_dir
from xene.engine import (
    Executor,
    ExecutorError,
    LogLine,
    PipelineRunner,
    RunEvent,
    RunObserver,
    StepFailed,
    StepStarted,
    StepSucceeded,
    TaskCancelled,
    TaskFailed,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    run_variables,
)
from xene.engine.executors.registry import ExecutorOptions, create_executor

RUN_NUMBER_LABEL = "xene.dev/run-number"
MAX_NUMBER_ATTEMPTS = 1000


@dataclass(frozen=True)
class LocalPipeline:
    """The pipeline to run and the workflow file it came from."""

    workflow: str
    pipeline: str
    spec: PipelineSpec
    source: str  # the file as resolved, or "-" for stdin


def load_pipeline(path: str, pipeline: str | None, stdin: Any = None) -> LocalPipeline:
    """The pipeline `pipeline` of the (one) workflow in `path`; the only one if not named."""
    documents = load_documents([path], stdin if stdin is not None else sys.stdin.buffer)
    workflows: list[Workflow] = []
    problems: list[FieldError] = []
    for document in documents:
        try:
            resource = validate_object(document.body)
        except Invalid as exc:
            problems.extend(
                FieldError(f"{path}: {e.path}".rstrip(": "), e.message) for e in exc.errors
            )
            continue
        if isinstance(resource, Workflow):
            workflows.append(resource)
    if problems:
        raise Invalid(problems)
    candidates = [
        (workflow, name, spec)
        for workflow in workflows
        for name, spec in workflow.spec.pipelines.items()
        if pipeline is None
        or name == pipeline
        or pipeline_object_name(workflow.name, name) == pipeline
    ]
    if not candidates:
        known = ", ".join(f"{w.name}/{p}" for w in workflows for p in w.spec.pipelines) or "none"
        what = f"no pipeline '{pipeline}'" if pipeline else "no pipeline"
        raise Invalid([FieldError("--pipeline", f"{path} has {what} (pipelines: {known})")])
    if len(candidates) > 1:
        known = ", ".join(f"{w.name}/{name}" for w, name, _ in candidates)
        raise Invalid(
            [FieldError("--pipeline", f"{path} has several pipelines: choose one of {known}")]
        )
    workflow, name, spec = candidates[0]
    source = str(Path(path).resolve()) if path != "-" else "-"
    return LocalPipeline(workflow.name, name, spec, source)


def git_commit(directory: Path) -> str | None:
    """The commit checked out around `directory`, when it is in a git work tree."""
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def reserve_report(directory: Path, workflow: str, pipeline: str) -> tuple[int, Path]:
    """The next local run number of a pipeline and its report file, created exclusively so
    that two local runs started at once never share a number."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f"{pipeline_object_name(workflow, pipeline)}."
    taken = []
    for entry in directory.glob(f"{prefix}*.json"):
        suffix = entry.name[len(prefix) : -len(".json")]
        if suffix.isdigit():
            taken.append(int(suffix))
    number = max(taken, default=0) + 1
    for _ in range(MAX_NUMBER_ATTEMPTS):
        path = directory / f"{prefix}{number}.json"
        try:
            with path.open("x") as handle:
                handle.write("{}\n")
            return number, path
        except FileExistsError:
            number += 1
    raise XeneError(f"could not reserve a report file in {directory}")


def make_executor(executor: str, workspaces: Path) -> Executor:
    """The executor `executor` names, built by the engine's registry: Docker from DOCKER_HOST
    (checked now, so an unreachable engine is reported before the run), host processes under
    `workspaces`, or an external one (whose runs fail until its provider is configured)."""
    try:
        return create_executor(executor, ExecutorOptions(workspaces=workspaces, check_docker=True))
    except ExecutorError as exc:
        advice = ", or use --executor process" if parse_executor(executor).kind == DOCKER else ""
        raise Invalid([FieldError("--executor", f"{exc}{advice}")]) from exc
    except ValueError as exc:
        raise Invalid([FieldError("--executor", str(exc))]) from exc


class TerminalReporter(RunObserver):
    """Prints a run's output lines (`[task/step] line`) and its transitions as they happen,
    and keeps the lines for the report's log file."""

    def __init__(self, out: TextIO, log_file: TextIO | None = None) -> None:
        self.out = out
        self.log_file = log_file

    def _say(self, text: str) -> None:
        self.out.write(f"==> {text}\n")
        self.out.flush()

    async def on_event(self, event: RunEvent) -> None:
        """One line per task and step transition worth seeing."""
        match event:
            case TaskStarted(task=task, attempt=attempt):
                self._say(f"{task}: started" + (f" (attempt {attempt})" if attempt > 1 else ""))
            case TaskRetrying(task=task, message=message, delay_seconds=delay):
                self._say(f"{task}: failed ({message}); retrying in {delay:g}s")
            case TaskSucceeded(task=task):
                self._say(f"{task}: Succeeded")
            case TaskFailed(task=task, message=message, allow_failure=allowed):
                self._say(f"{task}: Failed: {message}" + (" (allowed to fail)" if allowed else ""))
            case TaskCancelled(task=task, message=message):
                self._say(f"{task}: Cancelled" + (f": {message}" if message else ""))
            case TaskSkipped(task=task, message=message):
                self._say(f"{task}: Skipped: {message}")
            case StepStarted(task=task, step=step):
                self._say(f"{task}/{step}: running")
            case StepSucceeded(task=task, step=step):
                self._say(f"{task}/{step}: Success")
            case StepFailed(task=task, step=step, message=message, allow_failure=allowed):
                self._say(f"{task}/{step}: Error: {message}" + (" (allowed)" if allowed else ""))
            case _:
                pass

    async def on_log(self, line: LogLine) -> None:
        """The line, prefixed with its task and step."""
        text = f"[{line.task}/{line.step}] {line.line}\n"
        self.out.write(text)
        self.out.flush()
        if self.log_file is not None:
            self.log_file.write(text)


def report_object(
    local: LocalPipeline,
    number: int,
    status: PipelineRunStatus,
    parameters: dict[str, str],
    commit: str | None,
) -> PipelineRun:
    """The run as a PipelineRun object, the shape `describe` and `report` read."""
    name = f"{pipeline_object_name(local.workflow, local.pipeline)}.{number}"
    return PipelineRun(
        metadata=ObjectMeta(
            name=name,
            labels={
                WORKFLOW_LABEL: local.workflow,
                PIPELINE_LABEL: pipeline_object_name(local.workflow, local.pipeline),
                RUN_NUMBER_LABEL: str(number),
            },
            annotations={REPORT_SOURCE_ANNOTATION: "local"},
            creationTimestamp=status.startedAt or utc_now(),
        ),
        spec=PipelineRunSpec(
            workflow=local.workflow,
            pipeline=local.pipeline,
            number=number,
            trigger=RunTrigger(type="local", user=os.environ.get("USER") or None),
            parameters=parameters,
            commit=commit,
        ),
        status=status,
    )


@dataclass
class LocalRunResult:
    """How a local run ended and where its report is."""

    phase: RunPhase
    report: Path
    log: Path
    name: str


async def run_locally(
    local: LocalPipeline,
    executor: Executor,
    *,
    parameters: dict[str, str],
    out: TextIO,
    commit: str | None = None,
    directory: Path | None = None,
    install_signals: bool = True,
    on_start: Callable[[str], None] | None = None,
) -> LocalRunResult:
    """Run the pipeline to its end, printing as it goes, and write its report."""
    directory = directory or reports_dir()
    number, report_path = reserve_report(directory, local.workflow, local.pipeline)
    name = report_path.name.removesuffix(".json")
    log_path = report_path.with_suffix(".log")
    variables = run_variables(
        run_id=name,
        workflow=local.workflow,
        pipeline=local.pipeline,
        run_number=number,
        commit=commit,
        trigger_type="local",
        extra=parameters,
    )
    started = utc_now()
    status = PipelineRunStatus(phase=RunPhase.FAILED, startedAt=started)
    with log_path.open("w") as log_file:
        reporter = TerminalReporter(out, log_file)
        try:
            runner = PipelineRunner(
                compile_plan(local.spec),
                executor,
                run_id=name,
                variables=variables,
                observers=[reporter],
            )
        except (Invalid, ValueError) as exc:
            report_path.unlink(missing_ok=True)
            log_path.unlink(missing_ok=True)
            raise Invalid([FieldError("pipeline", str(exc))]) from exc
        if on_start is not None:
            on_start(name)
        loop = asyncio.get_running_loop()
        handled: list[int] = []
        if install_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(
                        signum,
                        runner.request_cancel,
                        f"interrupted by {signal.Signals(signum).name}",
                    )
                    handled.append(signum)
        try:
            status = await runner.run()
        finally:
            for handled_signal in handled:
                loop.remove_signal_handler(handled_signal)
            with contextlib.suppress(Exception):
                await executor.close()
            status.startedAt = status.startedAt or started
            status.finishedAt = status.finishedAt or utc_now()
            status.agent = socket.gethostname()
            report = report_object(local, number, status, parameters, commit).to_dict()
            report["report"] = {
                "source": "local",
                "file": local.source,
                "executor": getattr(executor, "name", ""),
                "host": socket.gethostname(),
                "logFile": str(log_path),
            }
            temporary = report_path.with_suffix(".json.tmp")
            temporary.write_text(dump_json(report))
            os.replace(temporary, report_path)
    return LocalRunResult(status.phase, report_path, log_path, name)
