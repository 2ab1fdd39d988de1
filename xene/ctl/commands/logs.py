"""`xenectl logs PIPELINE [--run N] [--task T] [--step S] [-f]`: a run's output."""

from __future__ import annotations

import click

from xene.api.errors import FieldError, Invalid, NotFound
from xene.ctl.client import XeneClient
from xene.ctl.connection import ServerConnection
from xene.ctl.runs import PipelineRef, latest_number, parse_run


def resolve_run(client: XeneClient, target: str, number: int | None) -> str:
    """The run name meant by `target` (and `--run`): the latest run when no number is given."""
    ref: PipelineRef
    ref, number = parse_run(target, number)
    if number is None:
        number = latest_number(client.list_runs(ref.label_selector).items)
        if number is None:
            raise NotFound(f"pipeline {ref.workflow}/{ref.pipeline} has no runs yet")
    return ref.run_name(number)


@click.command()
@click.argument("target", metavar="PIPELINE|RUN")
@click.option("--run", "number", type=click.IntRange(min=1), help="Run number [the latest].")
@click.option("--task", metavar="T", help="Only this task's output.")
@click.option("--step", metavar="S", help="Only this step's output (with --task).")
@click.option("--attempt", type=click.IntRange(min=1), help="Only this attempt of the run.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run has finished.")
@click.pass_obj
def logs(
    connection: ServerConnection,
    target: str,
    number: int | None,
    task: str | None,
    step: str | None,
    attempt: int | None,
    follow: bool,
) -> None:
    """Print the output of a run of PIPELINE (WORKFLOW/PIPELINE), the latest unless --run N.

    Lines read `[task/step] text`, or just the text with --task and --step.
    """
    if step and not task:
        raise Invalid([FieldError("--step", "give the task too: --task T --step S")])
    client = connection.client
    name = resolve_run(client, target, number)
    for line in client.run_logs(name, task=task, step=step, attempt=attempt, follow=follow):
        click.echo(line)
