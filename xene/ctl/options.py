"""Options shared by commands (`-o`, `-l`, `--sort-by`), parsed and completed by click.

A value is parsed when the option is read, so a malformed one is a usage error (exit 1) before
any request. Light on purpose: click builds these for `--help` and shell completion, so the
selector grammar is imported only when a selector is given.
"""

from __future__ import annotations

import math
from typing import Any

import click
from click.shell_completion import CompletionItem

from xene.api.errors import Invalid
from xene.ctl.formats import PLAIN_FORMATS, TEMPLATE_FORMATS, OutputFormat, parse_output
from xene.ctl.jsonpath import JsonPathError, Path, parse_relaxed

OUTPUT_HELP = (
    "Output format: wide, yaml, json, name, jsonpath=TEMPLATE, "
    "custom-columns=HEADER:PATH[,...] [a table]."
)
SELECTOR_HELP = (
    "Label selector, as in Kubernetes: k=v, k==v, k!=v, 'k in (a,b)', 'k notin (a)', k, !k; "
    "commas join requirements (AND)."
)


class OutputParam(click.ParamType):
    """`-o FORMAT`: parsed into an OutputFormat; completes the format names."""

    name = "FORMAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, OutputFormat):
            return value
        try:
            return parse_output(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        choices = [*PLAIN_FORMATS, *TEMPLATE_FORMATS]
        return [CompletionItem(choice) for choice in choices if choice.startswith(incomplete)]


class SelectorParam(click.ParamType):
    """`-l SELECTOR`: checked against the Kubernetes grammar, passed on in canonical form."""

    name = "SELECTOR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from xene.api.selectors import parse_selector

        try:
            return str(parse_selector(str(value), "--selector"))
        except Invalid as exc:
            self.fail(exc.errors[0].message if exc.errors else exc.message, param, ctx)


class JsonPathParam(click.ParamType):
    """`--sort-by PATH`: a relaxed JSONPath such as `.status.startedAt`."""

    name = "JSONPATH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path):
            return value
        try:
            return parse_relaxed(str(value))
        except JsonPathError as exc:
            self.fail(str(exc), param, ctx)


class DurationParam(click.ParamType):
    """A duration such as `30s`, `5m`, `1h30m`, as whole seconds (at least 1)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        from xene.api.durations import parse_duration

        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if seconds <= 0:
            self.fail(f"'{value}' must be longer than 0s", param, ctx)
        return max(1, math.ceil(seconds))


def output_option(help_text: str = OUTPUT_HELP) -> Any:
    """`-o/--output FORMAT`."""
    return click.option("-o", "--output", type=OutputParam(), metavar="FORMAT", help=help_text)


def selector_option(help_text: str = SELECTOR_HELP) -> Any:
    """`-l/--selector SELECTOR`."""
    return click.option(
        "-l", "--selector", type=SelectorParam(), metavar="SELECTOR", help=help_text
    )


def sort_by_option() -> Any:
    """`--sort-by JSONPATH`."""
    return click.option(
        "--sort-by",
        type=JsonPathParam(),
        metavar="JSONPATH",
        help="Sort by this field, e.g. .metadata.creationTimestamp or .spec.number.",
    )


def show_labels_option() -> Any:
    """`--show-labels`."""
    return click.option("--show-labels", is_flag=True, help="Add a LABELS column.")


def no_headers_option() -> Any:
    """`--no-headers`."""
    return click.option("--no-headers", is_flag=True, help="Print tables without their header.")
