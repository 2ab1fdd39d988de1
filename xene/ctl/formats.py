"""`-o/--output` as kubectl takes it: table, wide, yaml, json, name, jsonpath=…, custom-columns=….

Parsed when the option is read (options.py), so a malformed template is a usage error before any
request. Light on purpose (no yaml, rich or httpx).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xene.ctl.jsonpath import JsonPathError, Path, Template, parse_relaxed, parse_template

FormatKind = Literal["table", "wide", "yaml", "json", "name", "jsonpath", "custom-columns"]
PLAIN_FORMATS = ("wide", "yaml", "json", "name")
TEMPLATE_FORMATS = ("jsonpath=", "custom-columns=")


@dataclass(frozen=True)
class CustomColumn:
    """One column of `custom-columns`: its header and the path of its cells."""

    header: str
    path: Path


@dataclass(frozen=True)
class OutputFormat:
    """A parsed `-o` value."""

    kind: FormatKind = "table"
    template: Template | None = None
    columns: tuple[CustomColumn, ...] = field(default_factory=tuple)

    @property
    def is_table(self) -> bool:
        """Rows under a header: the default, wide, and custom columns."""
        return self.kind in ("table", "wide", "custom-columns")

    @property
    def is_document(self) -> bool:
        """YAML or JSON documents."""
        return self.kind in ("yaml", "json")


def parse_custom_columns(spec: str) -> tuple[CustomColumn, ...]:
    """`NAME:.metadata.name,PHASE:.status.phase` as columns; ValueError saying what is wrong."""
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header.strip() or not path.strip():
            raise ValueError(
                f"custom-columns '{part}' is not HEADER:JSONPATH "
                "(e.g. custom-columns=NAME:.metadata.name,PHASE:.status.phase)"
            )
        columns.append(CustomColumn(header.strip(), parse_relaxed(path)))
    return tuple(columns)


def parse_output(text: str | None) -> OutputFormat:
    """The OutputFormat for `-o text`; ValueError naming the accepted formats otherwise."""
    if text is None or text == "":
        return OutputFormat()
    # kubectl users write `-o=json`; click hands a short option's value over with the `=`.
    text = text.removeprefix("=")
    name, sep, argument = text.partition("=")
    try:
        if name == "jsonpath" and sep:
            return OutputFormat("jsonpath", template=parse_template(argument))
        if name == "custom-columns" and sep:
            return OutputFormat("custom-columns", columns=parse_custom_columns(argument))
    except JsonPathError as exc:
        raise ValueError(str(exc)) from None
    if text in PLAIN_FORMATS:
        return OutputFormat(text)  # type: ignore[arg-type]
    raise ValueError(
        f"'{text}' is not an output format: use one of {', '.join(PLAIN_FORMATS)}, "
        "jsonpath=TEMPLATE, custom-columns=HEADER:PATH[,...]"
    )
