"""`xenectl get KIND [NAME]`: list objects as a table, YAML, JSON or names; `-w` follows changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_args

import click

from xene.api.errors import FieldError, Invalid
from xene.api.meta import utc_now
from xene.ctl.arguments import kind_and_name
from xene.ctl.client import ResourceList
from xene.ctl.connection import ServerConnection
from xene.ctl.output import OutputFormat, format_names, format_objects, stdout_console
from xene.ctl.tables import RowPrinter, build_table, render_plain, render_rich, sort_objects

Object = Mapping[str, Any]


class ObjectPrinter:
    """Prints objects in one output format: first what was listed, then (watch) each change."""

    def __init__(self, kind_plural: str, output: OutputFormat | None, watch: bool) -> None:
        self.kind_plural = kind_plural
        self.output = output
        self.watch = watch
        self._console = stdout_console()
        self._rows = RowPrinter(self._console, kind_plural, wide=output == "wide")
        self._printed_documents = 0

    def print_listing(self, objects: list[Object], resource_version: str | None) -> None:
        """The objects of a list, as a List object for YAML/JSON or a table."""
        if self.output in ("yaml", "json") and not self.watch:
            items = [dict(obj) for obj in objects]
            as_list = ResourceList("List", items, resource_version).to_dict()
            click.echo(format_objects(as_list, self.output), nl=False)
        elif self.output in ("yaml", "json", "name") or self.watch:
            self.print_changes(objects)
        elif objects:
            table = build_table(self.kind_plural, objects, utc_now(), wide=self.output == "wide")
            if self._console.is_terminal:
                render_rich(self._console, table)
            else:
                click.echo(render_plain(table), nl=False)
        if not objects and self.output not in ("yaml", "json", "name"):
            click.echo("No resources found.", err=True)

    def print_single(self, obj: Object) -> None:
        """One object asked for by name."""
        if self.output in ("yaml", "json"):
            self.print_changes([obj])
        else:
            self.print_listing([obj], None)

    def print_changes(self, objects: Iterable[Object]) -> None:
        """Objects one after another: table rows with fixed widths, names, or documents."""
        if self.output in ("yaml", "json"):
            for obj in objects:
                if self.output == "yaml" and self._printed_documents:
                    click.echo("---")
                click.echo(format_objects(obj, self.output), nl=False)
                self._printed_documents += 1
        elif self.output == "name":
            click.echo(format_names(objects), nl=False)
        else:
            self._rows.print_objects(objects, utc_now())


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Choice(get_args(OutputFormat)), help="Output format.")
@click.option("-l", "--selector", metavar="K=V[,K=V]", help="Only objects with these labels.")
@click.option("-w", "--watch", is_flag=True, help="After listing, print each change as it happens.")
@click.pass_obj
def get(
    connection: ServerConnection,
    kind: str,
    name: str | None,
    output: OutputFormat | None,
    selector: str | None,
    watch: bool,
) -> None:
    """List objects of KIND, or show the one called NAME.

    KIND is plural, singular or short: workflows (wf), pipelines (pl), triggers (tr),
    agents (ag), pipelineruns (runs).
    """
    kind_plural, name = kind_and_name(kind, name)
    if name and selector:
        raise Invalid([FieldError("--selector", "cannot be combined with a NAME")])
    client = connection.client
    printer = ObjectPrinter(kind_plural, output, watch)
    if name:
        single = client.get(kind_plural, name)
        printer.print_single(single)
        resource_version = (single.get("metadata") or {}).get("resourceVersion")
    else:
        listing = client.list(kind_plural, selector)
        printer.print_listing(sort_objects(kind_plural, listing.items), listing.resource_version)
        resource_version = listing.resource_version
    if not watch:
        return
    # Watching from the revision just listed: nothing that changes in between is missed.
    for event in client.watch(
        kind_plural, label_selector=selector, resource_version=resource_version
    ):
        if name is None or (event.object.get("metadata") or {}).get("name") == name:
            printer.print_changes([event.object])
