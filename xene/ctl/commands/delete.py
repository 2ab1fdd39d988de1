"""`xenectl delete KIND NAME...`, `delete KIND -l SELECTOR` or `delete -f FILE`: remove objects
(a workflow takes its pipelines and triggers with it; a run its logs)."""

from __future__ import annotations

import click

from xene.api.errors import FieldError, Invalid, NotFound, Unavailable, XeneError
from xene.api.kind_names import KIND_OF_PLURAL
from xene.ctl.commands.apply import FILENAME_HELP
from xene.ctl.completion import complete_kind_and_names
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode
from xene.ctl.options import selector_option


def _targets(
    connection: ServerConnection,
    kind: str | None,
    names: tuple[str, ...],
    paths: tuple[str, ...],
    selector: str | None,
) -> list[tuple[str, str]]:
    """(plural kind, name) of each object to delete, from arguments, a selector or files."""
    from xene.api.kind_names import plural_of_kind
    from xene.ctl.arguments import kind_and_name, object_name

    if paths:
        if kind or names or selector:
            raise Invalid([FieldError("-f", "give either -f FILE, or KIND with NAMEs or -l")])
        from xene.ctl.commands.apply import read_documents

        targets = []
        for document in read_documents(paths):
            if not document.name:
                raise Invalid([FieldError(document.source, "a document has no metadata.name")])
            targets.append((plural_of_kind(document.kind), document.name))
        return targets
    if not kind:
        raise click.UsageError("give KIND NAME..., KIND -l SELECTOR, or -f FILE")
    plural, slash_name = kind_and_name(kind, None)
    all_names = ([slash_name] if slash_name else []) + list(names)
    if selector:
        if all_names:
            raise Invalid([FieldError("--selector", "cannot be combined with names")])
        listing = connection.client.list(plural, selector)
        return [(plural, str(item["metadata"]["name"])) for item in listing.items]
    if not all_names:
        raise click.UsageError(f"give the name of the {plural} to delete (or -l SELECTOR)")
    return [(plural, object_name(plural, name)) for name in all_names]


@click.command()
@click.argument("kind", required=False, shell_complete=complete_kind_and_names)
@click.argument("names", nargs=-1, shell_complete=complete_kind_and_names)
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    metavar="FILE|DIR|-",
    type=click.Path(allow_dash=True),
    help=FILENAME_HELP,
)
@selector_option("Delete every object of KIND that matches this label selector.")
@click.option("--ignore-not-found", is_flag=True, help="Treat a missing object as deleted.")
@click.pass_obj
def delete(
    connection: ServerConnection,
    kind: str | None,
    names: tuple[str, ...],
    paths: tuple[str, ...],
    selector: str | None,
    ignore_not_found: bool,
) -> None:
    """Delete objects by KIND and NAME, by label selector, or those a file describes.

    \b
    workflow  its pipelines and triggers go with it
    run       a finished (or not yet started) run, with its logs; cancel a running one first
    agent     an agent that is NotReady (a connected one registers again at once)
    Pipelines and triggers come from workflows: delete or change the workflow instead.
    """
    from xene.ctl.output import object_ref

    targets = _targets(connection, kind, names, paths, selector)
    if selector and not targets:
        click.echo("No resources found.", err=True)
    failed = 0
    for plural, name in targets:
        try:
            deleted = connection.client.delete(plural, name)
        except NotFound as exc:
            if ignore_not_found:
                continue
            failed += 1
            click.echo(f"error: {exc.message}", err=True)
            continue
        except Unavailable:
            raise
        except XeneError as exc:
            failed += 1
            kind = KIND_OF_PLURAL.get(plural, plural).lower()
            click.echo(f"error: cannot delete {kind} '{name}': {exc.message}", err=True)
            continue
        click.echo(f"{object_ref(deleted)} deleted")
    if failed:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
