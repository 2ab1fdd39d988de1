"""`xenectl describe KIND NAME`: one object in readable sections, with what it relates to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from xene.ctl.completion import complete_kind_and_names
from xene.ctl.connection import ServerConnection

if TYPE_CHECKING:
    from xene.ctl.client import XeneClient
    from xene.ctl.describe import Related

RECENT_RUNS = 5


def _derived_pipelines(client: XeneClient, workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Pipeline objects of a workflow by name, for their placement; missing ones are skipped."""
    from xene.api.errors import NotFound
    from xene.api.pipeline import pipeline_object_name

    workflow_name = str((workflow.get("metadata") or {}).get("name") or "")
    found = {}
    for pipeline in (workflow.get("spec") or {}).get("pipelines") or {}:
        object_name = pipeline_object_name(workflow_name, pipeline)
        try:
            found[object_name] = client.get("pipelines", object_name)
        except NotFound:
            continue  # not derived yet: the workflow was applied a moment ago
    return found


def _related(client: XeneClient, kind_plural: str, obj: dict[str, Any]) -> Related:
    """What the view of `obj` shows besides it: fetched per kind; a part the server cannot
    give (an older server, a race with a delete) is left out rather than failing the view."""
    from xene.api.derivation import PIPELINE_LABEL
    from xene.api.errors import Unavailable, XeneError
    from xene.ctl.describe import Related
    from xene.ctl.runs import pipeline_of_run

    name = str((obj.get("metadata") or {}).get("name") or "")
    try:
        if kind_plural == "workflows":
            return Related(pipelines=_derived_pipelines(client, obj))
        if kind_plural == "pipelines":
            runs = client.list_runs(f"{PIPELINE_LABEL}={name}").items
            return Related(runs=runs[:RECENT_RUNS], run_count=len(runs))
        if kind_plural == "pipelineruns":
            pipeline = pipeline_of_run(client, obj)
            pipelines = {} if pipeline is None else {pipeline["metadata"]["name"]: pipeline}
            return Related(pipelines=pipelines, events=client.run_events(name))
        if kind_plural == "triggers" and (obj.get("spec") or {}).get("type") == "webhook":
            return Related(webhook=client.webhook_info(name))
    except Unavailable:
        raise
    except XeneError:
        pass
    return Related()


@click.command()
@click.argument("kind", shell_complete=complete_kind_and_names)
@click.argument("name", required=False, shell_complete=complete_kind_and_names)
@click.pass_obj
def describe(connection: ServerConnection, kind: str, name: str | None) -> None:
    """Show one object in detail.

    Besides metadata, spec and status: a workflow's pipelines with their placement; a
    pipeline's recent runs; a run's tasks in DAG order, its events and, while it cannot
    start, why; a webhook trigger's URLs and whether the server has its secret.
    """
    from xene.api.meta import utc_now
    from xene.ctl.arguments import kind_and_name, object_name
    from xene.ctl.describe import describe as describe_object
    from xene.ctl.output import stdout_console

    kind_plural, name = kind_and_name(kind, name)
    if not name:
        raise click.UsageError("describe needs a NAME: xenectl describe KIND NAME")
    client = connection.client
    obj = client.get(kind_plural, object_name(kind_plural, name))
    view = describe_object(kind_plural, obj, utc_now(), _related(client, kind_plural, obj))
    console = stdout_console()
    if console.is_terminal:
        view.render_rich(console)
    else:
        click.echo(view.render_plain(), nl=False)
