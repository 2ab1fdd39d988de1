"""What the shell completes: kinds from the table of names, object names from the server.

A completion runs on every TAB press, so it asks the server once with a short timeout and says
nothing when that fails (a completion that prints errors breaks the user's command line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import click
from click.shell_completion import CompletionItem

from xene.api.kind_names import ALIASES, KIND_OF_PLURAL
from xene.ctl.connection import ServerConnection

COMPLETION_TIMEOUT_SECONDS = 1.0

Items = list[CompletionItem]
Completer = Callable[[click.Context, click.Parameter, str], Items]


def _connection(ctx: click.Context) -> ServerConnection:
    """The invocation's connection; while completing, the root command's callback has not run,
    so the connection is built from the global flags typed so far."""
    root = ctx.find_root()
    if isinstance(root.obj, ServerConnection):
        return root.obj
    return ServerConnection(root.params.get("server"), root.params.get("token"))


def object_names(ctx: click.Context, kind_plural: str) -> list[str]:
    """Names of the objects of a kind on the server; empty on any failure."""
    with contextlib.suppress(Exception):
        client = _connection(ctx).quick_client(COMPLETION_TIMEOUT_SECONDS)
        try:
            listing = client.list(kind_plural)
        finally:
            client.close()
        return sorted(str((item.get("metadata") or {}).get("name") or "") for item in listing.items)
    return []


def kind_words() -> list[str]:
    """Every way of writing a kind: plurals first, then singular and short forms."""
    return [*KIND_OF_PLURAL, *ALIASES]


def _plural(word: str) -> str | None:
    key = word.strip().lower()
    return key if key in KIND_OF_PLURAL else ALIASES.get(key)


def complete_kinds(ctx: click.Context, param: click.Parameter, incomplete: str) -> Items:
    """A kind, or the next kind of a comma-separated list (`wf,pl`)."""
    head, comma, last = incomplete.rpartition(",")
    prefix = head + comma
    return [CompletionItem(prefix + word) for word in kind_words() if word.startswith(last.lower())]


def _typed_words(ctx: click.Context) -> list[str]:
    """The KIND and NAME arguments typed before the word being completed."""
    words: list[str] = []
    for key in ("kind", "targets", "names"):
        value = ctx.params.get(key)
        if isinstance(value, str):
            words.append(value)
        elif isinstance(value, tuple | list):
            words.extend(item for item in value if isinstance(item, str))
    return [word for word in words if word]


def complete_kind_and_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> Items:
    """`get`/`describe`/`delete` arguments: first KIND (or KIND/NAME), then NAMEs of that kind."""
    typed = _typed_words(ctx)
    if not typed:
        if "/" in incomplete:
            kind, _, partial = incomplete.partition("/")
            plural = _plural(kind)
            if plural is None:
                return []
            names = object_names(ctx, plural)
            return [CompletionItem(f"{kind}/{n}") for n in names if n.startswith(partial)]
        return complete_kinds(ctx, param, incomplete)
    if "/" in typed[0]:
        return []
    plurals = [p for p in (_plural(word) for word in typed[0].split(",")) if p is not None]
    names = sorted({name for plural in plurals for name in object_names(ctx, plural)})
    already = set(typed[1:])
    return [CompletionItem(n) for n in names if n.startswith(incomplete) and n not in already]


def names_of(kind_plural: str) -> Completer:
    """A completer of object names of one kind."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> Items:
        names = object_names(ctx, kind_plural)
        return [CompletionItem(name) for name in names if name.startswith(incomplete)]

    return complete


def complete_pipelines(ctx: click.Context, param: click.Parameter, incomplete: str) -> Items:
    """Pipelines as `WORKFLOW/PIPELINE` (their object names are `workflow.pipeline`)."""
    refs = [name.replace(".", "/", 1) for name in object_names(ctx, "pipelines")]
    return [CompletionItem(ref) for ref in refs if ref.startswith(incomplete)]


def complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> Items:
    """Run names (`hello.build.3`), and pipelines as `WORKFLOW/PIPELINE` for the latest run."""
    runs = object_names(ctx, "pipelineruns")
    items = [CompletionItem(name) for name in runs if name.startswith(incomplete)]
    if "/" in incomplete or not items:
        items += complete_pipelines(ctx, param, incomplete)
    return items
