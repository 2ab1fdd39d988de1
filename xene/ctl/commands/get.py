"""`xenectl get KIND[,KIND…] [NAME…]`: objects as a table, YAML, JSON, names or a template;
`-w` follows changes."""

from __future__ import annotations

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
    resource_version: str | None = None
    if wanted.named:
        found = [(plural, client.get(plural, name)) for plural, name in wanted.objects]
        if len(found) == 1 and not watch:
            printer.print_single(*found[0])
            return
        if watch and found:
            resource_version = max(
                (
                    str((obj.get("metadata") or {}).get("resourceVersion") or "0")
                    for _, obj in found
                ),
                key=int,
            )
            printer.print_changes(found[0][0], [obj for _, obj in found])
        else:
            printer.print_listing([(plural, [obj]) for plural, obj in found])
    else:
        groups = []
        for plural in wanted.kinds:
            listing = client.list(plural, selector)
            groups.append((plural, printer.sorted(plural, listing.items)))
            resource_version = listing.resource_version
        if watch:
            printer.print_changes(wanted.kinds[0], groups[0][1])
            if not groups[0][1] and printer.output.is_table:
                click.echo(printer.empty_message, err=True)
        else:
            printer.print_listing(groups, resource_version if len(groups) == 1 else None)
    if not watch:
        return
    names = {name for _, name in wanted.objects}
    # Watching from the revision just listed: nothing that changes in between is missed.
    for event in client.watch(
        wanted.kinds[0], label_selector=selector, resource_version=resource_version
    ):
        if not names or (event.object.get("metadata") or {}).get("name") in names:
            printer.print_changes(wanted.kinds[0], [event.object])
