"""`xenectl rerun RUN [--wait]`: a new run with the parameters and trigger payload of RUN."""

from __future__ import annotations

import click

from xene.ctl.completion import complete_runs
from xene.ctl.connection import ServerConnection


@click.command()
@click.argument("target", metavar="RUN", shell_complete=complete_runs)
@click.option("--run", "number", type=click.IntRange(min=1), help="Run number of PIPELINE.")
@click.option(
    "--wait", is_flag=True, help="Show the new run live until it ends; exit 0 if it succeeded."
)
@click.pass_obj
def rerun(connection: ServerConnection, target: str, number: int | None, wait: bool) -> None:
    """Start a new run with the parameters and trigger payload of RUN.

    RUN is hello.build.3, hello/build/3, or hello/build for its latest run. The new run uses
    the pipeline as it is now; its trigger records `rerunOf`.
    """
    from xene.ctl.commands.run import follow_to_end
    from xene.ctl.runs import resolve_run
    from xene.ctl.tables import dig

    client = connection.client
    original = resolve_run(client, target, number)
    created = client.rerun(original)
    name = dig(created, "metadata", "name")
    if not wait:
        click.echo(f"pipelinerun.xene.dev/{name} created (rerun of {original})")
        return
    click.echo(
        f"pipelinerun.xene.dev/{name} created (rerun of {original}); waiting for it to finish",
        err=True,
    )
    follow_to_end(client, created)
