"""`xenectl describe KIND NAME`: one object in readable sections."""

from __future__ import annotations

from typing import Any

import click

from xene.api.errors import NotFound
from xene.api.meta import utc_now
from xene.api.pipeline import pipeline_object_name
from xene.ctl.arguments import kind_and_name
from xene.ctl.client import XeneClient
from xene.ctl.connection import ServerConnection
from xene.ctl.describe import describe as describe_object
from xene.ctl.output import stdout_console


def _derived_pipelines(client: XeneClient, workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Pipeline objects of a workflow by name, for their placement; missing ones are skipped."""
    workflow_name = str((workflow.get("metadata") or {}).get("name") or "")
    found = {}
    for pipeline in (workflow.get("spec") or {}).get("pipelines") or {}:
        object_name = pipeline_object_name(workflow_name, pipeline)
        try:
            found[object_name] = client.get("pipelines", object_name)
        except NotFound:
            continue  # not derived yet: the workflow was applied a moment ago
    return found


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.pass_obj
def describe(connection: ServerConnection, kind: str, name: str | None) -> None:
    """Show one object in detail: metadata, spec, status; for pipelines, where they run."""
    kind_plural, name = kind_and_name(kind, name)
    if not name:
        raise click.UsageError("describe needs a NAME: xenectl describe KIND NAME")
    client = connection.client
    obj = client.get(kind_plural, name)
    related = _derived_pipelines(client, obj) if kind_plural == "workflows" else {}
    view = describe_object(kind_plural, obj, utc_now(), related)
    console = stdout_console()
    if console.is_terminal:
        view.render_rich(console)
    else:
        click.echo(view.render_plain(), nl=False)
