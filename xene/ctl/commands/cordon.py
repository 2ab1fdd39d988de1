"""`xenectl cordon|uncordon AGENT`: keep new pipelines off an agent, or let them on again."""

from __future__ import annotations

import click

from xene.ctl.completion import names_of
from xene.ctl.connection import ServerConnection


def _set(connection: ServerConnection, name: str, cordoned: bool) -> None:
    from xene.ctl.tables import dig

    client = connection.client
    before = client.get("agents", name)
    client.set_agent_cordoned(name, cordoned)
    verb = "cordoned" if cordoned else "uncordoned"
    if bool(dig(before, "spec", "unschedulable")) == cordoned:
        click.echo(f"agent.xene.dev/{name} already {verb}")
    else:
        click.echo(f"agent.xene.dev/{name} {verb}")


@click.command()
@click.argument("name", metavar="AGENT", shell_complete=names_of("agents"))
@click.pass_obj
def cordon(connection: ServerConnection, name: str) -> None:
    """Mark AGENT unschedulable: no new pipelines are placed on it.

    Pipelines already on it stay, with their triggers and runs; `get agents` shows
    SchedulingDisabled. Stop its xene-agent to move them, or uncordon it.
    """
    _set(connection, name, True)


@click.command()
@click.argument("name", metavar="AGENT", shell_complete=names_of("agents"))
@click.pass_obj
def uncordon(connection: ServerConnection, name: str) -> None:
    """Mark AGENT schedulable again."""
    _set(connection, name, False)
