"""`xenectl runs [--workflow W] [--pipeline P] [--status S]`: the server's runs, newest first."""

from __future__ import annotations

import click

from xene.api.meta import utc_now
from xene.ctl.client import ResourceList
from xene.ctl.connection import ServerConnection
from xene.ctl.output import format_objects, stdout_console
from xene.ctl.runs import run_selector
from xene.ctl.tables import build_table, render_plain, render_rich


@click.command()
@click.option("--workflow", metavar="W", help="Only runs of this workflow.")
@click.option("--pipeline", metavar="P", help="Only runs of this pipeline (W/P, or P with -w).")
@click.option("--status", metavar="PHASE", help="Pending, Running, Succeeded, Failed, Cancelled.")
@click.option("-o", "--output", type=click.Choice(["wide", "yaml", "json"]), help="Output format.")
@click.pass_obj
def runs(
    connection: ServerConnection,
    workflow: str | None,
    pipeline: str | None,
    status: str | None,
    output: str | None,
) -> None:
    """List runs, newest first."""
    listing = connection.client.list_runs(run_selector(workflow, pipeline), status)
    if output in ("yaml", "json"):
        as_list = ResourceList("List", listing.items, listing.resource_version).to_dict()
        click.echo(format_objects(as_list, "yaml" if output == "yaml" else "json"), nl=False)
        return
    if not listing.items:
        click.echo("No runs found.", err=True)
        return
    table = build_table("pipelineruns", listing.items, utc_now(), wide=output == "wide")
    console = stdout_console()
    if console.is_terminal:
        render_rich(console, table)
    else:
        click.echo(render_plain(table), nl=False)
