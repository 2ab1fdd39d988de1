"""`xenectl suspend|resume TRIGGER`: stop and restart a trigger's runs by hand.

The change reaches the agent serving a cron trigger at once, and holds across re-applies of the
workflow until the workflow itself changes the trigger's `suspend`.
"""

from __future__ import annotations

import click

from xene.ctl.completion import names_of
from xene.ctl.connection import ServerConnection


def trigger_name(text: str) -> str:
    """`hello.nightly`, or `hello/nightly` (WORKFLOW/TRIGGER), as the Trigger object's name."""
    workflow, slash, trigger = text.strip().partition("/")
    return f"{workflow}.{trigger}" if slash and workflow and trigger else text.strip()


def _set(connection: ServerConnection, target: str, suspend: bool) -> None:
    from xene.ctl.tables import dig

    client = connection.client
    name = trigger_name(target)
    before = client.get("triggers", name)
    after = client.set_trigger_suspended(name, suspend)
    verb = "suspended" if suspend else "resumed"
    if bool(dig(before, "spec", "suspend")) == suspend:
        click.echo(f"trigger.xene.dev/{name} already {verb}")
    else:
        click.echo(f"trigger.xene.dev/{name} {verb}")
    workflow_says = dig(after, "status", "suspendOverride", "workflowSuspend")
    if workflow_says is not None:
        click.echo(
            f"  (workflow {dig(after, 'spec', 'workflow')} says suspend: "
            f"{str(workflow_says).lower()}; this holds until the workflow changes it)",
            err=True,
        )


@click.command()
@click.argument("target", metavar="TRIGGER", shell_complete=names_of("triggers"))
@click.pass_obj
def suspend(connection: ServerConnection, target: str) -> None:
    """Stop TRIGGER from starting runs until it is resumed.

    TRIGGER is hello.nightly or hello/nightly. Runs already started go on.
    """
    _set(connection, target, True)


@click.command()
@click.argument("target", metavar="TRIGGER", shell_complete=names_of("triggers"))
@click.pass_obj
def resume(connection: ServerConnection, target: str) -> None:
    """Let a suspended TRIGGER start runs again."""
    _set(connection, target, False)
