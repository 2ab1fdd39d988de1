"""`xenectl delete KIND NAME...` or `delete -f FILE`: remove objects (a workflow takes its
pipelines and triggers with it)."""

from __future__ import annotations

import click

from xene.api.errors import FieldError, Invalid, NotFound, Unavailable, XeneError
from xene.api.kinds import kind_by_name
from xene.ctl.arguments import kind_and_name
from xene.ctl.commands.apply import FILENAME_HELP, read_documents
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode
from xene.ctl.output import object_ref


def _targets(
    kind: str | None, names: tuple[str, ...], paths: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(plural kind, name) of each object to delete, from arguments or from files."""
    if paths:
        if kind or names:
            raise Invalid([FieldError("-f", "give either -f FILE or KIND NAME, not both")])
        targets = []
        for document in read_documents(paths):
            if not document.name:
                raise Invalid([FieldError(document.source, "a document has no metadata.name")])
            targets.append((kind_by_name(document.kind).plural, document.name))
        return targets
    if not kind:
        raise click.UsageError("give KIND NAME or -f FILE")
    plural, slash_name = kind_and_name(kind, None)
    all_names = ([slash_name] if slash_name else []) + list(names)
    if not all_names:
        raise click.UsageError(f"give the name of the {plural} to delete")
    return [(plural, name) for name in all_names]


@click.command()
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", "paths", multiple=True, metavar="FILE|DIR|-", help=FILENAME_HELP)
@click.option("--ignore-not-found", is_flag=True, help="Treat a missing object as deleted.")
@click.pass_obj
def delete(
    connection: ServerConnection,
    kind: str | None,
    names: tuple[str, ...],
    paths: tuple[str, ...],
    ignore_not_found: bool,
) -> None:
    """Delete objects by KIND and NAME, or those a file describes."""
    failed = 0
    for plural, name in _targets(kind, names, paths):
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
            click.echo(f"error: cannot delete {plural} '{name}': {exc.message}", err=True)
            continue
        click.echo(f"{object_ref(deleted)} deleted")
    if failed:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
