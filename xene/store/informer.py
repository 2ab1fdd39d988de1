"""One list-and-watch loop for every family of keys: a local cache kept current, with handlers
told of each change in order.

An `Informer` lists its source, then watches it from the revision after the list. Each change
updates the cache and is handed to every handler (synchronously, in revision order). A broken
watch resumes from the last revision applied; a compacted one (Gone) lists again and tells the
handlers what changed while it was away, as changes. Readers (controllers, the cluster view,
agent streams) read the cache instead of etcd, and handlers only note keys for later work
(controllers/runner.py queues them). Writers may `observe` their own writes, so the cache
shows them before the watch brings them back.

The shape is client-go's informer (list, watch, cache, indexers, event handlers) and kopf's
`infinite_watch`; the per-key work queue that feeds reconciles sits with the controllers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from xene.api.errors import Gone, XeneError
from xene.backoff import Backoff
from xene.store.sources import ListWatch

log = logging.getLogger(__name__)

T = TypeVar("T")

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """One change of the cache: `old` and `new` value of `key` (None: absent)."""

    key: str
    old: T | None
    new: T | None
    revision: int

    @property
    def type(self) -> ChangeType:
        """ADDED, MODIFIED or DELETED."""
        if self.old is None:
            return "ADDED"
        return "DELETED" if self.new is None else "MODIFIED"

    @property
    def value(self) -> T:
        """The value after the change, or the last one before a deletion."""
        value = self.new if self.new is not None else self.old
        assert value is not None
        return value


Handler = Callable[[Change[T]], None]
IndexFunction = Callable[[T], Iterable[str]]


class Informer(Generic[T]):
    """A cache of one source, kept current by `run()`; see the module docstring."""

    def __init__(self, source: ListWatch[T], *, backoff: Backoff | None = None) -> None:
        self.source = source
        self.revision = 0  # every change up to this store revision is in the cache
        self._items: dict[str, T] = {}
        self._revisions: dict[str, int] = {}
        # Deletions this process observed before the watch got there: key -> revision.
        self._tombstones: dict[str, int] = {}
        self._handlers: list[Handler[T]] = []
        self._indexers: dict[str, IndexFunction[T]] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._synced = asyncio.Event()
        self._backoff = backoff or Backoff(0.2, 5.0)

    def __repr__(self) -> str:
        return f"Informer({self.source.description}, {len(self._items)} items, rev {self.revision})"

    # -- reading the cache ----------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True once the source has been listed."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the source has been listed at least once."""
        await self._synced.wait()

    def get(self, key: str) -> T | None:
        """The cached value of `key`, or None."""
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        """Every cached key, sorted."""
        return sorted(self._items)

    def values(self) -> list[T]:
        """Every cached value, by key."""
        return [self._items[key] for key in sorted(self._items)]

    def item_revision(self, key: str) -> int:
        """The store revision the cached value of `key` was written at (0 when absent)."""
        return self._revisions.get(key, 0) if key in self._items else 0

    def add_index(self, name: str, index_of: IndexFunction[T]) -> None:
        """File the values under the terms `index_of(value)` gives, for `indexed(name, term)`.

        Readers sharing the informer may each ask for an index; the first to name it defines it.
        """
        if name in self._indexers:
            return
        self._indexers[name] = index_of
        index: dict[str, set[str]] = {}
        for key, value in self._items.items():
            for term in index_of(value):
                index.setdefault(term, set()).add(key)
        self._indexes[name] = index

    def indexed(self, name: str, term: str) -> list[T]:
        """The values that index `name` files under `term`, by key."""
        keys = self._indexes[name].get(term, ())
        return [self._items[key] for key in sorted(keys)]

    # -- handlers -------------------------------------------------------------------------

    @contextlib.contextmanager
    def listening(self, handler: Handler[T], *, replay: bool = False) -> Iterator[None]:
        """Call `handler` on every change while in the block (synchronously: keep it cheap).

        With `replay`, it first hears of every cached value as ADDED.
        """
        if replay:
            for key in sorted(self._items):
                self._call(handler, Change(key, None, self._items[key], self._revisions[key]))
        self._handlers.append(handler)
        try:
            yield
        finally:
            self._handlers.remove(handler)

    async def wait_until(self, condition: Callable[[Informer[T]], bool]) -> None:
        """Return once the cache is synced and `condition(self)` holds."""
        await self.wait_synced()
        changed = asyncio.Event()
        with self.listening(lambda _: changed.set()):
            while not condition(self):
                changed.clear()
                await changed.wait()

    # -- writers' own changes -------------------------------------------------------------

    def observe(self, key: str, value: T | None, revision: int) -> None:
        """A write this process made at `revision` (None: a deletion), shown before the watch
        brings it; ignored when the cache already went past it."""
        if revision <= self.revision:
            return  # the watch delivered it, or something newer, already
        self._apply(key, value, revision)
        if value is None:
            # Changes of the key from before the deletion may still come from the watch.
            self._tombstones[key] = max(revision, self._tombstones.get(key, 0))

    # -- feeding --------------------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch and apply changes, until cancelled; resume or list again as
        needed when the watch breaks."""
        listed = False
        description = self.source.description
        while True:
            try:
                if not listed:
                    await self._relist()
                    listed = True
                    resume_from = self.revision + 1
                else:
                    # The last revision again: a transaction's changes share one revision, and
                    # one already applied is recognised and skipped.
                    resume_from = max(self.revision, 1)
                async for item in self.source.watch(resume_from):
                    self._apply(item.key, item.value, item.revision)
                    self._advance(item.revision)
                    self._backoff.reset()
                raise XeneError("the watch ended")
            except Gone:
                log.info("watch of %s fell behind compacted history; listing again", description)
                listed = False
            except XeneError as exc:
                delay = self._backoff.next_delay()
                log.warning("watch of %s broke (%s); resuming in %.1fs", description, exc, delay)
                await asyncio.sleep(delay)

    async def _relist(self) -> None:
        listing = await self.source.list()
        listed = {item.key for item in listing.items}
        for key in sorted(self._items.keys() - listed):
            # Kept when this process wrote it after the list was read.
            self._apply(key, None, listing.revision)
        for item in listing.items:
            self._apply(item.key, item.value, item.revision)
        self._advance(listing.revision)
        self._synced.set()

    def _advance(self, revision: int) -> None:
        if revision <= self.revision:
            return
        self.revision = revision
        if self._tombstones:
            self._tombstones = {k: r for k, r in self._tombstones.items() if r > revision}

    def _apply(self, key: str, value: T | None, revision: int) -> None:
        known = max(self._revisions.get(key, 0), self._tombstones.get(key, 0))
        if revision <= known:
            return  # this change, or a newer one of the key, is applied already
        old = self._items.get(key)
        if value is None:
            if old is None:
                return
            del self._items[key]
            self._revisions.pop(key, None)
        else:
            self._items[key] = value
            self._revisions[key] = revision
        self._reindex(key, old, value)
        change = Change(key, old, value, revision)
        for handler in list(self._handlers):
            self._call(handler, change)

    def _reindex(self, key: str, old: T | None, new: T | None) -> None:
        for name, index_of in self._indexers.items():
            index = self._indexes[name]
            for term in index_of(old) if old is not None else ():
                keys = index.get(term)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[term]
            for term in index_of(new) if new is not None else ():
                index.setdefault(term, set()).add(key)

    def _call(self, handler: Handler[T], change: Change[T]) -> None:
        try:
            handler(change)
        except Exception:
            log.exception(
                "handler of %s failed on %s %s", self.source.description, change.type, change.key
            )
