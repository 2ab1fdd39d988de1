"""etcd's key-value model in memory: what unit tests run the store, services and controllers on.

It keeps every semantic the store relies on (kv.py's `KeyValueStore`): one revision counter
bumped once per write, each key's create/mod revision and version, reads at a past revision,
transactions of compares and ops, compaction, watches from a revision with previous values,
and leases whose keys go when they are revoked or expire. Time is an injected clock, so a test
moves it on and calls `expire_leases()` instead of sleeping; every call also expires what is due.
The contract tests (tests/store_contract.py) hold it and a real etcd to the same expectations.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from xene.api.errors import FieldError, Gone, Invalid, NotFound, Unavailable, XeneError
from xene.store.kv import (
    Compare,
    Delete,
    DeleteResult,
    Get,
    KeyEvent,
    KeyValue,
    LeaseGrant,
    Put,
    PutResult,
    RangeResult,
    TxnOp,
    TxnResponse,
    TxnResult,
    prefix_range_end,
    to_bytes,
)

_FIRST_LEASE_ID = 0x1D0C_0000_0000


@dataclass(slots=True)
class _Lease:
    ttl: int
    deadline: float
    keys: set[bytes] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Range:
    start: bytes
    end: bytes  # b"" for the single key `start`; b"\0" for "to the end of the keyspace"

    @classmethod
    def of(cls, key: str | bytes, prefix: bool) -> _Range:
        start = to_bytes(key)
        return cls(start, prefix_range_end(start) if prefix else b"")

    def __contains__(self, key: bytes) -> bool:
        if not self.end:
            return key == self.start
        return key >= self.start and (self.end == b"\0" or key < self.end)


class _Watcher:
    """One open watch: the events it has not consumed yet, in revision order."""

    def __init__(self, scope: _Range, prev_kv: bool) -> None:
        self.scope = scope
        self.prev_kv = prev_kv
        self.events: asyncio.Queue[KeyEvent | XeneError] = asyncio.Queue()

    def offer(self, event: KeyEvent) -> None:
        if event.kv.key in self.scope:
            self.events.put_nowait(event if self.prev_kv else replace(event, prev_kv=None))


class MemoryKeyValueStore:
    """A `KeyValueStore` held in this process; `clock` gives monotonic seconds for leases."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._revision = 1  # etcd's revision of an empty store
        self._compacted = 0
        # Every version of every key, oldest first; None marks a deletion at that revision.
        self._history: dict[bytes, list[tuple[int, KeyValue | None]]] = {}
        self._events: list[KeyEvent] = []
        self._leases: dict[int, _Lease] = {}
        self._lease_ids = itertools.count(_FIRST_LEASE_ID)
        self._watchers: set[_Watcher] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryKeyValueStore(revision={self._revision}, keys={len(self._live())})"

    @property
    def revision(self) -> int:
        """The store's current revision."""
        return self._revision

    async def close(self) -> None:
        """Refuse further calls; open watches end with Unavailable."""
        self._closed = True
        for watcher in list(self._watchers):
            watcher.events.put_nowait(Unavailable("the in-memory store is closed"))

    # -- faults a test can cause ----------------------------------------------------------

    def break_watches(self, error: XeneError | None = None) -> None:
        """End every open watch with `error` (Unavailable by default), as a broken stream."""
        for watcher in list(self._watchers):
            watcher.events.put_nowait(error or Unavailable("the watch stream broke"))

    # -- reads ----------------------------------------------------------------------------

    async def get(self, key: str | bytes) -> KeyValue | None:
        """The key with its revisions, or None when it does not exist."""
        self._begin()
        return self._current(to_bytes(key))

    async def get_prefix(
        self, prefix: str | bytes, *, keys_only: bool = False, revision: int = 0
    ) -> RangeResult:
        """Every key starting with `prefix`, sorted by key, with the revision of the read."""
        return await self.range(prefix, prefix=True, keys_only=keys_only, revision=revision)

    async def range(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        keys_only: bool = False,
        revision: int = 0,
        count_only: bool = False,
    ) -> RangeResult:
        """The key (or every key under it with `prefix`), as of `revision` (0: now); with
        `count_only`, only how many there are."""
        self._begin()
        kvs = self._read(_Range.of(key, prefix), revision)
        if count_only:
            return RangeResult([], self._revision, len(kvs))
        if keys_only:
            kvs = [replace(kv, value=b"") for kv in kvs]
        return RangeResult(kvs, self._revision, len(kvs))

    # -- writes ---------------------------------------------------------------------------

    async def put(
        self, key: str | bytes, value: bytes | str, *, lease: int = 0, prev_kv: bool = False
    ) -> PutResult:
        """Write a key, attached to `lease` when non-zero."""
        result = await self.transaction([], [Put(key, value, lease=lease, prev_kv=prev_kv)])
        response = result.responses[0]
        assert isinstance(response, PutResult)
        return response

    async def delete(
        self, key: str | bytes, *, prefix: bool = False, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete a key, or every key under it with `prefix`."""
        result = await self.transaction([], [Delete(key, prefix=prefix, prev_kv=prev_kv)])
        response = result.responses[0]
        assert isinstance(response, DeleteResult)
        return response

    async def transaction(
        self,
        compare: Sequence[Compare],
        success: Sequence[TxnOp] = (),
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult:
        """Run `success` when every compare holds, else `failure`, atomically."""
        self._begin()
        succeeded = all(self._holds(condition) for condition in compare)
        ops = success if succeeded else failure
        self._check_ops(ops)
        revision = self._revision + 1
        events: list[KeyEvent] = []
        responses = [self._apply(op, revision, events) for op in ops]
        if events:
            self._commit(revision, events)
            responses = [_at_revision(r, revision) for r in responses]
        return TxnResult(succeeded, self._revision, responses)

    async def compact(self, revision: int, *, physical: bool = True) -> None:
        """Drop history older than `revision`; reads and watches from before it raise Gone."""
        self._begin()
        if revision > self._revision:
            raise XeneError(f"cannot compact at revision {revision}: it is a future revision")
        if revision <= self._compacted:
            raise Gone(f"revision {revision} is already compacted (up to {self._compacted})")
        self._compacted = revision
        for key, versions in list(self._history.items()):
            kept = [v for v in versions if v[0] >= revision]
            older = [v for v in versions if v[0] < revision]
            # The newest version before the compaction point is what a read there sees.
            if older and older[-1][1] is not None:
                kept.insert(0, older[-1])
            if kept:
                self._history[key] = kept
            else:
                del self._history[key]
        self._events = [e for e in self._events if e.revision >= revision]

    # -- leases ---------------------------------------------------------------------------

    async def lease_grant(self, ttl: int) -> LeaseGrant:
        """A new lease that expires `ttl` seconds (of the clock) after its last keepalive."""
        self._begin()
        if ttl < 1:
            raise Invalid([FieldError("ttl", f"a lease TTL must be at least 1 second (got {ttl})")])
        lease_id = next(self._lease_ids)
        self._leases[lease_id] = _Lease(ttl, self._clock() + ttl)
        return LeaseGrant(lease_id, ttl)

    async def lease_keepalive(self, lease_id: int) -> int:
        """Refresh a lease once; the TTL it now has, 0 when it has already expired."""
        self._begin()
        lease = self._leases.get(lease_id)
        if lease is None:
            return 0
        lease.deadline = self._clock() + lease.ttl
        return lease.ttl

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease, deleting its keys; a lease already gone is not an error."""
        self._begin()
        self._end_lease(lease_id)

    async def lease_time_to_live(self, lease_id: int) -> int:
        """Seconds left on a lease, -1 when it does not exist (expired or revoked)."""
        self._begin()
        lease = self._leases.get(lease_id)
        if lease is None:
            return -1
        return max(0, math.ceil(lease.deadline - self._clock()))

    def expire_leases(self) -> list[int]:
        """End every lease whose time is up now (deleting its keys); the ids ended."""
        now = self._clock()
        due = [lease_id for lease_id, lease in self._leases.items() if lease.deadline <= now]
        for lease_id in due:
            self._end_lease(lease_id)
        return due

    # -- watches --------------------------------------------------------------------------

    def watch_prefix(
        self,
        prefix: str | bytes,
        *,
        start_revision: int | None = None,
        prev_kv: bool = False,
    ) -> AsyncGenerator[KeyEvent, None]:
        """Every change under `prefix` from `start_revision` on (inclusive); see `watch`."""
        return self.watch(prefix, prefix=True, start_revision=start_revision, prev_kv=prev_kv)

    async def watch(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        start_revision: int | None = None,
        prev_kv: bool = False,
    ) -> AsyncGenerator[KeyEvent, None]:
        """Changes of a key (or prefix) from `start_revision` on (inclusive; None: from now)."""
        self._begin()
        scope = _Range.of(key, prefix)
        start = self._revision + 1 if start_revision is None else start_revision
        if start <= self._compacted:
            raise Gone(
                f"cannot watch {scope.start.decode(errors='replace')} from revision {start}: "
                f"history is compacted up to revision {self._compacted}"
            )
        watcher = _Watcher(scope, prev_kv)
        # Registering and replaying happen without an await in between: nothing falls between.
        self._watchers.add(watcher)
        for event in self._events:
            if event.revision >= start:
                watcher.offer(event)
        try:
            while True:
                item = await watcher.events.get()
                if isinstance(item, XeneError):
                    raise item
                yield item
        finally:
            self._watchers.discard(watcher)

    # -- inside ---------------------------------------------------------------------------

    def _begin(self) -> None:
        if self._closed:
            raise Unavailable("the in-memory store is closed")
        self.expire_leases()

    def _current(self, key: bytes) -> KeyValue | None:
        versions = self._history.get(key)
        return versions[-1][1] if versions else None

    def _live(self) -> dict[bytes, KeyValue]:
        return {key: kv for key in self._history if (kv := self._current(key)) is not None}

    def _read(self, scope: _Range, revision: int) -> list[KeyValue]:
        if revision > self._revision:
            raise XeneError(f"cannot read at revision {revision}: it is a future revision")
        if 0 < revision < self._compacted:
            raise Gone(f"revision {revision} is compacted (history starts at {self._compacted})")
        found = []
        for key in sorted(k for k in self._history if k in scope):
            kv = self._at(key, revision) if revision else self._current(key)
            if kv is not None:
                found.append(kv)
        return found

    def _at(self, key: bytes, revision: int) -> KeyValue | None:
        seen: KeyValue | None = None
        for written, kv in self._history.get(key, ()):
            if written > revision:
                break
            seen = kv
        return seen

    def _holds(self, condition: Compare) -> bool:
        kv = self._current(to_bytes(condition.key))
        if condition.target == "value":
            if kv is None:
                return False  # etcd: a value compare on a missing key never holds
            actual: int | bytes = kv.value
            operand: int | bytes = to_bytes(
                condition.operand
                if not isinstance(condition.operand, int)
                else str(condition.operand)
            )
        else:
            if not isinstance(condition.operand, int):
                raise TypeError(
                    f"a '{condition.target}' compare needs an int, got {condition.operand!r}"
                )
            fields = {
                "version": kv.version if kv else 0,
                "create": kv.create_revision if kv else 0,
                "mod": kv.mod_revision if kv else 0,
                "lease": kv.lease if kv else 0,
            }
            actual, operand = fields[condition.target], condition.operand
        match condition.op:
            case "==":
                return actual == operand
            case "!=":
                return actual != operand
            case "<":
                return actual < operand  # type: ignore[operator]
            case _:
                return actual > operand  # type: ignore[operator]

    def _check_ops(self, ops: Sequence[TxnOp]) -> None:
        """Refuse the whole transaction before writing anything, as etcd does."""
        for op in ops:
            if isinstance(op, Put):
                if op.lease and op.lease not in self._leases:
                    raise NotFound(f"etcd lease not found (expired or revoked): {op.lease:x}")
                if op.ignore_lease and self._current(to_bytes(op.key)) is None:
                    raise XeneError("etcdserver: key not found (a put that keeps the lease)")

    def _apply(self, op: TxnOp, revision: int, events: list[KeyEvent]) -> TxnResponse:
        if isinstance(op, Get):
            return RangeResult(self._read(_Range.of(op.key, op.prefix), 0), self._revision)
        if isinstance(op, Put):
            return self._put(op, revision, events)
        deleted = [
            self._current(k) for k in sorted(self._history) if k in _Range.of(op.key, op.prefix)
        ]
        gone = [kv for kv in deleted if kv is not None]
        for kv in gone:
            self._write(kv.key, None, revision)
            self._detach(kv)
            events.append(KeyEvent("DELETE", KeyValue(kv.key, b"", 0, revision, 0), kv))
        return DeleteResult(self._revision, len(gone), gone if op.prev_kv else [])

    def _put(self, op: Put, revision: int, events: list[KeyEvent]) -> PutResult:
        key = to_bytes(op.key)
        before = self._current(key)
        lease = before.lease if (op.ignore_lease and before is not None) else op.lease
        kv = KeyValue(
            key=key,
            value=to_bytes(op.value),
            create_revision=before.create_revision if before else revision,
            mod_revision=revision,
            version=before.version + 1 if before else 1,
            lease=lease,
        )
        if before is not None:
            self._detach(before)
        if lease:
            self._leases[lease].keys.add(key)
        self._write(key, kv, revision)
        events.append(KeyEvent("PUT", kv, before))
        return PutResult(self._revision, before if op.prev_kv else None)

    def _write(self, key: bytes, kv: KeyValue | None, revision: int) -> None:
        versions = self._history.setdefault(key, [])
        if versions and versions[-1][0] == revision:
            versions[-1] = (revision, kv)  # written twice in one transaction: the last counts
        else:
            versions.append((revision, kv))

    def _detach(self, kv: KeyValue) -> None:
        lease = self._leases.get(kv.lease)
        if lease is not None:
            lease.keys.discard(kv.key)

    def _commit(self, revision: int, events: list[KeyEvent]) -> None:
        self._revision = revision
        self._events.extend(events)
        for watcher in list(self._watchers):
            for event in events:
                watcher.offer(event)

    def _end_lease(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id, None)
        if lease is None or not lease.keys:
            return
        revision = self._revision + 1
        events: list[KeyEvent] = []
        for key in sorted(lease.keys):
            kv = self._current(key)
            if kv is not None:
                self._write(key, None, revision)
                events.append(KeyEvent("DELETE", KeyValue(key, b"", 0, revision, 0), kv))
        if events:
            self._commit(revision, events)

    def keys(self) -> Iterator[bytes]:
        """Every key that exists now, sorted (for tests that look at the whole store)."""
        return iter(sorted(self._live()))


def _at_revision(response: TxnResponse, revision: int) -> TxnResponse:
    """A response of a writing transaction reports the transaction's own revision."""
    return replace(response, revision=revision)
