"""`xenectl logs PIPELINE|RUN [--run N] [--task T] [--step S] [-f] [--tail N] [--since D]
[--timestamps]`: a run's output."""

from __future__ import annotations

import click

from xene.api.errors import FieldError, Invalid
from xene.ctl.completion import complete_runs
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode
from xene.ctl.options import DurationParam


@click.command()
@click.argument("target", metavar="PIPELINE|RUN", shell_complete=complete_runs)
@click.option("--run", "number", type=click.IntRange(min=1), help="Run number [the latest].")
@click.option("--task", metavar="T", help="Only this task's output.")
@click.option("--step", metavar="S", help="Only this step's output (with --task).")
@click.option("--attempt", type=click.IntRange(min=1), help="Only this attempt of the run.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run has finished.")
@click.option(
    "--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines (then -f)."
)
@click.option(
    "--since", "since_seconds", type=DurationParam(), help="Only lines newer than this, e.g. 5m."
)
@click.option("--timestamps", is_flag=True, help="Start each line with the time it was written.")
@click.pass_obj
def logs(
    connection: ServerConnection,
    target: str,
    number: int | None,
    task: str | None,
    step: str | None,
    attempt: int | None,
    follow: bool,
    tail: int | None,
    since_seconds: int | None,
    timestamps: bool,
) -> None:
    """Print the output of a run of PIPELINE (WORKFLOW/PIPELINE), the latest unless --run N.

    Lines read `[task/step] text`, or just the text with --task and --step. With -f, a run
    that cannot start (its pipeline is NotScheduled) ends the wait with the reason, exit 1.
    """
    from xene.ctl.runs import is_finished, pipeline_of_run, resolve_run
    from xene.ctl.tables import waiting_reason

    if step and not task:
        raise Invalid([FieldError("--step", "give the task too: --task T --step S")])
    client = connection.client
    name = resolve_run(client, target, number)
    lines = client.run_logs(
        name,
        task=task,
        step=step,
        attempt=attempt,
        follow=follow,
        tail_lines=tail,
        since_seconds=since_seconds,
        timestamps=timestamps,
    )
    for line in lines:
        click.echo(line)
    if not follow:
        return
    # The server ends a follow when the run has finished, or when it cannot start.
    run = client.get("pipelineruns", name)
    if is_finished(run):
        return
    reason = waiting_reason(run, pipeline_of_run(client, run))
    if reason is not None:
        click.echo(f"error: run {name} is Pending and cannot start: {reason}", err=True)
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
