"""What a controller declares: the kinds it watches and how their events map to its keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from xene.api.meta import Resource


@dataclass(frozen=True)
class WatchSource:
    """A kind to watch and the reconcile keys one of its objects stands for."""

    kind: type[Resource]
    keys_of: Callable[[Resource], Iterable[str]]


class KeySource(Protocol):
    """Keys from somewhere other than a watched kind (an in-memory view, raw etcd keys)."""

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """Call `enqueue(key)` for each key to reconcile, until cancelled."""
        ...


class Controller(Protocol):
    """Level-triggered: `reconcile(key)` reads desired and observed state and converges."""

    name: str
    resync_seconds: float

    @property
    def sources(self) -> Sequence[WatchSource | KeySource]: ...

    async def reconcile(self, key: str) -> None: ...


def own_name(obj: Resource) -> list[str]:
    """The key of an object is its own name."""
    return [obj.metadata.name]
