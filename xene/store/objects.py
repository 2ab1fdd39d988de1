"""The store: typed API objects with compare-and-swap, lists and watches, and the named
operations on every other key (liveness, commands, run numbering), over a `KeyValueStore`.

`ObjectStore.connect` puts it on etcd; `ObjectStore.in_memory` on the in-memory key-value store
that unit tests use. Either way the same code runs above the key-value layer, so objects,
transactions and named operations behave alike on both (keys.py has the layout).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from xene.api.errors import (
    AlreadyExists,
    Conflict,
    FieldError,
    Invalid,
    NotFound,
    Stale,
    XeneError,
)
from xene.api.labels import selector_matches
from xene.api.meta import Resource, utc_now
from xene.backoff import Backoff
from xene.store import codec
from xene.store.codec import kind_name
from xene.store.commands import CommandQueue
from xene.store.election import Election
from xene.store.etcd import EtcdClient
from xene.store.keys import DEFAULT_PREFIX, KeyLayout
from xene.store.kv import (
    Compare,
    Delete,
    DeleteResult,
    Get,
    KeyValueStore,
    Put,
    RangeResult,
    TxnOp,
    TxnPart,
)
from xene.store.leases import Lease
from xene.store.liveness import Liveness
from xene.store.memory import MemoryKeyValueStore
from xene.store.run_records import RunRecords
from xene.store.sources import KeyedItem, Listing

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

# Full jitter: writers that collided on one key spread out instead of colliding again.
_COLLISION_BACKOFF = Backoff(0.002, 0.05, jitter=1.0)


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[T]):
    """One change of a watched kind.

    `revision` is the etcd revision of the change; for DELETED, `object` is the last stored
    version (its resourceVersion is that version's, `revision` the deletion's).
    """

    type: EventType
    object: T
    revision: int


# The parts of a transaction that `mutate` and `delete` add to their own write.
Also = Callable[[T], Sequence[TxnPart]]


class ObjectStore:
    """Typed CRUD of API objects with compare-and-swap updates and watches; named operations
    of the store's other keys in `liveness`, `commands` and `runs`."""

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], datetime] = utc_now,
        owns_kv: bool = False,
    ) -> None:
        self.keys = KeyLayout(prefix)
        self.prefix = self.keys.prefix
        self._kv = kv
        self._clock = clock
        self._owns_kv = owns_kv
        self.liveness = Liveness(kv, self.keys)
        self.commands = CommandQueue(kv, self.keys)
        self.runs = RunRecords(kv, self.keys, clock)

    def __repr__(self) -> str:
        return f"ObjectStore({self._kv!r}, prefix={self.prefix!r})"

    @classmethod
    async def connect(
        cls,
        endpoints: str | Sequence[str],
        *,
        prefix: str = DEFAULT_PREFIX,
        request_timeout: float = 5.0,
        check: bool = True,
    ) -> ObjectStore:
        """A store on etcd with its own client; with `check`, Unavailable unless etcd answers."""
        client = EtcdClient(endpoints, timeout=request_timeout)
        try:
            if check:
                await client.status()
        except BaseException:
            await client.close()
            raise
        return cls(client, prefix=prefix, owns_kv=True)

    @classmethod
    def in_memory(
        cls,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], datetime] = utc_now,
        lease_clock: Callable[[], float] = time.monotonic,
    ) -> ObjectStore:
        """A store on a fresh in-memory key-value store (for tests); `lease_clock` (monotonic
        seconds) decides when leases expire."""
        return cls(MemoryKeyValueStore(clock=lease_clock), prefix=prefix, clock=clock, owns_kv=True)

    async def close(self) -> None:
        """Close the key-value store when this store opened it."""
        if self._owns_kv:
            await self._kv.close()

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Raise Unavailable unless etcd serves a quorum read (for readiness checks)."""
        # A linearizable read needs the cluster's quorum; a status call would be answered by a
        # lone member that can no longer commit anything.
        await self._kv.get(self.keys.readiness)

    # -- keys -----------------------------------------------------------------------------

    def kind_prefix(self, cls: type[Resource]) -> str:
        """The etcd key prefix under which objects of `cls` are stored."""
        return self.keys.kind_prefix(cls)

    def object_key(self, cls: type[Resource], name: str) -> str:
        """The etcd key of one object."""
        return self.keys.object_key(cls, name)

    def _not_found(self, cls: type[Resource], name: str) -> NotFound:
        return NotFound(f"{kind_name(cls)} '{name}' not found")

    def _conflict(self, cls: type[Resource], name: str, expected: int, now: int) -> Conflict:
        return Conflict(
            f"{kind_name(cls)} '{name}' was changed by someone else (you have resourceVersion "
            f"{expected}, the stored one is {now}): read it again and retry"
        )

    # -- reads ----------------------------------------------------------------------------

    async def get(self, cls: type[T], name: str) -> T:
        """The stored object; NotFound when there is none."""
        kv = await self._kv.get(self.object_key(cls, name))
        if kv is None:
            raise self._not_found(cls, name)
        return codec.decode(cls, kv)

    async def list(
        self,
        cls: type[T],
        *,
        label_selector: dict[str, str] | None = None,
        name_prefix: str | None = None,
        revision: int = 0,
    ) -> tuple[list[T], int]:
        """Objects of a kind sorted by name, and the etcd revision of the read.

        Watch from `revision + 1` to see every change after the list.
        """
        result = await self._kv.get_prefix(
            self.kind_prefix(cls) + (name_prefix or ""), revision=revision
        )
        items: list[T] = []
        for kv in result.kvs:
            try:
                obj = codec.decode(cls, kv)
            except XeneError as exc:
                log.error("skipping unreadable object: %s", exc)
                continue
            if not selector_matches(label_selector, obj.metadata.labels):
                continue
            items.append(obj)
        return items, result.revision

    async def count(self, cls: type[Resource]) -> tuple[int, int]:
        """How many objects of a kind are stored, and the etcd revision of the count (etcd
        counts without reading a value: a cheap check of a cache against the store)."""
        counted = await self._kv.range(self.kind_prefix(cls), prefix=True, count_only=True)
        return counted.count, counted.revision

    async def versions(self, cls: type[Resource]) -> tuple[dict[str, int], int]:
        """Name → resourceVersion of every object of a kind (keys only, no values sent), and
        the etcd revision of the read."""
        prefix = self.kind_prefix(cls)
        result = await self._kv.get_prefix(prefix, keys_only=True)
        names = {kv.key.decode()[len(prefix) :]: kv.mod_revision for kv in result.kvs}
        return names, result.revision

    # -- writes ---------------------------------------------------------------------------

    async def create(self, obj: T, *, lease: int | None = None) -> T:
        """Store a new object; fills uid, creationTimestamp, generation and resourceVersion.

        AlreadyExists when the name is taken. With `lease`, the object is deleted when the lease
        ends (later updates keep the lease).
        """
        key = self.object_key(type(obj), obj.metadata.name)
        stored = codec.prepared_for_create(obj, self._clock)
        put = Put(key, codec.encode(stored), lease=lease or 0)
        result = await self._kv.transaction([Compare.missing(key)], [put])
        if not result.succeeded:
            raise AlreadyExists(f"{kind_name(type(obj))} '{obj.metadata.name}' already exists")
        stored.metadata.resourceVersion = str(result.revision)
        return stored

    async def update(self, obj: T) -> T:
        """Replace an object if it is still at `obj.metadata.resourceVersion` (compare-and-swap).

        Conflict when it changed since, NotFound when it is gone, Invalid without a
        resourceVersion. Keeps uid and creationTimestamp; bumps generation only when `spec`
        changed. An update that changes nothing writes nothing and returns the stored object.
        """
        cls = type(obj)
        name = obj.metadata.name
        expected = self._expected_version(obj.metadata.resourceVersion)
        current = await self._kv.get(self.object_key(cls, name))
        if current is None:
            raise self._not_found(cls, name)
        if current.mod_revision != expected:
            raise self._conflict(cls, name, expected, current.mod_revision)
        return await self._replace(codec.decode(cls, current), obj)

    def _expected_version(self, resource_version: str | None) -> int:
        if resource_version is None:
            raise Invalid(
                [
                    FieldError(
                        "metadata.resourceVersion",
                        "an update must name the version it replaces: read the object first",
                    )
                ]
            )
        try:
            return int(resource_version)
        except ValueError:
            raise Invalid(
                [FieldError("metadata.resourceVersion", f"'{resource_version}' is not a number")]
            ) from None

    async def _replace(self, stored: T, obj: T, also: Sequence[TxnPart] = ()) -> T:
        """Write `obj` over `stored` if the key is still at stored's version and every part of
        `also` holds (its writes go with it)."""
        cls = type(obj)
        name = obj.metadata.name
        expected = int(stored.metadata.resourceVersion or 0)
        key = self.object_key(cls, name)
        new = obj.model_copy(deep=True)
        meta = new.metadata
        meta.uid = stored.metadata.uid
        meta.creationTimestamp = stored.metadata.creationTimestamp
        generation = stored.metadata.generation or 1
        meta.generation = (
            generation + 1 if codec.spec_of(new) != codec.spec_of(stored) else generation
        )
        meta.resourceVersion = None
        if codec.comparable(new) == codec.comparable(stored):
            return stored
        compares = [Compare.mod_revision_is(key, expected), *_compares(also)]
        result = await self._kv.transaction(
            compares, [Put(key, codec.encode(new), ignore_lease=True), *_ops(also)], [Get(key)]
        )
        if not result.succeeded:
            raise self._lost(cls, name, expected, result.responses[0])
        meta.resourceVersion = str(result.revision)
        return new

    def _lost(self, cls: type[Resource], name: str, expected: int, found: object) -> XeneError:
        """Why a conditional write of an object did not happen."""
        assert isinstance(found, RangeResult)
        if not found.kvs:
            return self._not_found(cls, name)
        if found.kvs[0].mod_revision != expected:
            return self._conflict(cls, name, expected, found.kvs[0].mod_revision)
        return Stale(f"{kind_name(cls)} '{name}' was not written: what it depends on changed")

    async def delete(
        self,
        cls: type[T],
        name: str,
        *,
        resource_version: str | None = None,
        also: Sequence[TxnPart] = (),
    ) -> T:
        """Delete an object and return its last stored version.

        With `resource_version`, only if it is still at that version (Conflict otherwise);
        `also` adds conditions and writes of named operations to the same transaction.
        """
        key = self.object_key(cls, name)
        if resource_version is not None:
            expected = self._expected_version(resource_version)
            compare = Compare.mod_revision_is(key, expected)
        else:
            expected = 0
            compare = Compare.exists(key)
        result = await self._kv.transaction(
            [compare, *_compares(also)], [Delete(key, prev_kv=True), *_ops(also)], [Get(key)]
        )
        response = result.responses[0]
        if not result.succeeded:
            assert isinstance(response, RangeResult)
            if not response.kvs or resource_version is not None:
                raise self._lost(cls, name, expected, response)
            raise Stale(f"{kind_name(cls)} '{name}' was not deleted: what it depends on changed")
        assert isinstance(response, DeleteResult)
        return codec.decode(cls, response.prev_kvs[0])

    async def mutate(
        self,
        cls: type[T],
        name: str,
        fn: Callable[[T], T | Awaitable[T | None] | None],
        *,
        attempts: int = 10,
        also: Also[T] | None = None,
    ) -> T:
        """Read-modify-write, retried on Conflict: `fn` gets a fresh copy each time.

        `fn` returns the object to store, or None to leave it as it is; it may be async and
        must not have side effects beyond the object, since it can run several times.
        `also(changed)` gives named operations' parts (conditions, writes) to commit in the
        same transaction; when a condition fails, Stale is raised without retrying.
        """
        for attempt in range(attempts):
            kv = await self._kv.get(self.object_key(cls, name))
            if kv is None:
                raise self._not_found(cls, name)
            stored = codec.decode(cls, kv)
            changed = fn(stored.model_copy(deep=True))
            if inspect.isawaitable(changed):
                changed = await changed
            if changed is None:
                return stored
            if type(changed) is not cls or changed.metadata.name != name:
                raise TypeError(f"mutate must return the same {kind_name(cls)} '{name}' or None")
            try:
                extra = also(changed) if also is not None else ()
                return await self._replace(stored, changed, extra)
            except Stale:
                raise
            except Conflict:
                await asyncio.sleep(_COLLISION_BACKOFF.delay(attempt))
        raise Conflict(
            f"{kind_name(cls)} '{name}' kept changing under concurrent writers: "
            f"gave up after {attempts} attempts"
        )

    # -- watches --------------------------------------------------------------------------

    async def watch(
        self,
        cls: type[T],
        *,
        from_revision: int,
        name_prefix: str | None = None,
    ) -> AsyncGenerator[WatchEvent[T], None]:
        """Every change of a kind from etcd revision `from_revision` on (inclusive), in order.

        After `items, rev = await store.list(cls)`, watch with `from_revision=rev + 1`.
        Survives etcd restarts and lost connections without losing or repeating events;
        raises Gone when `from_revision` has been compacted (list again). Stop it with
        `aclose()` (or `contextlib.aclosing`) or by cancelling the consuming task.
        """
        if from_revision < 1:
            raise Invalid([FieldError("from_revision", "must be at least 1")])
        prefix = self.kind_prefix(cls) + (name_prefix or "")
        events = self._kv.watch_prefix(prefix, start_revision=from_revision, prev_kv=True)
        try:
            async for event in events:
                try:
                    if event.type == "PUT":
                        kind: EventType = "ADDED" if event.kv.version == 1 else "MODIFIED"
                        yield WatchEvent(kind, codec.decode(cls, event.kv), event.revision)
                    elif event.prev_kv is not None:
                        yield WatchEvent(
                            "DELETED", codec.decode(cls, event.prev_kv), event.revision
                        )
                    else:
                        log.error(
                            "deletion of %s at revision %d came without its last value; skipped",
                            event.kv.key.decode(errors="replace"),
                            event.revision,
                        )
                except XeneError as exc:
                    log.error("skipping unreadable object in watch: %s", exc)
        finally:
            await events.aclose()

    def list_watch(self, cls: type[T]) -> KindSource[T]:
        """Objects of a kind as an informer's source (keyed by name)."""
        return KindSource(self, cls)

    # -- coordination ---------------------------------------------------------------------

    def lease(self, ttl: int) -> Lease:
        """A lease on this store's etcd; use it with `async with`."""
        return Lease(self._kv, ttl)

    def election(self, name: str, identity: str, ttl: int = 10) -> Election:
        """A leader election named `name` under this store's prefix."""
        return Election(self._kv, name, identity, ttl, prefix=self.prefix)


class KindSource(Generic[T]):
    """Objects of one kind as a list-and-watch source."""

    def __init__(self, store: ObjectStore, cls: type[T]) -> None:
        self.store = store
        self.cls = cls
        self.description = cls.plural or cls.__name__

    def __repr__(self) -> str:
        return f"KindSource({self.cls.__name__})"

    async def list(self) -> Listing[T]:
        """Every object of the kind now."""
        items, revision = await self.store.list(self.cls)
        keyed = [
            KeyedItem(obj.metadata.name, obj, int(obj.metadata.resourceVersion or 0))
            for obj in items
        ]
        return Listing(keyed, revision)

    async def watch(self, from_revision: int) -> AsyncIterator[KeyedItem[T]]:
        """Every change of the kind from `from_revision` on."""
        events = self.store.watch(self.cls, from_revision=from_revision)
        try:
            async for event in events:
                value = None if event.type == "DELETED" else event.object
                yield KeyedItem(event.object.metadata.name, value, event.revision)
        finally:
            await events.aclose()


def _compares(parts: Sequence[TxnPart]) -> list[Compare]:
    return [compare for part in parts for compare in part.compares]


def _ops(parts: Sequence[TxnPart]) -> list[TxnOp]:
    return [op for part in parts for op in part.ops]
