"""Positional arguments shared by commands: `KIND NAME`, `KIND/NAME`, and kubectl's lists of both.

Kinds resolve from the table of kind names alone (no models), so parsing stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from xene.api.errors import FieldError, Invalid
from xene.api.kind_names import resolve_plural


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
    return resolve_plural(kind), name


@dataclass(frozen=True)
class Targets:
    """What `get` (or `delete`) was asked for: whole kinds, or named objects."""

    kinds: tuple[str, ...]
    objects: tuple[tuple[str, str], ...] = ()

    @property
    def named(self) -> bool:
        """True when objects were named (no listing of whole kinds)."""
        return bool(self.objects)


def parse_targets(arguments: tuple[str, ...] | list[str]) -> Targets:
    """kubectl's forms: `KIND[,KIND…] [NAME…]` or `KIND/NAME [KIND/NAME…]`."""
    if not arguments:
        raise Invalid(
            [FieldError("KIND", "give a kind, e.g. workflows, pipelines, triggers, agents, runs")]
        )
    if any("/" in argument for argument in arguments):
        objects = []
        for argument in arguments:
            if "/" not in argument:
                raise Invalid(
                    [
                        FieldError(
                            "",
                            f"'{argument}': once one argument is KIND/NAME, every one must be "
                            "(or give KIND NAME... without slashes)",
                        )
                    ]
                )
            plural, name = kind_and_name(argument, None)
            assert name is not None
            objects.append((plural, name))
        kinds = tuple(dict.fromkeys(plural for plural, _ in objects))
        return Targets(kinds, tuple(objects))
    words = [word for word in arguments[0].split(",")]
    if any(not word.strip() for word in words):
        raise Invalid([FieldError("KIND", f"'{arguments[0]}' has an empty kind between commas")])
    kinds = tuple(dict.fromkeys(resolve_plural(word) for word in words))
    names = arguments[1:]
    return Targets(kinds, tuple((plural, name) for plural in kinds for name in names))


def object_name(kind_plural: str, name: str) -> str:
    """The object name for `name`; a run may also be written as elsewhere (hello/build/3)."""
    if kind_plural == "pipelineruns" and "/" in name:
        from xene.ctl.runs import parse_run

        ref, number = parse_run(name)
        if number is None:
            raise Invalid([FieldError("NAME", f"'{name}' names a pipeline, not one of its runs")])
        return ref.run_name(number)
    return name
