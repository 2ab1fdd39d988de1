"""`xenectl cancel RUN`: stop a run (at once while Pending, else through its agent)."""

from __future__ import annotations

import click

from xene.ctl.completion import complete_runs
from xene.ctl.connection import ServerConnection


@click.command()
@click.argument("target", metavar="RUN", shell_complete=complete_runs)
@click.option("--run", "number", type=click.IntRange(min=1), help="Run number of PIPELINE.")
@click.pass_obj
def cancel(connection: ServerConnection, target: str, number: int | None) -> None:
    """Cancel RUN (hello.build.3, hello/build/3, or hello/build for its latest run)."""
    from xene.ctl.runs import resolve_run
    from xene.ctl.tables import dig

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
