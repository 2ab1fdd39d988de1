"""Printing objects: YAML, JSON, `kind.xene.dev/name`, and the console that decides on colour."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from xene.api.kind_names import API_GROUP, API_VERSION

if TYPE_CHECKING:  # rich and yaml are imported when first used: start-up time
    from rich.console import Console

# Green when all is well, red when not, yellow while still moving.
PHASE_STYLES: dict[str, str] = {
    "Scheduled": "green",
    "Ready": "green",
    "Ready,SchedulingDisabled": "yellow",  # cordoned: alive, but takes nothing new
    "Succeeded": "green",
    "Success": "green",
    "NotScheduled": "red",
    "NotReady": "red",
    "Failed": "red",
    "Error": "red",
    "Running": "yellow",
    "Pending": "yellow",
    "StartingUp": "yellow",
    "Waiting": "yellow",
    "Cancelled": "magenta",
    "Skipped": "dim",
}


def stdout_console() -> Console:
    """A console on the current stdout; rich decides on terminal and colour (NO_COLOR, TERM)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def object_ref(obj: Mapping[str, Any]) -> str:
    """`workflow.xene.dev/hello`: how kubectl names an object of an API group."""
    kind = str(obj.get("kind") or "object").lower()
    metadata = obj.get("metadata") or {}
    return f"{kind}.{API_GROUP}/{metadata.get('name', '')}"


def dump_yaml(obj: Any) -> str:
    """YAML in the order the server sent the fields."""
    import yaml

    # A wide line limit keeps long strings (commands, descriptions) on one line, as written.
    return yaml.safe_dump(
        obj, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 16
    )


def dump_json(obj: Any) -> str:
    """Indented JSON with a trailing newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def format_objects(obj: Any, output: Literal["yaml", "json"]) -> str:
    """One object or a List object as YAML or JSON text."""
    return dump_yaml(obj) if output == "yaml" else dump_json(obj)


def list_document(items: list[dict[str, Any]], resource_version: str | None) -> dict[str, Any]:
    """A `List` object, the form `get -o yaml|json` prints and `apply -f` reads back."""
    return {
        "apiVersion": API_VERSION,
        "kind": "List",
        "metadata": {"resourceVersion": resource_version or ""},
        "items": items,
    }


def format_names(objects: Iterable[Mapping[str, Any]]) -> str:
    """One `kind.xene.dev/name` line per object."""
    return "".join(object_ref(obj) + "\n" for obj in objects)
