"""`xenectl cancel RUN`: stop a run (at once while Pending, else through its agent)."""

from __future__ import annotations

import click

from xene.ctl.commands.logs import resolve_run
from xene.ctl.connection import ServerConnection
from xene.ctl.tables import dig


@click.command()
@click.argument("target", metavar="RUN")
@click.option("--run", "number", type=click.IntRange(min=1), help="Run number of PIPELINE.")
@click.pass_obj
def cancel(connection: ServerConnection, target: str, number: int | None) -> None:
    """Cancel RUN (hello.build.3, or hello/build --run 3; hello/build alone: its latest run)."""
    client = connection.client
    name = resolve_run(client, target, number)
    run = client.cancel_run(name)
    phase = dig(run, "status", "phase")
    if phase == "Cancelled":
        click.echo(f"pipelinerun.xene.dev/{name} cancelled")
    elif phase in ("Succeeded", "Failed"):
        click.echo(f"pipelinerun.xene.dev/{name} had already finished: {phase}")
    else:
        click.echo(f"pipelinerun.xene.dev/{name} cancel requested")
