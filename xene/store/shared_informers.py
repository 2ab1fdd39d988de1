"""The process's one informer per kind (and per family of raw keys), shared by every reader.

The agent streams, the cluster view and the controllers all read the same caches, so each
family is listed and watched once per process however many readers it has. An informer is
made when first asked for and runs from then on, inside `run()`'s task group (one asked for
before `run()` starts with it); the kinds only controllers read (workflows, triggers, runs)
thus start on the replica that first leads, and stay warm after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any, TypeVar

from xene.api.meta import Resource
from xene.store.commands import QueuedCommand
from xene.store.informer import Informer
from xene.store.liveness import AliveEntry
from xene.store.objects import ObjectStore
from xene.store.sources import ListWatch

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Resource)
T = TypeVar("T")


class SharedInformers:
    """Hands out the process's informers and runs them; see the module docstring."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._informers: dict[object, Informer[Any]] = {}
        self._group: asyncio.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"SharedInformers({', '.join(str(i) for i in self._informers.values())})"

    def __iter__(self) -> Iterator[Informer[Any]]:
        """Every informer handed out so far."""
        return iter(list(self._informers.values()))

    def kind(self, cls: type[R]) -> Informer[R]:
        """The informer of every object of `cls`, keyed by name."""
        return self._informer(cls, lambda: self.store.list_watch(cls))

    def liveness(self) -> Informer[AliveEntry]:
        """The informer of agents' liveness keys, keyed by agent name."""
        return self._informer("liveness", self.store.liveness.list_watch)

    def commands(self) -> Informer[QueuedCommand]:
        """The informer of every agent's queued commands, keyed `agent/id`."""
        return self._informer("commands", self.store.commands.list_watch)

    def _informer(self, family: object, source: Any) -> Informer[Any]:
        informer = self._informers.get(family)
        if informer is None:
            made: ListWatch[Any] = source()
            informer = self._informers[family] = Informer(made)
            if self._group is not None:
                self._group.create_task(informer.run(), name=f"informer {made.description}")
        return informer

    async def wait_synced(self) -> None:
        """Return once every informer handed out so far has listed its source."""
        for informer in list(self._informers.values()):
            await informer.wait_synced()

    async def run(self) -> None:
        """Run every informer, those handed out later too, until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for informer in self._informers.values():
                    group.create_task(
                        informer.run(), name=f"informer {informer.source.description}"
                    )
                await asyncio.Future()  # the informers run until this is cancelled
        finally:
            self._group = None
