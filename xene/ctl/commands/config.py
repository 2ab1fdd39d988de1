"""`xenectl config`: read and write the server address and token in the config file."""

from __future__ import annotations

import click

from xene.api.errors import FieldError, Invalid
from xene.ctl.config import config_path, explain_settings, normalize_server, write_config_values
from xene.ctl.connection import ServerConnection


@click.group()
def config() -> None:
    """Show or change where xenectl finds the API server ($XENECTL_CONFIG or ~/.xene/config)."""


@config.command("view")
@click.pass_obj
def view(connection: ServerConnection) -> None:
    """Show the settings in effect and where each comes from (the token masked)."""
    flags = {"server": connection.server_flag, "token": connection.token_flag}
    click.echo(f"config file: {config_path()}")
    for setting in explain_settings(flags):
        click.echo(f"{setting.name}: {setting.value}  (from {setting.origin})")


@config.command("set-server")
@click.argument("url")
def set_server(url: str) -> None:
    """Save the API server address, e.g. http://10.0.0.5:8080 or 10.0.0.5:8080."""
    try:
        server = normalize_server(url)
    except ValueError as exc:
        raise Invalid([FieldError("URL", str(exc))]) from None
    path = config_path()
    write_config_values(path, {"server": server})
    click.echo(f"server set to {server} in {path}")


@config.command("set-token")
@click.option(
    "--token", prompt="API token", hide_input=True, help="The token; asked for when omitted."
)
def set_token(token: str) -> None:
    """Save the API bearer token (the file is readable by its owner only)."""
    path = config_path()
    write_config_values(path, {"token": token.strip()})
    click.echo(f"token saved in {path}")
