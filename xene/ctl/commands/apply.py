"""`xenectl apply -f FILE|DIR|-`: create or update workflows on the server."""

from __future__ import annotations

import sys

import click

from xene.api.errors import Invalid, Unavailable, XeneError
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode
from xene.ctl.files import Document, load_documents
from xene.ctl.output import object_ref

FILENAME_HELP = "A manifest file, a directory of *.yaml/*.yml/*.json, or - for stdin. Repeatable."


def document_label(document: Document) -> str:
    """How to name a document in a message: `FILE: workflow "hello"`."""
    what = (
        f'{document.kind.lower() or "object"} "{document.name}"'
        if document.name
        else f"document {document.index + 1}"
    )
    return f"{document.source}: {what}"


def report_problems(problems: Invalid) -> None:
    """Print one `FILE: path: message` line per problem to stderr."""
    for problem in problems.errors:
        click.echo(str(problem), err=True)


def report_document_error(document: Document, exc: XeneError) -> None:
    """Print why the server refused one document, one line per field at fault."""
    label = document_label(document)
    if isinstance(exc, Invalid) and exc.errors:
        click.echo(f"error: {label} is invalid:", err=True)
        for problem in exc.errors:
            click.echo(f"  {problem}", err=True)
    else:
        click.echo(f"error: {label}: {exc.message}", err=True)


def read_documents(paths: tuple[str, ...]) -> list[Document]:
    """Every document of `paths`; on any unreadable or malformed source, report and exit 1."""
    try:
        documents = load_documents(paths, sys.stdin.buffer)
    except Invalid as exc:
        report_problems(exc)
        raise click.exceptions.Exit(ExitCode.USER_ERROR) from None
    if not documents:
        click.echo(f"error: no objects found in {', '.join(paths)}", err=True)
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
    return documents


@click.command()
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    required=True,
    metavar="FILE|DIR|-",
    help=FILENAME_HELP,
)
@click.pass_obj
def apply(connection: ServerConnection, paths: tuple[str, ...]) -> None:
    """Create or update the objects of FILE (created, configured or unchanged).

    Every file is parsed before anything is sent, so a malformed file changes nothing.
    """
    documents = read_documents(paths)
    failed = 0
    for document in documents:
        try:
            action, stored = connection.client.apply(document.body)
        except Unavailable:
            raise
        except XeneError as exc:
            failed += 1
            report_document_error(document, exc)
            continue
        click.echo(f"{object_ref(stored or document.body)} {action}")
    if failed:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
