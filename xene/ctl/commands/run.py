"""`xenectl run WORKFLOW/PIPELINE [-p k=v] [--wait]`, and `xenectl run --local -f FILE`."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live

from xene.api.errors import FieldError, Invalid, Unavailable, XeneError
from xene.api.meta import utc_now
from xene.api.run import RunPhase
from xene.ctl.ages import elapsed
from xene.ctl.client import XeneClient
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode
from xene.ctl.local import EXECUTORS, git_commit, load_pipeline, make_executor, run_locally
from xene.ctl.output import stdout_console
from xene.ctl.runs import (
    ProgressLines,
    is_finished,
    parse_parameters,
    parse_pipeline,
    render_run,
)
from xene.ctl.tables import dig

POLL_SECONDS = 0.5
LOCAL_WORKSPACES = Path(tempfile.gettempdir()) / "xene-local"


def _pipeline_object(client: XeneClient, name: str) -> dict[str, Any] | None:
    try:
        return client.get("pipelines", name)
    except XeneError:
        return None  # the view works without it, only less ordered


def _poll(client: XeneClient, name: str, lost: list[bool]) -> dict[str, Any] | None:
    """The run now; None while the server cannot be reached (said once)."""
    try:
        run = client.get("pipelineruns", name)
    except Unavailable as exc:
        if not lost:
            click.echo(f"warning: {exc.message}; still trying (Ctrl-C stops waiting)", err=True)
            lost.append(True)
        return None
    lost.clear()
    return run


def wait_for_run(client: XeneClient, run: dict[str, Any], console: Console) -> dict[str, Any]:
    """Follow the run until it has finished: a live table on a terminal, else plain lines."""
    name = str(dig(run, "metadata", "name"))
    pipeline_name = f"{dig(run, 'spec', 'workflow')}.{dig(run, 'spec', 'pipeline')}"
    pipeline = _pipeline_object(client, pipeline_name)
    lost: list[bool] = []
    if console.is_terminal:
        with Live(
            render_run(run, pipeline, utc_now()), console=console, refresh_per_second=4
        ) as live:
            while not is_finished(run):
                time.sleep(POLL_SECONDS)
                run = _poll(client, name, lost) or run
                live.update(render_run(run, pipeline, utc_now()))
        return run
    progress = ProgressLines()
    while True:
        for line in progress.changes(run, pipeline, utc_now()):
            click.echo(line)
        if is_finished(run):
            return run
        time.sleep(POLL_SECONDS)
        run = _poll(client, name, lost) or run


def print_result(run: dict[str, Any]) -> int:
    """The final line(s) of a run; the exit code: 0 when it Succeeded, else 1."""
    status = run.get("status") or {}
    phase = status.get("phase")
    name = dig(run, "metadata", "name")
    took = elapsed(status.get("startedAt"), status.get("finishedAt"), utc_now())
    click.echo(f"run {name} {phase} in {took}")
    if phase == RunPhase.SUCCEEDED:
        return ExitCode.OK
    for task_name, task in (status.get("tasks") or {}).items():
        if task.get("phase") in ("Failed", "Cancelled") and task.get("message"):
            click.echo(f"  {task_name}: {task.get('phase')}: {task['message']}")
    if status.get("message"):
        click.echo(f"  {status['message']}")
    workflow, pipeline = dig(run, "spec", "workflow"), dig(run, "spec", "pipeline")
    number = dig(run, "spec", "number")
    click.echo(f"  see: xenectl logs {workflow}/{pipeline} --run {number}")
    return ExitCode.USER_ERROR


def _run_local(
    target: str | None,
    filename: str | None,
    pipeline: str | None,
    parameters: dict[str, str],
    executor_kind: str | None,
) -> int:
    if not filename:
        raise Invalid([FieldError("-f", "--local needs the workflow file: -f FILE")])
    if target and pipeline:
        raise Invalid([FieldError("--pipeline", "give the pipeline once: as argument or flag")])
    wanted = pipeline or target
    if wanted and "/" in wanted:
        wanted = parse_pipeline(wanted).pipeline
    local = load_pipeline(filename, wanted)
    kind = executor_kind or (local.spec.executor if local.spec.executor in EXECUTORS else "docker")
    executor = make_executor(kind, LOCAL_WORKSPACES)
    commit = git_commit(Path(local.source).parent) if local.source != "-" else None

    def started(name: str) -> None:
        click.echo(f"==> run {name} of {local.workflow}/{local.pipeline} ({kind} executor)")

    result = asyncio.run(
        run_locally(
            local,
            executor,
            parameters=parameters,
            out=sys.stdout,
            commit=commit,
            on_start=started,
        )
    )
    click.echo(f"==> run {result.name} {result.phase.value}; report: {result.report}")
    if result.phase == RunPhase.SUCCEEDED:
        return ExitCode.OK
    # Cancelled here means interrupted (Ctrl-C, SIGTERM): exit as a shell reports it.
    return ExitCode.INTERRUPTED if result.phase == RunPhase.CANCELLED else ExitCode.USER_ERROR


@click.command()
@click.argument("target", required=False, metavar="WORKFLOW/PIPELINE")
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A run parameter."
)
@click.option(
    "--wait", is_flag=True, help="Show the run live until it ends; exit 0 if it succeeded."
)
@click.option("--local", is_flag=True, help="Run here, in-process, without a server.")
@click.option("-f", "--filename", metavar="FILE", help="With --local: the workflow file.")
@click.option("--pipeline", metavar="NAME", help="With --local: which pipeline of the file.")
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    help="With --local: docker or process [the pipeline's, else docker].",
)
@click.pass_obj
def run(
    connection: ServerConnection,
    target: str | None,
    params: tuple[str, ...],
    wait: bool,
    local: bool,
    filename: str | None,
    pipeline: str | None,
    executor: str | None,
) -> None:
    """Start a run of WORKFLOW/PIPELINE; with --wait follow it to its end.

    With --local -f FILE the pipeline runs on this host with no server, output goes to the
    terminal and a report is written to ~/.xene/reports/ (see `xenectl report`).
    """
    parameters = parse_parameters(params)
    if local:
        if wait:
            raise Invalid([FieldError("--wait", "a local run always runs to its end")])
        code = _run_local(target, filename, pipeline, parameters, executor)
        raise click.exceptions.Exit(code)
    for flag, value in (("-f", filename), ("--pipeline", pipeline), ("--executor", executor)):
        if value:
            raise Invalid([FieldError(flag, "only with --local")])
    if not target:
        raise click.UsageError("run needs WORKFLOW/PIPELINE (or --local -f FILE)")
    ref = parse_pipeline(target)
    client = connection.client
    created = client.start_run(ref.object_name, parameters)
    name = dig(created, "metadata", "name")
    if not wait:
        click.echo(f"pipelinerun.xene.dev/{name} created")
        return
    click.echo(f"pipelinerun.xene.dev/{name} created; waiting for it to finish", err=True)
    try:
        finished = wait_for_run(client, created, stdout_console())
    except KeyboardInterrupt:
        click.echo(f"stopped waiting; the run goes on (xenectl cancel {name} stops it)", err=True)
        raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
    raise click.exceptions.Exit(print_result(finished))
