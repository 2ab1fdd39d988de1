"""What a controller declares: the kinds it watches and how their changes map to its keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from xene.api.meta import Resource
from xene.store.informer import Change


@dataclass(frozen=True)
class WatchSource:
    """A kind whose changes (in the shared informer's cache) wake the controller.

    `keys_of(obj)` are the reconcile keys one object stands for; `wants(change)`, when given,
    says whether a change matters at all (a status write often does not).
    """

    kind: type[Resource]
    keys_of: Callable[[Any], Iterable[str]]
    wants: Callable[[Change[Any]], bool] | None = None


class KeySource(Protocol):
    """Keys from somewhere other than a watched kind (the cluster view's changes)."""

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """Call `enqueue(key)` for each key to reconcile, until cancelled."""
        ...


class Controller(Protocol):
    """Level-triggered: `reconcile(key)` reads desired and observed state and converges.

    It reads the shared informers' caches, not etcd, to decide; it writes through the store.
    `workers` reconciles run at once (never two of one key); every `resync_seconds` all keys
    of its watched kinds are queued again.
    """

    name: str
    resync_seconds: float
    workers: int

    @property
    def sources(self) -> Sequence[WatchSource | KeySource]: ...

    async def reconcile(self, key: str) -> None: ...


def own_name(obj: Resource) -> list[str]:
    """The key of an object is its own name."""
    return [obj.metadata.name]
