"""`xenectl version`: the client's version and the server's."""

from __future__ import annotations

import click

from xene import __version__
from xene.ctl.connection import ServerConnection


@click.command()
@click.option("--client", "client_only", is_flag=True, help="Only the client's version.")
@click.pass_obj
def version(connection: ServerConnection, client_only: bool) -> None:
    """Print the client and server versions."""
    click.echo(f"Client Version: {__version__}")
    if not client_only:
        click.echo(f"Server Version: {connection.client.version()}")
