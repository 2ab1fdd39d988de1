"""Positional arguments shared by commands: `KIND NAME` or `KIND/NAME`."""

from __future__ import annotations

from xene.api.errors import FieldError, Invalid
from xene.api.kinds import resolve_kind


def kind_and_name(kind: str, name: str | None) -> tuple[str, str | None]:
    """The plural kind and optional name from `KIND [NAME]` or `KIND/NAME`."""
    if "/" in kind:
        kind, _, slash_name = kind.partition("/")
        if name:
            raise Invalid(
                [FieldError("", f"give the name once: '{kind}/{slash_name}' or '{kind} {name}'")]
            )
        if not slash_name:
            raise Invalid([FieldError("", f"'{kind}/' names no object")])
        name = slash_name
    return resolve_kind(kind).plural, name
