"""`xenectl validate -f FILE|DIR|-`: check workflow files offline, without a server."""

from __future__ import annotations

import sys

import click

from xene.api.errors import Invalid, XeneError
from xene.api.meta import Resource
from xene.api.validation import validate_object
from xene.api.workflow import Workflow
from xene.ctl.commands.apply import FILENAME_HELP, report_problems
from xene.ctl.errors import ExitCode
from xene.ctl.files import (
    STDIN_NAME,
    expand_paths,
    parse_source,
    read_source,
    source_problems,
)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def valid_summary(resource: Resource) -> str:
    """`workflow 'hello' is valid (2 pipelines, 3 tasks, 2 triggers)`."""
    text = f"{resource.kind_name.lower() or resource.kind.lower()} '{resource.name}' is valid"
    if isinstance(resource, Workflow):
        pipelines = resource.spec.pipelines
        tasks = sum(len(pipeline.tasks) for pipeline in pipelines.values())
        counts = [
            _plural(len(pipelines), "pipeline"),
            _plural(tasks, "task"),
            _plural(len(resource.spec.triggers), "trigger"),
        ]
        text += f" ({', '.join(counts)})"
    return text


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
def validate(paths: tuple[str, ...]) -> None:
    """Check workflow files the way the server would, without contacting it.

    Prints `FILE: path: message` for each problem and exits 1, or one line per valid object.
    """
    try:
        files = expand_paths(paths)
    except Invalid as exc:
        report_problems(exc)
        raise click.exceptions.Exit(ExitCode.USER_ERROR) from None
    stdin = sys.stdin.buffer
    all_valid = True
    for path in files:
        source_name = STDIN_NAME if path == "-" else path
        try:
            documents = parse_source(read_source(path, stdin))
        except XeneError as exc:
            all_valid = False
            report_problems(Invalid(source_problems(source_name, exc)))
            continue
        if not documents:
            all_valid = False
            click.echo(f"{source_name}: holds no documents", err=True)
        for document in documents:
            try:
                resource = validate_object(document.body)
            except XeneError as exc:
                all_valid = False
                report_problems(Invalid(source_problems(source_name, exc)))
                continue
            click.echo(f"{source_name}: {valid_summary(resource)}")
    if not all_valid:
        raise click.exceptions.Exit(ExitCode.USER_ERROR)
