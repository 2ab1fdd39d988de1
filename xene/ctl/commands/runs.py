"""`xenectl runs [--workflow W] [--pipeline P] [--status S] [-l SEL] [-w]`: the server's runs,
newest first."""

from __future__ import annotations

from typing import Any

import click

from xene.ctl.connection import ServerConnection
from xene.ctl.formats import OutputFormat
from xene.ctl.jsonpath import Path
from xene.ctl.options import no_headers_option, output_option, selector_option, sort_by_option

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")


def _newest_first(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(run: dict[str, Any]) -> tuple[str, int]:
        metadata = run.get("metadata") or {}
        number = (run.get("spec") or {}).get("number")
        return (
            str(metadata.get("creationTimestamp") or ""),
            number if isinstance(number, int) else 0,
        )

    return sorted(runs, key=key, reverse=True)


@click.command()
@click.option("--workflow", metavar="W", help="Only runs of this workflow.")
@click.option(
    "--pipeline", metavar="P", help="Only runs of this pipeline (W/P, or P with --workflow)."
)
@click.option("--status", metavar="PHASE", help="Pending, Running, Succeeded, Failed, Cancelled.")
@selector_option()
@output_option()
@click.option("-w", "--watch", is_flag=True, help="After listing, print each change as it happens.")
@sort_by_option()
@no_headers_option()
@click.pass_obj
def runs(
    connection: ServerConnection,
    workflow: str | None,
    pipeline: str | None,
    status: str | None,
    selector: str | None,
    output: OutputFormat | None,
    watch: bool,
    sort_by: Path | None,
    no_headers: bool,
) -> None:
    """List runs, newest first.

    With -w, runs that start or change are printed as they do (with --status, only those
    that reach that phase).
    """
    from xene.api.errors import FieldError, Invalid
    from xene.ctl.printing import ObjectPrinter
    from xene.ctl.runs import run_selector

    phase = None
    if status:
        phase = next((p for p in PHASES if p.lower() == status.lower()), None)
        if phase is None:
            raise Invalid([FieldError("--status", f"'{status}' is not one of {', '.join(PHASES)}")])
    selectors = [text for text in (run_selector(workflow, pipeline), selector) if text]
    label_selector = ",".join(selectors) or None
    client = connection.client
    listing = client.list_runs(label_selector, None if watch else phase)
    items = listing.items
    if watch and phase:
        items = [run for run in items if (run.get("status") or {}).get("phase") == phase]
    printer = ObjectPrinter(
        output, headers=not no_headers, sort_by=sort_by, empty_message="No runs found."
    )
    ordered = (
        printer.sorted("pipelineruns", _newest_first(items)) if sort_by else _newest_first(items)
    )
    if not watch:
        printer.print_listing([("pipelineruns", ordered)], listing.resource_version)
        return
    printer.print_changes("pipelineruns", ordered)
    if not ordered and printer.output.is_table:
        click.echo(printer.empty_message, err=True)
    for event in client.watch(
        "pipelineruns", label_selector=label_selector, resource_version=listing.resource_version
    ):
        if phase is None or (event.object.get("status") or {}).get("phase") == phase:
            printer.print_changes("pipelineruns", [event.object])
