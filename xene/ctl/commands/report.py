"""`xenectl report`: local run reports (~/.xene/reports) and the server's runs, filtered."""

from __future__ import annotations

from typing import Any

import click

from xene.api.errors import Unavailable
from xene.ctl.completion import complete_pipelines
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import error_lines


def _server_runs(
    connection: ServerConnection, workflow: str | None, pipeline: str | None, strict: bool
) -> list[dict[str, Any]]:
    from xene.ctl.runs import run_selector

    selector = None
    if pipeline and ("/" in pipeline or "." in pipeline or workflow):
        selector = run_selector(workflow, pipeline)
    elif workflow:
        selector = run_selector(workflow, None)
    try:
        return connection.client.list_runs(selector).items
    except Unavailable as exc:
        if strict:
            raise
        for line in error_lines(exc):
            click.echo(line.replace("error:", "warning: server runs not listed:", 1), err=True)
        return []


@click.command()
@click.option("--workflow", metavar="W", help="Only runs of this workflow.")
@click.option(
    "--pipeline",
    metavar="P",
    help="Only runs of this pipeline (P or W/P).",
    shell_complete=complete_pipelines,
)
@click.option("--run", "number", type=click.IntRange(min=1), help="Only run number N.")
@click.option("--task", metavar="T", help="Only runs with task T, showing its state.")
@click.option("--status", metavar="PHASE", help="Only runs (or with --task, tasks) in PHASE.")
@click.option(
    "--source",
    type=click.Choice(["local", "server", "all"]),
    default="all",
    show_default=True,
    help="Local reports, the server's runs, or both.",
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), help="Output format.")
@click.pass_obj
def report(
    connection: ServerConnection,
    workflow: str | None,
    pipeline: str | None,
    number: int | None,
    task: str | None,
    status: str | None,
    source: str,
    output: str | None,
) -> None:
    """List run reports; one run (a single match) is shown with its tasks and steps."""
    from xene.api.meta import utc_now
    from xene.ctl.describe import describe
    from xene.ctl.output import format_objects, stdout_console
    from xene.ctl.reports import (
        ReportFilter,
        load_local_reports,
        newest_first,
        report_table,
        reports_dir,
    )
    from xene.ctl.runs import parse_pipeline
    from xene.ctl.tables import render_plain, render_rich

    if pipeline and "/" in pipeline:
        parse_pipeline(pipeline, "--pipeline")  # a clear error for a malformed W/P
    runs: list[dict[str, Any]] = []
    if source in ("local", "all"):
        runs += load_local_reports(reports_dir())
    if source in ("server", "all"):
        runs += _server_runs(connection, workflow, pipeline, strict=source == "server")
    wanted = ReportFilter(workflow, pipeline, number, task, status)
    matches = newest_first(run for run in runs if wanted.matches(run))
    if output:
        items = [dict(run) for run in matches]
        body = {"apiVersion": "xene.dev/v1", "kind": "List", "items": items}
        click.echo(format_objects(body, "yaml" if output == "yaml" else "json"), nl=False)
        return
    if not matches:
        click.echo("No reports found.", err=True)
        return
    console = stdout_console()
    if number is not None and len(matches) == 1:
        view = describe("pipelineruns", matches[0], utc_now())
        extra = matches[0].get("report")
        if isinstance(extra, dict):
            view.field("Source", f"local report ({extra.get('executor')} executor)")
            view.field("Log File", extra.get("logFile"))
        if console.is_terminal:
            view.render_rich(console)
        else:
            click.echo(view.render_plain(), nl=False)
        return
    table = report_table(matches, utc_now(), task)
    if console.is_terminal:
        render_rich(console, table)
    else:
        click.echo(render_plain(table), nl=False)
