"""Typed storage of API objects in etcd: CRUD with compare-and-swap, lists, resumable watches.

Layout: `{prefix}/registry/{plural}/{name}` holds one object as JSON, without its
resourceVersion, which is the key's etcd mod_revision and is filled in on every read.
Other small keys (counters, markers) live under `{prefix}/{key}` through the *_raw helpers.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import ValidationError

from xene.api.errors import (
    AlreadyExists,
    Conflict,
    FieldError,
    Invalid,
    NotFound,
    XeneError,
)
from xene.api.meta import Resource, utc_now
from xene.backoff import Backoff
from xene.store.election import Election
from xene.store.etcd import (
    Compare,
    Delete,
    DeleteResult,
    EtcdClient,
    Get,
    KeyValue,
    Put,
    RangeResult,
    TxnOp,
)
from xene.store.leases import Lease

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)

DEFAULT_PREFIX = "/xene"
MAX_NAME_LENGTH = 253
_RESERVED_RAW = ("registry/", "elections/")

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

# Full jitter: writers that collided on one key spread out instead of colliding again.
_COLLISION_BACKOFF = Backoff(0.002, 0.05, jitter=1.0)
_COUNTER_BACKOFF = Backoff(0.001, 0.02, jitter=1.0)


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[T]):
    """One change of a watched kind.

    `revision` is the etcd revision of the change; for DELETED, `object` is the last stored
    version (its resourceVersion is that version's, `revision` the deletion's).
    """

    type: EventType
    object: T
    revision: int


def _kind(cls: type[Resource]) -> str:
    return (cls.kind_name or cls.__name__).lower()


def _check_name(name: str) -> None:
    problem = None
    if not name:
        problem = "must not be empty"
    elif "/" in name:
        problem = f"'{name}' must not contain '/'"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"must be at most {MAX_NAME_LENGTH} characters (got {len(name)})"
    elif name.strip() != name or any(c.isspace() for c in name):
        problem = f"'{name}' must not contain whitespace"
    if problem:
        raise Invalid([FieldError("metadata.name", problem)])


def _comparable(obj: Resource) -> dict[str, Any]:
    data = obj.model_dump(mode="json")
    data["metadata"].pop("resourceVersion", None)
    return data


def _encode(obj: Resource) -> bytes:
    return json.dumps(_comparable(obj), separators=(",", ":"), sort_keys=True).encode()


def _spec(obj: Resource) -> Any:
    return obj.model_dump(mode="json").get("spec")


class ObjectStore:
    """Typed CRUD of API objects in etcd, with compare-and-swap updates and watches."""

    def __init__(
        self,
        client: EtcdClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], datetime] = utc_now,
        owns_client: bool = False,
    ) -> None:
        cleaned = "/" + prefix.strip("/")
        if cleaned == "/":
            raise Invalid([FieldError("prefix", "the etcd key prefix must not be empty")])
        self.client = client
        self.prefix = cleaned
        self._clock = clock
        self._owns_client = owns_client

    def __repr__(self) -> str:
        return f"ObjectStore({self.client!r}, prefix={self.prefix!r})"

    @classmethod
    async def connect(
        cls,
        endpoints: str | Sequence[str],
        *,
        prefix: str = DEFAULT_PREFIX,
        request_timeout: float = 5.0,
        check: bool = True,
    ) -> ObjectStore:
        """A store with its own client; with `check`, raises Unavailable unless etcd answers."""
        client = EtcdClient(endpoints, timeout=request_timeout)
        try:
            if check:
                await client.status()
        except BaseException:
            await client.close()
            raise
        return cls(client, prefix=prefix, owns_client=True)

    async def close(self) -> None:
        """Close the client when this store opened it."""
        if self._owns_client:
            await self.client.close()

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Raise Unavailable unless etcd serves a quorum read (for readiness checks)."""
        # A linearizable read needs the cluster's quorum; a status call would be answered by a
        # lone member that can no longer commit anything.
        await self.client.get(f"{self.prefix}/readyz")

    # -- keys -----------------------------------------------------------------------------

    def kind_prefix(self, cls: type[Resource]) -> str:
        """The etcd key prefix under which objects of `cls` are stored."""
        if not cls.plural:
            raise TypeError(f"{cls.__name__} has no `plural`: it is not a storable kind")
        return f"{self.prefix}/registry/{cls.plural}/"

    def object_key(self, cls: type[Resource], name: str) -> str:
        """The etcd key of one object."""
        _check_name(name)
        return self.kind_prefix(cls) + name

    def raw_key(self, key: str) -> str:
        """The etcd key of a raw (non-object) key given relative to the prefix."""
        if not key or key.startswith("/") or key.endswith("/"):
            raise Invalid([FieldError("key", f"'{key}' must be a relative path like 'a/b'")])
        if key.startswith(_RESERVED_RAW):
            raise Invalid([FieldError("key", f"'{key}' is in a reserved part of the keyspace")])
        return f"{self.prefix}/{key}"

    def _decode(self, cls: type[T], kv: KeyValue) -> T:
        try:
            obj = cls.model_validate_json(kv.value)
        except (ValidationError, ValueError) as exc:
            raise XeneError(
                f"stored {_kind(cls)} at {kv.key.decode(errors='replace')} cannot be read: {exc}"
            ) from exc
        obj.metadata.resourceVersion = str(kv.mod_revision)
        return obj

    def _not_found(self, cls: type[Resource], name: str) -> NotFound:
        return NotFound(f"{_kind(cls)} '{name}' not found")

    def _conflict(self, cls: type[Resource], name: str, expected: int, now: int) -> Conflict:
        return Conflict(
            f"{_kind(cls)} '{name}' was changed by someone else (you have resourceVersion "
            f"{expected}, the stored one is {now}): read it again and retry"
        )

    # -- reads ----------------------------------------------------------------------------

    async def get(self, cls: type[T], name: str) -> T:
        """The stored object; NotFound when there is none."""
        kv = await self.client.get(self.object_key(cls, name))
        if kv is None:
            raise self._not_found(cls, name)
        return self._decode(cls, kv)

    async def list(
        self,
        cls: type[T],
        *,
        label_selector: dict[str, str] | None = None,
        name_prefix: str | None = None,
    ) -> tuple[list[T], int]:
        """Objects of a kind sorted by name, and the etcd revision of the read.

        Watch from `revision + 1` to see every change after the list.
        """
        result = await self.client.get_prefix(self.kind_prefix(cls) + (name_prefix or ""))
        items: list[T] = []
        for kv in result.kvs:
            try:
                obj = self._decode(cls, kv)
            except XeneError as exc:
                log.error("skipping unreadable object: %s", exc)
                continue
            if label_selector and any(
                obj.metadata.labels.get(k) != v for k, v in label_selector.items()
            ):
                continue
            items.append(obj)
        return items, result.revision

    # -- writes ---------------------------------------------------------------------------

    async def create(self, obj: T, *, lease: int | None = None) -> T:
        """Store a new object; fills uid, creationTimestamp, generation and resourceVersion.

        AlreadyExists when the name is taken. With `lease`, the object is deleted when the lease
        ends (later updates keep the lease).
        """
        stored, absent, put = self.creation(obj, lease=lease)
        result = await self.client.transaction([absent], [put])
        if not result.succeeded:
            raise AlreadyExists(f"{_kind(type(obj))} '{obj.metadata.name}' already exists")
        stored.metadata.resourceVersion = str(result.revision)
        return stored

    def creation(self, obj: T, *, lease: int | None = None) -> tuple[T, Compare, Put]:
        """What `create` writes, for a caller's own transaction: the object to store, the
        compare that its key is free, and its put. Set resourceVersion from the revision."""
        key = self.object_key(type(obj), obj.metadata.name)
        stored = obj.model_copy(deep=True)
        meta = stored.metadata
        meta.uid = str(uuid.uuid4())
        meta.creationTimestamp = self._clock()
        meta.generation = 1
        meta.resourceVersion = None
        return stored, Compare.missing(key), Put(key, _encode(stored), lease=lease or 0)

    async def update(self, obj: T) -> T:
        """Replace an object if it is still at `obj.metadata.resourceVersion` (compare-and-swap).

        Conflict when it changed since, NotFound when it is gone, Invalid without a
        resourceVersion. Keeps uid and creationTimestamp; bumps generation only when `spec`
        changed. An update that changes nothing writes nothing and returns the stored object.
        """
        cls = type(obj)
        name = obj.metadata.name
        expected = self._expected_version(obj.metadata.resourceVersion)
        key = self.object_key(cls, name)
        current = await self.client.get(key)
        if current is None:
            raise self._not_found(cls, name)
        if current.mod_revision != expected:
            raise self._conflict(cls, name, expected, current.mod_revision)
        return await self._replace(self._decode(cls, current), obj)

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

    async def _replace(self, stored: T, obj: T, also: Sequence[TxnOp] = ()) -> T:
        """Write `obj` over `stored` if the key is still at stored's version (with `also`)."""
        cls = type(obj)
        name = obj.metadata.name
        expected = int(stored.metadata.resourceVersion or 0)
        key = self.object_key(cls, name)
        new = obj.model_copy(deep=True)
        meta = new.metadata
        meta.uid = stored.metadata.uid
        meta.creationTimestamp = stored.metadata.creationTimestamp
        generation = stored.metadata.generation or 1
        meta.generation = generation + 1 if _spec(new) != _spec(stored) else generation
        meta.resourceVersion = None
        if _comparable(new) == _comparable(stored):
            return stored
        result = await self.client.transaction(
            [Compare.mod_revision_is(key, expected)],
            [Put(key, _encode(new), ignore_lease=True), *also],
            [Get(key)],
        )
        if not result.succeeded:
            found = result.responses[0]
            assert isinstance(found, RangeResult)
            if not found.kvs:
                raise self._not_found(cls, name)
            raise self._conflict(cls, name, expected, found.kvs[0].mod_revision)
        meta.resourceVersion = str(result.revision)
        return new

    async def delete(self, cls: type[T], name: str, *, resource_version: str | None = None) -> T:
        """Delete an object and return its last stored version.

        With `resource_version`, only if it is still at that version (Conflict otherwise).
        """
        key = self.object_key(cls, name)
        if resource_version is not None:
            expected = self._expected_version(resource_version)
            compare = Compare.mod_revision_is(key, expected)
        else:
            expected = 0
            compare = Compare.exists(key)
        result = await self.client.transaction([compare], [Delete(key, prev_kv=True)], [Get(key)])
        response = result.responses[0]
        if not result.succeeded:
            assert isinstance(response, RangeResult)
            if not response.kvs:
                raise self._not_found(cls, name)
            raise self._conflict(cls, name, expected, response.kvs[0].mod_revision)
        assert isinstance(response, DeleteResult)
        return self._decode(cls, response.prev_kvs[0])

    async def mutate(
        self,
        cls: type[T],
        name: str,
        fn: Callable[[T], T | Awaitable[T | None] | None],
        *,
        attempts: int = 10,
        also: Callable[[T], Sequence[TxnOp]] | None = None,
    ) -> T:
        """Read-modify-write, retried on Conflict: `fn` gets a fresh copy each time.

        `fn` returns the object to store, or None to leave it as it is; it may be async and
        must not have side effects beyond the object, since it can run several times.
        `also(changed)` gives more writes (raw keys) to commit in the same transaction.
        """
        for attempt in range(attempts):
            kv = await self.client.get(self.object_key(cls, name))
            if kv is None:
                raise self._not_found(cls, name)
            stored = self._decode(cls, kv)
            changed = fn(stored.model_copy(deep=True))
            if inspect.isawaitable(changed):
                changed = await changed
            if changed is None:
                return stored
            if type(changed) is not cls or changed.metadata.name != name:
                raise TypeError(f"mutate must return the same {_kind(cls)} '{name}' or None")
            try:
                extra = also(changed) if also is not None else ()
                return await self._replace(stored, changed, extra)
            except Conflict:
                # Spread the retries of writers that collided so they do not collide again.
                await asyncio.sleep(_COLLISION_BACKOFF.delay(attempt))
        raise Conflict(
            f"{_kind(cls)} '{name}' kept changing under concurrent writers: "
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
        events = self.client.watch_prefix(prefix, start_revision=from_revision, prev_kv=True)
        try:
            async for event in events:
                try:
                    if event.type == "PUT":
                        kind: EventType = "ADDED" if event.kv.version == 1 else "MODIFIED"
                        yield WatchEvent(kind, self._decode(cls, event.kv), event.revision)
                    elif event.prev_kv is not None:
                        yield WatchEvent(
                            "DELETED", self._decode(cls, event.prev_kv), event.revision
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

    # -- raw keys, counters ---------------------------------------------------------------

    async def get_raw(self, key: str) -> bytes | None:
        """The value of a raw key under the prefix, or None."""
        kv = await self.client.get(self.raw_key(key))
        return kv.value if kv is not None else None

    async def put_raw(self, key: str, value: bytes | str, *, lease: int | None = None) -> int:
        """Write a raw key under the prefix; returns the etcd revision of the write."""
        result = await self.client.put(self.raw_key(key), value, lease=lease or 0)
        return result.revision

    async def delete_raw(self, key: str) -> bool:
        """Delete a raw key; True when it existed."""
        result = await self.client.delete(self.raw_key(key))
        return result.deleted > 0

    async def list_raw(self, key_prefix: str) -> tuple[dict[str, bytes], int]:
        """Raw keys starting with `key_prefix` (relative names) and the revision of the read."""
        full = f"{self.prefix}/{key_prefix}"
        if key_prefix.startswith(("/", *_RESERVED_RAW)):
            raise Invalid([FieldError("key", f"'{key_prefix}' is not a raw key prefix")])
        result = await self.client.get_prefix(full)
        strip = len(self.prefix) + 1
        return {kv.key.decode()[strip:]: kv.value for kv in result.kvs}, result.revision

    async def next_sequence(self, key: str) -> int:
        """Atomically increment the counter at raw `key` and return the new value (1 first).

        Gap-free and duplicate-free under any number of concurrent callers.
        """
        full = self.raw_key(key)
        kv = await self.client.get(full)
        for attempt in range(1000):
            if kv is None:
                current, compare = 0, Compare.missing(full)
            else:
                try:
                    current = int(kv.value)
                except ValueError:
                    raise XeneError(f"counter {full} holds {kv.value!r}, not a number") from None
                compare = Compare.mod_revision_is(full, kv.mod_revision)
            result = await self.client.transaction(
                [compare], [Put(full, str(current + 1))], [Get(full)]
            )
            if result.succeeded:
                return current + 1
            found = result.responses[0]
            assert isinstance(found, RangeResult)
            kv = found.kvs[0] if found.kvs else None
            if attempt >= 3:
                await asyncio.sleep(_COUNTER_BACKOFF.delay(attempt - 3))
        raise Conflict(f"counter {full} is too contended: gave up after 1000 attempts")

    # -- coordination ---------------------------------------------------------------------

    def lease(self, ttl: int) -> Lease:
        """A lease on this store's etcd; use it with `async with`."""
        return Lease(self.client, ttl)

    def election(self, name: str, identity: str, ttl: int = 10) -> Election:
        """A leader election named `name` under this store's prefix."""
        return Election(self.client, name, identity, ttl, prefix=self.prefix)
