"""`xenectl run WORKFLOW/PIPELINE [-p k=v] [--wait]`, and `xenectl run --local -f FILE`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xene.api.errors import FieldError, Invalid, Unavailable
from xene.api.executors import HOST_KINDS
from xene.ctl.completion import complete_pipelines
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from xene.ctl.client import XeneClient

POLL_SECONDS = 0.5
LOCAL_WORKSPACES = Path(tempfile.gettempdir()) / "xene-local"


class RunWatcher:
    """Reads a run again and again; while it waits for an agent, its pipeline too (whose
    placement says why it cannot start)."""

    def __init__(self, client: XeneClient, run: dict[str, Any]) -> None:
        from xene.ctl.runs import pipeline_of_run
        from xene.ctl.tables import dig

        self.client = client
        self.run = run
        self.name = str(dig(run, "metadata", "name"))
        self.pipeline = pipeline_of_run(client, run)
        self._lost = False

    def poll(self) -> None:
        """Read the run (and, while it is Pending, its pipeline); say once when the server
        cannot be reached, and keep what was last read meanwhile."""
        from xene.ctl.runs import pipeline_of_run
        from xene.ctl.tables import dig

        try:
            self.run = self.client.get("pipelineruns", self.name)
        except Unavailable as exc:
            if not self._lost:
                click.echo(f"warning: {exc.message}; still trying (Ctrl-C stops waiting)", err=True)
                self._lost = True
            return
        self._lost = False
        if dig(self.run, "status", "phase") in (None, "Pending"):
            self.pipeline = pipeline_of_run(self.client, self.run) or self.pipeline


def wait_for_run(client: XeneClient, run: dict[str, Any], console: Console) -> dict[str, Any]:
    """Follow the run until it has finished: a live table on a terminal, else plain lines."""
    from rich.live import Live

    from xene.api.meta import utc_now
    from xene.ctl.runs import ProgressLines, is_finished, render_run

    watcher = RunWatcher(client, run)
    if console.is_terminal:
        view = render_run(watcher.run, watcher.pipeline, utc_now())
        with Live(view, console=console, refresh_per_second=4) as live:
            while not is_finished(watcher.run):
                time.sleep(POLL_SECONDS)
                watcher.poll()
                live.update(render_run(watcher.run, watcher.pipeline, utc_now()))
        return watcher.run
    progress = ProgressLines()
    while True:
        for line in progress.changes(watcher.run, watcher.pipeline, utc_now()):
            click.echo(line)
        if is_finished(watcher.run):
            return watcher.run
        time.sleep(POLL_SECONDS)
        watcher.poll()


def print_result(run: dict[str, Any]) -> int:
    """The final line(s) of a run; the exit code: 0 when it Succeeded, else RUN_FAILED."""
    from xene.api.meta import utc_now
    from xene.ctl.ages import elapsed
    from xene.ctl.tables import dig

    status = run.get("status") or {}
    phase = status.get("phase")
    name = dig(run, "metadata", "name")
    took = elapsed(status.get("startedAt"), status.get("finishedAt"), utc_now())
    click.echo(f"run {name} {phase} in {took}")
    if phase == "Succeeded":
        return ExitCode.OK
    for task_name, task in (status.get("tasks") or {}).items():
        if task.get("phase") in ("Failed", "Cancelled") and task.get("message"):
            click.echo(f"  {task_name}: {task.get('phase')}: {task['message']}")
    if status.get("message"):
        click.echo(f"  {status['message']}")
    workflow, pipeline = dig(run, "spec", "workflow"), dig(run, "spec", "pipeline")
    number = dig(run, "spec", "number")
    click.echo(f"  see: xenectl logs {workflow}/{pipeline} --run {number}")
    return ExitCode.RUN_FAILED


def follow_to_end(client: XeneClient, run: dict[str, Any]) -> None:
    """Wait for `run` to finish, print how it ended, and exit 0, RUN_FAILED or INTERRUPTED."""
    from xene.ctl.output import stdout_console
    from xene.ctl.tables import dig

    name = dig(run, "metadata", "name")
    try:
        finished = wait_for_run(client, run, stdout_console())
    except KeyboardInterrupt:
        click.echo(f"stopped waiting; the run goes on (xenectl cancel {name} stops it)", err=True)
        raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
    raise click.exceptions.Exit(print_result(finished))


def _run_local(
    target: str | None,
    filename: str | None,
    pipeline: str | None,
    parameters: dict[str, str],
    executor_kind: str | None,
) -> int:
    import asyncio

    from xene.api.run import RunPhase
    from xene.ctl.local import git_commit, load_pipeline, make_executor, run_locally
    from xene.ctl.runs import parse_pipeline

    if not filename:
        raise Invalid([FieldError("-f", "--local needs the workflow file: -f FILE")])
    if target and pipeline:
        raise Invalid([FieldError("--pipeline", "give the pipeline once: as argument or flag")])
    wanted = pipeline or target
    if wanted and "/" in wanted:
        wanted = parse_pipeline(wanted).pipeline
    local = load_pipeline(filename, wanted)
    kind = executor_kind or local.spec.executor
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
    return ExitCode.INTERRUPTED if result.phase == RunPhase.CANCELLED else ExitCode.RUN_FAILED


@click.command()
@click.argument(
    "target", required=False, metavar="WORKFLOW/PIPELINE", shell_complete=complete_pipelines
)
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A run parameter."
)
@click.option(
    "--wait",
    is_flag=True,
    help="Show the run live until it ends; exit 0 if it succeeded, 3 if not.",
)
@click.option("--local", is_flag=True, help="Run here, in-process, without a server.")
@click.option("-f", "--filename", metavar="FILE", help="With --local: the workflow file.")
@click.option("--pipeline", metavar="NAME", help="With --local: which pipeline of the file.")
@click.option(
    "--executor",
    type=click.Choice(HOST_KINDS),
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

    With --wait, a run that cannot start yet (its pipeline is NotScheduled) shows why while
    it waits. With --local -f FILE the pipeline runs on this host with no server, output goes
    to the terminal and a report is written to ~/.xene/reports/ (see `xenectl report`).
    Exit codes: 0 the run succeeded (or was started), 3 it failed or was cancelled.
    """
    from xene.ctl.runs import parse_parameters, parse_pipeline
    from xene.ctl.tables import dig

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
    follow_to_end(client, created)
