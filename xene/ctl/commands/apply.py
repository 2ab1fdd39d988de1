"""`xenectl apply -f FILE|DIR|-`: create or update workflows on the server."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from xene.api.errors import Invalid, Unavailable, XeneError
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode

if TYPE_CHECKING:
    from xene.ctl.files import Document

FILENAME_HELP = (
    "A manifest file, a directory of *.yaml/*.yml/*.json, or - for stdin; a List (as `get -o "
    "yaml` prints) stands for its items. Repeatable."
)


def document_label(document: Document) -> str:
    """How to name a document in a message: `FILE: workflow "hello"`."""
    if document.name:
        what = f'{document.kind.lower() or "object"} "{document.name}"'
    elif document.item is not None:
        what = f"document {document.index + 1}, items[{document.item}]"
    else:
        what = f"document {document.index + 1}"
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
    from xene.ctl.files import load_documents

    try:
        documents = load_documents(paths, sys.stdin.buffer)
    except Invalid as exc:
        report_problems(exc)
        raise click.exceptions.Exit(ExitCode.USER_ERROR) from None
    if not documents:
        click.echo(f"error: no objects found in {', '.join(paths)}", err=True)
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
    return documents


def check_locally(documents: list[Document]) -> None:
    """Validate every workflow as the server would before anything is sent: one invalid
    document leaves all of them unapplied. Report every problem and exit 1."""
    from xene.api.kind_names import KIND_OF_PLURAL, USER_WRITABLE
    from xene.api.validation import validate_object
    from xene.ctl.files import source_problems

    derived = {kind for plural, kind in KIND_OF_PLURAL.items() if plural not in USER_WRITABLE}
    problems = []
    for document in documents:
        if document.kind in derived:
            continue  # read-only: the server compares it with what it stores
        try:
            validate_object(document.body)
        except XeneError as exc:
            source = document.source
            if document.item is not None:
                source += f": items[{document.item}]"
            problems.extend(source_problems(source, exc))
    if problems:
        report_problems(Invalid(problems))
        click.echo("error: nothing was applied", err=True)
        raise click.exceptions.Exit(ExitCode.USER_ERROR)


@click.command()
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    required=True,
    metavar="FILE|DIR|-",
    type=click.Path(allow_dash=True),
    help=FILENAME_HELP,
)
@click.pass_obj
def apply(connection: ServerConnection, paths: tuple[str, ...]) -> None:
    """Create or update the objects of FILE (created, configured or unchanged).

    Every file is parsed and every workflow validated before anything is sent, so a
    malformed or invalid document changes nothing.
    Objects the server derives (pipelines, triggers, agents, runs) are read-only; applied
    exactly as stored they are `unchanged`, so `xenectl get wf,pl -o yaml | xenectl apply -f -`
    round-trips.
    """
    from xene.ctl.output import object_ref

    documents = read_documents(paths)
    check_locally(documents)
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
