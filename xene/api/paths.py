"""Field paths as users read them in errors: `spec.pipelines.build.tasks.test.dependencies[0]`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def join_path(prefix: str, *keys: object) -> str:
    """`prefix` extended by mapping keys (`.key`) and list indexes (`[i]`)."""
    path = prefix
    for key in keys:
        path = _join(path, key)
    return path


def _join(prefix: str, key: object) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{prefix}[{key}]"
    text = str(key)
    # Keys with dots or slashes (label keys like `xene.dev/workflow`) would read as several steps.
    if not _PLAIN_KEY.match(text):
        return f"{prefix}[{json.dumps(text)}]"
    return f"{prefix}.{text}" if prefix else text


def path_of(location: Iterable[object]) -> str:
    """The path of a location given as keys and indexes, e.g. from a pydantic error."""
    return join_path("", *location)


def path_has_prefix(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or lies under it."""
    if not prefix:
        return True
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] in ".[")
