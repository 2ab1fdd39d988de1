"""`xenectl get KIND[,KIND…] [NAME…]`: objects as a table, YAML, JSON, names or a template;
`-w` follows changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from xene.api.errors import FieldError, Invalid
from xene.ctl.completion import complete_kind_and_names
from xene.ctl.connection import ServerConnection
from xene.ctl.formats import OutputFormat
from xene.ctl.jsonpath import Path
from xene.ctl.options import (
    no_headers_option,
    output_option,
    selector_option,
    show_labels_option,
    sort_by_option,
)

if TYPE_CHECKING:
    from xene.ctl.client import XeneClient
    from xene.ctl.printing import ObjectPrinter


@click.command()
@click.argument(
    "targets",
    nargs=-1,
    required=True,
    metavar="KIND[,KIND...] [NAME...]",
    shell_complete=complete_kind_and_names,
)
@output_option()
@selector_option()
@click.option("-w", "--watch", is_flag=True, help="After listing, print each change as it happens.")
@sort_by_option()
@show_labels_option()
@no_headers_option()
@click.pass_obj
def get(
    connection: ServerConnection,
    targets: tuple[str, ...],
    output: OutputFormat | None,
    selector: str | None,
    watch: bool,
    sort_by: Path | None,
    show_labels: bool,
    no_headers: bool,
) -> None:
    """List objects of KINDs, or show the ones named.

    KIND is plural, singular or short: workflows (wf), pipelines (pl), triggers (tr),
    agents (ag), pipelineruns (runs); several kinds are joined by commas (get wf,pl).
    Objects may also be named KIND/NAME (get wf/hello pl/hello.build).

    \b
    Examples:
      xenectl get pipelines -l 'xene.dev/workflow in (hello,nightly)'
      xenectl get runs -o jsonpath='{.items[*].metadata.name}'
      xenectl get runs -o custom-columns=NAME:.metadata.name,PHASE:.status.phase
      xenectl get runs --sort-by=.status.startedAt
      xenectl get wf -o yaml > backup.yaml && xenectl apply -f backup.yaml
    """
    from xene.ctl.arguments import parse_targets
    from xene.ctl.printing import ObjectPrinter

    wanted = parse_targets(targets)
    if wanted.named and selector:
        raise Invalid([FieldError("--selector", "cannot be combined with names")])
    if watch and len(wanted.kinds) > 1:
        raise Invalid([FieldError("--watch", "watches one kind at a time")])
    printer = ObjectPrinter(
        output,
        show_labels=show_labels,
        headers=not no_headers,
        sort_by=sort_by,
        qualified_names=len(wanted.kinds) > 1,
    )
    client = connection.client
    if watch:
        _list_then_watch(client, printer, wanted.kinds[0], [n for _, n in wanted.objects], selector)
    elif wanted.named:
        found = [(plural, client.get(plural, name)) for plural, name in wanted.objects]
        if len(found) == 1:
            printer.print_single(*found[0])
        else:
            printer.print_listing([(plural, [obj]) for plural, obj in found])
    else:
        groups = []
        revision = None
        for plural in wanted.kinds:
            listing = client.list(plural, selector)
            groups.append((plural, printer.sorted(plural, listing.items)))
            revision = listing.resource_version
        printer.print_listing(groups, revision if len(groups) == 1 else None)


def _list_then_watch(
    client: XeneClient,
    printer: ObjectPrinter,
    kind_plural: str,
    names: list[str],
    selector: str | None,
) -> None:
    """Print the objects (those named, else all that match), then each change to them."""
    from xene.api.errors import NotFound
    from xene.api.kind_names import KIND_OF_PLURAL

    # One list gives the revision every later change is newer than: watching from it misses
    # nothing, which per-object revisions of several objects could not promise.
    listing = client.list(kind_plural, selector)
    objects = printer.sorted(kind_plural, listing.items)
    if names:
        by_name = {(obj.get("metadata") or {}).get("name"): obj for obj in objects}
        for name in names:
            if name not in by_name:
                raise NotFound(f"{KIND_OF_PLURAL[kind_plural].lower()} '{name}' not found")
        objects = [by_name[name] for name in names]
    printer.print_changes(kind_plural, objects)
    if not objects and printer.output.is_table:
        click.echo(printer.empty_message, err=True)
    for event in client.watch(
        kind_plural, label_selector=selector, resource_version=listing.resource_version
    ):
        if not names or (event.object.get("metadata") or {}).get("name") in names:
            printer.print_changes(kind_plural, [event.object])
