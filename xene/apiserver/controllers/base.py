"""What a controller declares: the kinds it watches and how their events map to its keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from xene.api.meta import Resource


@dataclass(frozen=True)
class WatchSource:
    """A kind to watch and the reconcile keys one of its objects stands for."""

    kind: type[Resource]
    keys_of: Callable[[Resource], Iterable[str]]


class Controller(Protocol):
    """Level-triggered: `reconcile(key)` reads desired and observed state and converges."""

    name: str
    sources: list[WatchSource]
    resync_seconds: float

    async def reconcile(self, key: str) -> None: ...


def own_name(obj: Resource) -> list[str]:
    """The key of an object is its own name."""
    return [obj.metadata.name]
