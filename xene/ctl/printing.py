"""Printing what `get` and `runs` found in the chosen output format, then (watch) each change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from xene.api.meta import utc_now
from xene.ctl.formats import OutputFormat
from xene.ctl.jsonpath import Path
from xene.ctl.output import format_names, format_objects, list_document, stdout_console
from xene.ctl.tables import (
    Column,
    RowPrinter,
    columns_for,
    custom_columns,
    render_plain,
    render_rich,
    sort_objects,
    table_of,
)

Object = Mapping[str, Any]
NO_RESOURCES = "No resources found."


class ObjectPrinter:
    """Prints objects of one or more kinds in one output format."""

    def __init__(
        self,
        output: OutputFormat | None = None,
        *,
        show_labels: bool = False,
        headers: bool = True,
        sort_by: Path | None = None,
        qualified_names: bool = False,
        empty_message: str = NO_RESOURCES,
    ) -> None:
        self.output = output or OutputFormat()
        self.show_labels = show_labels
        self.headers = headers
        self.sort_by = sort_by
        self.qualified_names = qualified_names
        self.empty_message = empty_message
        self._console = stdout_console()
        self._rows: dict[str, RowPrinter] = {}
        self._printed_documents = 0

    def columns(self, kind_plural: str) -> list[Column]:
        """The table columns for objects of `kind_plural` in this output format."""
        if self.output.kind == "custom-columns":
            return custom_columns(self.output.columns)
        return columns_for(
            kind_plural,
            wide=self.output.kind == "wide",
            show_labels=self.show_labels,
            qualified=self.qualified_names,
        )

    def sorted(self, kind_plural: str, objects: Iterable[Object]) -> list[Object]:
        """Objects in display order (`--sort-by` when given)."""
        return sort_objects(kind_plural, objects, self.sort_by)

    def print_listing(
        self, groups: Sequence[tuple[str, Sequence[Object]]], resource_version: str | None = None
    ) -> None:
        """What a list found: objects grouped by kind, each group already in display order."""
        objects = [obj for _, group in groups for obj in group]
        kind = self.output.kind
        if self.output.is_document:
            body = list_document([dict(obj) for obj in objects], resource_version)
            click.echo(format_objects(body, "yaml" if kind == "yaml" else "json"), nl=False)
        elif kind == "jsonpath":
            self._render_template(list_document([dict(obj) for obj in objects], resource_version))
        elif kind == "name":
            click.echo(format_names(objects), nl=False)
        elif kind == "custom-columns":
            self._print_table(self.columns(""), objects)
        else:
            printed = False
            for kind_plural, group in groups:
                if not group:
                    continue
                if printed:
                    click.echo("")
                self._print_table(self.columns(kind_plural), group)
                printed = True
        if not objects and self.output.is_table:
            click.echo(self.empty_message, err=True)

    def print_single(self, kind_plural: str, obj: Object) -> None:
        """One object asked for by name: the object itself for documents and templates."""
        if self.output.is_document:
            self.print_changes(kind_plural, [obj])
        elif self.output.kind == "jsonpath":
            self._render_template(dict(obj))
        else:
            self.print_listing([(kind_plural, [obj])])

    def print_changes(self, kind_plural: str, objects: Iterable[Object]) -> None:
        """Objects one after another (a watch): rows with fixed widths, names, or documents."""
        kind = self.output.kind
        if self.output.is_document:
            for obj in objects:
                if kind == "yaml" and self._printed_documents:
                    click.echo("---")
                click.echo(format_objects(obj, "yaml" if kind == "yaml" else "json"), nl=False)
                self._printed_documents += 1
        elif kind == "jsonpath":
            for obj in objects:
                self._render_template(dict(obj))
                click.echo("")  # one object per line while watching
        elif kind == "name":
            click.echo(format_names(objects), nl=False)
        else:
            rows = self._rows.get(kind_plural)
            if rows is None:
                columns = self.columns(kind_plural)
                rows = self._rows[kind_plural] = RowPrinter(self._console, columns, self.headers)
            rows.print_objects(objects, utc_now())

    def _render_template(self, data: Any) -> None:
        assert self.output.template is not None
        # As kubectl: no newline is added after the template's own text.
        click.echo(self.output.template.render(data), nl=False)

    def _print_table(self, columns: Sequence[Column], objects: Sequence[Object]) -> None:
        if not objects:
            return
        table = table_of(columns, objects, utc_now())
        if self._console.is_terminal:
            render_rich(self._console, table, headers=self.headers)
        else:
            click.echo(render_plain(table, headers=self.headers), nl=False)
